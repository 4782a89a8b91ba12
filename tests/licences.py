"""The runtime dependencies of the product wheel and their licences, as installed.

`python -m tests.licences` rewrites NOTICE; tests/test_licences.py checks NOTICE is current and that no
runtime dependency is under a strong copyleft licence (GPL, AGPL): the product is embedded in commercial
software. Weak copyleft used as a separate library (LGPL psycopg, MPL certifi) is listed, not refused.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from pathlib import Path

from packaging.requirements import Requirement

NOTICE = Path(__file__).resolve().parent.parent / "NOTICE"
HEADER = ("bcc-capture\nCopyright 2026 the bcc-capture authors. Licensed under the Apache License, Version 2.0 "
          "(LICENSE).\n\nIt runs with these third-party packages (runtime dependencies of the wheel, with their "
          "own licences):\n\n")


def licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    if meta.get("License-Expression"):
        return str(meta["License-Expression"])
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return " / ".join(classifiers)
    text = (meta.get("License") or "").strip().splitlines()
    return text[0][:80] if text else "unknown"


def runtime_dependencies(root: str = "bcc-capture") -> dict[str, tuple[str, str]]:
    """name → (version, licence) for every package the product needs at run time, transitively."""
    found: dict[str, tuple[str, str]] = {}

    def visit(name: str) -> None:
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            return
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return
        found[key] = (dist.version, licence(dist))
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                visit(requirement.name)

    visit(root)
    found.pop(root, None)
    return dict(sorted(found.items()))


def notice_text() -> str:
    return HEADER + "".join(f"{name} — {lic}\n" for name, (_, lic) in runtime_dependencies().items())


if __name__ == "__main__":
    NOTICE.write_text(notice_text(), encoding="utf-8")
    print(f"wrote {NOTICE}")
