"""Where the commands print: a rich console as wide as the terminal, or wide enough for whole
rows when the output goes to a file or a pipe (rich would otherwise assume 80 columns and cut
topic and group names short)."""

from __future__ import annotations

import sys

from rich.console import Console

PIPED_WIDTH = 160


def console() -> Console:
    if sys.stdout.isatty():
        return Console()
    return Console(width=PIPED_WIDTH)
