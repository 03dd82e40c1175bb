"""The allocator settings hftbook makes before its extension loads (docs/architecture.md)."""

from __future__ import annotations

import os
import subprocess
import sys

SHOW = (
    "import os, hftbook; "
    "print(os.environ['MIMALLOC_ARENA_EAGER_COMMIT'], os.environ['MIMALLOC_PURGE_DECOMMITS'])"
)


def _run(extra_env: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    env.update(extra_env)
    out = subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_defaults_commit_on_demand_and_purge_with_madv_free() -> None:
    # Eager arena commit shows as ~8 B more RSS per resting order; MADV_DONTNEED purging
    # makes every large batch fault in and zero its result pages again.
    assert _run({}) == ["0", "0"]


def test_a_value_the_user_set_wins() -> None:
    assert _run({"MIMALLOC_PURGE_DECOMMITS": "1", "MIMALLOC_ARENA_EAGER_COMMIT": "2"}) == [
        "2",
        "1",
    ]
