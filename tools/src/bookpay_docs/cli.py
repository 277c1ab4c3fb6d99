"""The command line shared by the generators of docs/ (`--write DIR` or `--check DIR`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def docs_cli(
    *,
    prog: str,
    description: str,
    write_files: Callable[[Path], list[Path]],
    stale_files: Callable[[Path], list[str]],
    regenerate: str,
    argv: Sequence[str] | None = None,
) -> int:
    """Write the generated files, or exit 1 naming those that are out of date."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, metavar="DIR", help="write the documents into DIR")
    mode.add_argument("--check", type=Path, metavar="DIR", help="exit 1 if DIR's are stale")
    args = parser.parse_args(argv)
    if args.write is not None:
        for path in write_files(args.write):
            print(f"wrote {path}")
        return 0
    stale = stale_files(args.check)
    for name in stale:
        print(f"{args.check / name} is out of date: run `{regenerate}`", file=sys.stderr)
    return 1 if stale else 0
