"""The results database (SQLite by default, any SQLAlchemy URL) and the leaderboard."""

from brainlike.results.database import ENV_VAR, ResultsDB, default_url
from brainlike.results.leaderboard import (
    Cell,
    Column,
    Leaderboard,
    LeaderboardRow,
    benchmark_id,
    leaderboard,
    render_table,
)

__all__ = [
    "ENV_VAR",
    "Cell",
    "Column",
    "Leaderboard",
    "LeaderboardRow",
    "ResultsDB",
    "benchmark_id",
    "default_url",
    "leaderboard",
    "render_table",
]
