"""The package's shape: the CLI has no import cycle, and the optional peer drivers of
``hftbook bench`` stay out of ``import hftbook`` and the command line."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import hftbook

PACKAGE = Path(hftbook.__file__).parent
PEERS = "hftbook.bench.peers"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def _imports(path: Path) -> set[str]:
    """The hftbook modules ``path`` imports anywhere (also lazily inside functions), except
    in its ``if __name__ == "__main__":`` block."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = [n for n in tree.body if not _is_main_guard(n)]
    out: set[str] = set()
    for node in (n for top in body for n in ast.walk(top)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    # `from hftbook.cli._base import Command` names hftbook.cli._base.Command: keep modules
    return {m for m in out if m in MODULES or m == "hftbook._core"}


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_cli(name: str) -> bool:
    return name == "hftbook.cli" or name.startswith("hftbook.cli.")


@pytest.mark.parametrize("name", [m for m in MODULES if not _is_cli(m) and m != "hftbook.__main__"])
def test_library_modules_do_not_import_the_cli(name: str) -> None:
    assert not {m for m in _imports(MODULES[name]) if _is_cli(m)}


@pytest.mark.parametrize(
    "name", [m for m in MODULES if _is_cli(m) and m not in ("hftbook.cli", "hftbook.cli.__main__")]
)
def test_subcommand_modules_import_only_the_base_of_the_cli(name: str) -> None:
    imported = _imports(MODULES[name])
    if name == "hftbook.cli._base":
        assert not imported  # the base imports no hftbook module at all
    else:
        assert {m for m in imported if _is_cli(m)} == {"hftbook.cli._base"}


def test_no_module_getattr_or_late_imports_in_the_cli() -> None:
    for name, path in MODULES.items():
        if not _is_cli(name):
            continue
        text = path.read_text(encoding="utf-8")
        assert "def __getattr__" not in text, name
        assert "noqa: E402" not in text, name


def _fresh_modules(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; the hftbook modules it imported."""
    show = "print(json.dumps(sorted(m for m in sys.modules if m.startswith('hftbook'))))"
    probe = f"{code}\nimport json, sys\n{show}"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    mods: list[str] = json.loads(out.strip().splitlines()[-1])
    return mods


@pytest.mark.parametrize(
    "code",
    [
        "import hftbook",
        "import hftbook.cli",
        "import hftbook.bench",
        "from hftbook.cli import main; main(['--help'])",
        "from hftbook.cli import main; main(['bench', '--help'])",
        "from hftbook.cli import main; main(['bench', '--rows', 'hftbook', '--ops', '200', "
        "'--reps', '1', '--no-memory', '--no-progress'])",
    ],
)
def test_peer_drivers_are_not_imported_unless_a_peer_row_runs(code: str) -> None:
    mods = _fresh_modules(code)
    assert PEERS not in mods
    assert "hftbook._core" in mods


def test_a_peer_row_imports_the_peer_drivers() -> None:
    assert PEERS in _fresh_modules("import hftbook.bench as b; b.driver('order-book')")
