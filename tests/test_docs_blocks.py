"""Every ``python`` code block of the README and of docs/ runs as written.

The data guides name their inputs as a user has them (``mbo.csv``, a LOBSTER zip); the test
runs them in a temp dir where those names link to the shared samples (``../shared/data``
next to the repo, or ``$HFTBOOK_SHARED_DATA``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _blocks(path: Path, must_contain: str = "") -> list[str]:
    return [b for b in _BLOCK.findall(path.read_text(encoding="utf-8")) if must_contain in b]


#: The files the data guides name, and the shared samples they stand for.
_SAMPLES = {
    "mbo.csv": "databento_arl/mbo.csv",
    "mbp.csv": "databento_arl/mbp.csv",
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip": (
        "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
    ),
}


def _shared_data() -> Path:
    root = os.environ.get("HFTBOOK_SHARED_DATA")
    return Path(root) if root else ROOT.parent / "shared" / "data"


def test_every_doc_with_python_is_covered() -> None:
    docs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md") if _blocks(p)}
    assert docs <= set(DOCS), f"docs with python blocks not run by this test: {docs - set(DOCS)}"


DOCS = [
    "README.md",
    "docs/engine.md",
    "docs/feed.md",
    "docs/journal.md",
    "docs/mbo_itch.md",
    "docs/profiling.md",
    "docs/replay.md",
    "docs/strategies.md",
]


@pytest.mark.parametrize("doc", DOCS)
def test_examples_run(doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Examples write files (run.html, run.png ...): into a temp dir, not the checkout.
    monkeypatch.chdir(tmp_path)
    data = _shared_data()
    for name, rel in _SAMPLES.items():
        src = data / rel
        if not src.is_file():
            pytest.fail(f"shared sample {src} not found (set HFTBOOK_SHARED_DATA)")
        (tmp_path / name).symlink_to(src)
    # Blocks written as a console session (">>>") show error output and are not scripts.
    blocks = [b for b in _blocks(ROOT / doc) if not b.lstrip().startswith(">>>")]
    assert blocks, f"{doc} has no example"
    namespace: dict[str, object] = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{doc} block {i}", "exec"), namespace)
