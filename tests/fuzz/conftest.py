"""Property-based (hypothesis) tests of the doors where users' files come in.

The property of every test here: a generated input either loads, or is refused with the
project's own error raised by brainlike's code (not a library's exception escaping) whose
message is non-empty, and the files that were there before are byte-identical after.
Under CI (``CI=true``) the examples are derandomised so a run is reproducible.
"""

from __future__ import annotations

import hashlib
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "brainlike-fuzz",
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() in ("1", "true", "yes"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
settings.load_profile("brainlike-fuzz")


def _from_brainlike(err: BaseException) -> bool:
    """Whether ``err`` was raised by brainlike's own code (its last frame is in the package)."""
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and f"{os.sep}brainlike{os.sep}" in frames[-1].filename


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def check_door(
    call: Callable[[], Any],
    errors: tuple[type[BaseException], ...],
    folder: Path | None = None,
    *,
    one_line: bool = True,
) -> Any:
    """Run ``call``; it returns, or raises one of ``errors`` from brainlike's code with a
    message (on one line when ``one_line``). Files under ``folder`` are left unchanged.

    Returns the call's result, or the error it raised.
    """
    before = _digests(folder) if folder is not None else None
    try:
        out = call()
    except errors as err:
        assert _from_brainlike(err), (
            f"{type(err).__name__} escaped from a library, not raised by brainlike: {err}\n"
            + "".join(traceback.format_exception(err))
        )
        message = str(err).strip()
        assert message, f"{type(err).__name__} with an empty message"
        if one_line:
            assert "\n" not in message, f"message is not one line: {message!r}"
        out = err
    if folder is not None:
        assert _digests(folder) == before, "a file that existed before was changed"
    return out


@pytest.fixture(scope="session")
def door() -> Callable[..., Any]:
    """:func:`check_door`, for the property-based tests."""
    return check_door
