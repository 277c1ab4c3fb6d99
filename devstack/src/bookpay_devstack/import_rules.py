"""The import rule: a service never imports another service; the shared library imports no
service. (devstack and tests may import anything.) Exit status 1 lists the offending imports."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

from bookpay_devstack.config import find_repo_root

SERVICE_PACKAGES = ("booking_service", "charge_service", "link_service", "notification_service")


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def violations(root: Path) -> list[str]:
    found = []
    sources = {
        pkg: root / "services" / pkg.replace("_", "-") / "src" / pkg for pkg in SERVICE_PACKAGES
    }
    sources["bookpay_shared"] = root / "shared" / "src" / "bookpay_shared"
    for owner, folder in sources.items():
        forbidden = {p for p in SERVICE_PACKAGES if p != owner}
        for path in sorted(folder.rglob("*.py")):
            for line, module in imported_modules(path):
                if module.split(".")[0] in forbidden:
                    found.append(f"{path.relative_to(root)}:{line}: {owner} imports {module}")
    return found


def main() -> int:
    problems = violations(find_repo_root())
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
