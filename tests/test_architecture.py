"""The layering the README draws, checked on every run: dependencies point inwards.

* The core (`connector/`) owns its ports and imports no provider, no emulator and no provider SDK —
  except the composition root, `connector/app/assembly.py`, which registers the adapters.
* A provider adapter (`providers/<name>/`) imports from the core only the ports, the envelope, the
  errors, the MIME parser and its settings, and nothing of another provider or of the emulators.
* The emulators are tooling: nothing in the product imports them.
* Rooms stay small: no product module over 400 lines, no function over 60.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = "connector/app/assembly.py"
SDKS = ("msal", "msgraph", "msgraph_core", "kiota_abstractions", "kiota_http", "azure", "google", "googleapiclient",
        "google_auth_oauthlib", "jwt", "oauthlib")
CORE_FOR_PROVIDERS = ("connector.ports", "connector.mail.envelope", "connector.errors", "connector.mail.mime",
                      "connector.config")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imports(path: Path) -> Iterator[str]:
    """Every module name ``path`` imports, at any depth (lazy imports inside functions included)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            yield str(node.args[0].value)


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", _modules("connector"), ids=_relative)
def test_the_core_imports_no_provider_sdk_or_emulator(path: Path) -> None:
    if _relative(path) == COMPOSITION_ROOT:
        return
    wrong = [name for name in _imports(path) if _top(name) in (*SDKS, "providers", "emulators", "tests", "bench")]
    assert not wrong, f"{_relative(path)} imports {wrong}: the core reaches providers only through connector.ports"


def test_the_composition_root_reaches_providers_only_through_its_registry() -> None:
    names = [name for name in _imports(ROOT / COMPOSITION_ROOT) if _top(name) in (*SDKS, "providers", "emulators")]
    assert names == [], f"{COMPOSITION_ROOT} imports {names} directly; adapters are named in PROVIDERS"


@pytest.mark.parametrize("path", _modules("providers"), ids=_relative)
def test_an_adapter_imports_only_the_ports_envelope_errors_mime_and_settings_of_the_core(path: Path) -> None:
    own = _relative(path).split("/")[1] if path.parent != ROOT / "providers" else ""
    for name in _imports(path):
        if _top(name) == "connector":
            assert name.startswith(CORE_FOR_PROVIDERS), f"{_relative(path)} imports {name}"
        elif _top(name) == "providers":
            assert name.split(".")[1:2] == [own], f"{_relative(path)} imports another provider: {name}"
        else:
            assert _top(name) not in ("emulators", "tests", "bench"), f"{_relative(path)} imports {name}"


def test_a_new_provider_is_one_folder_and_one_registry_line() -> None:
    from connector.app.assembly import PROVIDERS

    folders = sorted(p.name for p in (ROOT / "providers").iterdir() if (p / "adapter.py").exists())
    assert sorted(PROVIDERS) == folders
    for module_name in PROVIDERS.values():
        module = __import__(module_name, fromlist=["build"])
        assert all(callable(getattr(module, hook, None)) for hook in ("build", "consent_flow", "sign_in"))


@pytest.mark.parametrize("path", [*_modules("connector"), *_modules("providers")], ids=_relative)
def test_rooms_stay_small(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{_relative(path)} is over {MAX_MODULE_LINES} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{_relative(path)}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_product_declares_no_emulator_dependency() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert not any(dep.lower().startswith("pyjwt") for dep in project["project"]["dependencies"])
