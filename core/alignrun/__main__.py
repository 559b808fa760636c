"""``python -m alignrun`` is the ``alignrun`` command."""

from alignrun.cli import main

main()
