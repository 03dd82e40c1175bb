"""The allocator options the extension sets when it loads (docs/architecture.md).

They are set through mimalloc's API (rust/py/src/allocator.rs), not the environment:
``import hftbook`` must leave ``os.environ`` alone, so a child process the user starts
inherits nothing from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SHOW = (
    "import json, os, subprocess, sys; "
    "before = set(os.environ); "
    "import hftbook; "
    "child = subprocess.run([sys.executable, '-c', 'import json, os; print(json.dumps(sorted("
    'k for k in os.environ if k.startswith("MIMALLOC_"))))\'], '
    "capture_output=True, text=True, check=True).stdout; "
    "print(json.dumps({'options': hftbook._core._allocator_options(), "
    "'added': sorted(set(os.environ) - before), "
    "'mimalloc_env': sorted(k for k in os.environ if k.startswith('MIMALLOC_')), "
    "'child_mimalloc_env': json.loads(child)}))"
)


def _run(extra_env: dict[str, str]) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    env.update(extra_env)
    out = subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_defaults_commit_on_demand_and_purge_with_madv_free() -> None:
    # Eager arena commit shows as ~9 B more RSS per resting order; MADV_DONTNEED purging
    # makes every large batch fault in and zero its result pages again.
    r = _run({})
    assert r["options"] == {"arena_eager_commit": 0, "purge_decommits": 0}


def test_import_leaves_the_environment_alone() -> None:
    r = _run({})
    assert r["added"] == []
    assert r["mimalloc_env"] == []
    assert r["child_mimalloc_env"] == []


def test_a_value_the_user_set_wins() -> None:
    env = {"MIMALLOC_PURGE_DECOMMITS": "1", "MIMALLOC_ARENA_EAGER_COMMIT": "2"}
    r = _run(env)
    assert r["options"] == {"arena_eager_commit": 2, "purge_decommits": 1}
    assert r["added"] == []
    # the user's own variables pass through unchanged, to the child too
    assert r["mimalloc_env"] == sorted(env)
    assert r["child_mimalloc_env"] == sorted(env)


def test_one_option_set_by_the_user_leaves_the_other_at_hftbooks_default() -> None:
    r = _run({"MIMALLOC_ARENA_EAGER_COMMIT": "1"})
    assert r["options"] == {"arena_eager_commit": 1, "purge_decommits": 0}
