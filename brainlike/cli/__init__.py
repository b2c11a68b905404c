"""The ``brainlike`` command. Thin: it parses, validates, calls the library, prints.

One module per command group: :mod:`~brainlike.cli.training` (``train``, ``compare``,
``demo``), :mod:`~brainlike.cli.topography` (``topo``, ``report``),
:mod:`~brainlike.cli.inventory` (``models``, ``configs``, ``cache``),
:mod:`~brainlike.cli.scoring` (``score``, ``simulate``, ``leaderboard``),
:mod:`~brainlike.cli.ceilings` (``ceiling``, ``recording allen``),
:mod:`~brainlike.cli.transfer` (``transfer``),
:mod:`~brainlike.cli.suites` (``search``, ``pareto``, ``experiment``),
:mod:`~brainlike.cli.synapses` (``synapses``), :mod:`~brainlike.cli.spatial`
(``spatial``) and :mod:`~brainlike.cli.identify`
(``identify build``, ``identify fit``); the Typer app, the
options several commands share and the printing of refusals are in
:mod:`~brainlike.cli.application`. Heavy libraries (torch, matplotlib, scikit-learn) are
imported inside the commands so that ``brainlike --help`` answers at once.
"""

# (the private helpers are imported "as" themselves: tests import them from brainlike.cli)
from brainlike.cli.application import _console as _console
from brainlike.cli.application import _fail as _fail
from brainlike.cli.application import _known_errors as _known_errors
from brainlike.cli.application import app, main
from brainlike.cli.ceilings import ceiling, recording_app
from brainlike.cli.identify import identify_app, identify_build, identify_fit
from brainlike.cli.inventory import (
    cache_app,
    cache_clear,
    cache_info,
    configs,
    models,
    shipped_recipes,
)
from brainlike.cli.scoring import leaderboard, score, simulate
from brainlike.cli.spatial import spatial
from brainlike.cli.suites import experiment, pareto, search
from brainlike.cli.synapses import synapses
from brainlike.cli.topography import report, topo
from brainlike.cli.training import _print_comparison as _print_comparison
from brainlike.cli.training import _print_summary as _print_summary
from brainlike.cli.training import compare, demo, train
from brainlike.cli.transfer import transfer

__all__ = [
    "app",
    "cache_app",
    "cache_clear",
    "cache_info",
    "ceiling",
    "compare",
    "configs",
    "demo",
    "experiment",
    "identify_app",
    "identify_build",
    "identify_fit",
    "leaderboard",
    "main",
    "models",
    "pareto",
    "recording_app",
    "report",
    "score",
    "search",
    "shipped_recipes",
    "simulate",
    "spatial",
    "synapses",
    "topo",
    "train",
    "transfer",
]

# The commands in the order `brainlike --help` lists them.
for _command in (
    train,
    topo,
    report,
    models,
    configs,
    compare,
    demo,
    score,
    transfer,
    simulate,
    ceiling,
    leaderboard,
    search,
    pareto,
    experiment,
    synapses,
    spatial,
):
    app.command()(_command)
app.add_typer(cache_app, name="cache")
app.add_typer(identify_app, name="identify")
app.add_typer(recording_app, name="recording")
