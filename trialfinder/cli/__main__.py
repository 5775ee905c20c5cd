"""``python -m trialfinder.cli``."""

from . import cli

cli()
