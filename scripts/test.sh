#!/usr/bin/env bash
# The test command of the README: on a fresh machine it installs everything it needs
# (a virtualenv with the package and its test dependencies; Rust crates come from
# crates.io through cargo), then runs every check CI runs:
#   Rust: fmt, clippy (-D warnings), unit/property/scenario/concurrency tests,
#         memcheck of the core's unsafe paths (scripts/memcheck.sh, ~1 min),
#         the loom models of the engine's lanes and of the book's seqlock,
#         the instruction-count regression gate (callgrind)
#   Python: ruff, mypy (strict), stubtest of the hand-written _core.pyi, pytest (the
#           dashboard tests in Debian's chromium, installed here when missing)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${HFTBOOK_VENV:-.venv}
step() { printf '\n==> %s\n' "$*"; }

step "Python environment ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
VENV="$(cd "$VENV" && pwd)"  # absolute: pytest runs from tests/
"$VENV/bin/python" -m pip install --quiet --upgrade pip
step "Build and install hftbook with its test dependencies (release build of the Rust core)"
"$VENV/bin/python" -m pip install --quiet ".[test]"
step "Headless browser for the dashboard tests (Debian's chromium; Playwright drives it)"
# Never `playwright install` (it downloads a browser build of its own): tests/test_dashboard.py
# launches the system chromium with executable_path.
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
chromium --version

step "Rust: cargo fmt --check"
cargo fmt --all -- --check
step "Rust: cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "Rust: cargo test (hftbook-core: unit, property, scenario, concurrency tests)"
cargo test -p hftbook-core
step "Rust: cargo test (hftbook-engine: replay property, lanes, orders, protection, lifecycle)"
cargo test -p hftbook-engine
step "Rust: cargo test (hftbook-feed: WebSocket feed and metrics on loopback)"
cargo test -p hftbook-feed
step "Rust: loom model of the engine's lanes and wake-up protocol"
# Its own target dir: --cfg loom would otherwise invalidate the normal build's cache.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p hftbook-engine --test loom_lanes --release
step "Rust: loom model of the book's top-of-book seqlock"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p hftbook-core --test loom_seqlock --release

step "Instruction-count regression gate (callgrind vs benches/icount_baseline.json)"
if ! command -v valgrind >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq valgrind >/dev/null
fi
"$VENV/bin/python" benches/icount_gate.py

step "Rust: valgrind memcheck of the core's unsafe paths (unit tests, scenarios, proptests)"
bash scripts/memcheck.sh

step "Python: ruff"
"$VENV/bin/ruff" check python tests benches
"$VENV/bin/ruff" format --check python tests benches
step "Python: mypy --strict"
"$VENV/bin/mypy"
step "Python: stubtest of hftbook/_core.pyi"
"$VENV/bin/python" -m mypy.stubtest hftbook._core
step "Python: pytest"
# Run from tests/ so that `import hftbook` is the installed package, not the source tree.
(cd tests && "$VENV/bin/python" -m pytest -q -c ../pyproject.toml --rootdir .. .)

step "All checks passed"
