"""The code examples in the README, docs/engine.md and docs/journal.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _blocks(path: Path, must_contain: str = "") -> list[str]:
    return [b for b in _BLOCK.findall(path.read_text(encoding="utf-8")) if must_contain in b]


@pytest.mark.parametrize("doc", ["docs/engine.md", "docs/journal.md", "README.md"])
def test_examples_run(doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Examples write files (run.html, run.png ...): into a temp dir, not the checkout.
    monkeypatch.chdir(tmp_path)
    # Blocks written as a console session (">>>") show error output and are not scripts.
    blocks = [b for b in _blocks(ROOT / doc) if not b.lstrip().startswith(">>>")]
    assert blocks, f"{doc} has no example"
    namespace: dict[str, object] = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{doc} block {i}", "exec"), namespace)
