"""A firm can ship the product: an OSI licence, and no strong-copyleft runtime dependency."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tests.licences import NOTICE, runtime_dependencies

STRONG_COPYLEFT = re.compile(r"\b(A?GPL|GNU (Affero )?General Public)", re.IGNORECASE)


def test_no_runtime_dependency_is_under_a_strong_copyleft_licence() -> None:
    dependencies = runtime_dependencies()
    assert "inscriptis" in dependencies and "html2text" not in dependencies
    copyleft = {name: lic for name, (_, lic) in dependencies.items()
                if STRONG_COPYLEFT.search(lic) and not re.search(r"\bLGPL|Lesser", lic)}
    assert copyleft == {}


def test_notice_names_every_direct_dependency_and_the_licence_file_is_there() -> None:
    project = tomllib.loads((Path(NOTICE).parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = {line.split(" — ")[0] for line in NOTICE.read_text(encoding="utf-8").splitlines() if " — " in line}
    direct = {re.sub(r"[-_.]+", "-", Requirement(line).name).lower() for line in project["dependencies"]}
    assert direct - listed == set(), "run `python -m tests.licences` to refresh NOTICE"
    assert "Apache License" in (Path(NOTICE).parent / "LICENSE").read_text(encoding="utf-8")
    assert project["license"] == "Apache-2.0"
