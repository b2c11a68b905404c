"""``python -m brainlike.cli``: the ``brainlike`` command."""

from brainlike.cli import main

main()
