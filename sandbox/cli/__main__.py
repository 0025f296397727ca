"""``python -m sandbox.cli``: the same as the ``sandbox`` command."""

from sandbox.cli.main import main

main()
