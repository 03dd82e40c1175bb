#!/usr/bin/env bash
# The whole benchmark suite, from a fresh clone, in one command:
#
#   bash benches/run_all.sh            # full: ~25 min on the 2-core CI machine
#   bash benches/run_all.sh --quick    # smaller sizes, short criterion runs: ~8 min
#
# It creates a virtualenv (.venv-bench, or $HFTBOOK_BENCH_VENV) with hftbook built in release
# mode and the `bench` and `peers` extras (a peer that fails to install is reported as skipped
# by the peer run, not as a failure), then runs, writing everything under $OUT
# (default bench-results/<UTC timestamp>/):
#   1. the instruction-count gate (callgrind, exact counts; fails on a > 3 % regression)
#   2. criterion: book (ladders side by side, micro-ops, W1, W2), scale (100k levels, 1M-order
#      level, 10k-level sweep, 1M cancel storm, 0/1/2/4 readers), profile (recording cost), itch
#   3. the stress example (10M-order burst, sweep, 1M cancel storm, 10M W2 ops)
#   4. memory per resting order: Rust (benches/memory.sh) and from Python in a fresh child
#   5. Python: per call and apply_batch on W2 (py_w2.py), pyperf API benchmarks
#   6. hftbook against the peers in one process (benches/peers/run.py), and the plots
#   7. the engine: Rust producers (engine_bench example: throughput, 2 shards vs 1, open-loop
#      latency, CPU, cost over the bare book) and Python (engine_py.py: submit_batch, submit)
# Wall-clock figures on a shared machine move by +-50 %: compare within one run (ratios), and
# trust the instruction counts for regressions (docs/performance.md, ../shared MEASURE.md).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
PY=${PYTHON:-python3}
VENV=${HFTBOOK_BENCH_VENV:-.venv-bench}
OUT=${OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
step() { printf '\n==> %s\n' "$*"; }

step "Python environment ($VENV) with hftbook (release) and the bench extra"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
VENV="$(cd "$VENV" && pwd)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet ".[bench]"
step "The peers (optional: one that does not install is skipped by the peer run)"
for p in $(sed -n 's/^peers = \[\(.*\)\]/\1/p' pyproject.toml | tr -d '",'); do
  "$VENV/bin/python" -m pip install --quiet "$p" || echo "  could not install $p: it will show as skipped"
done

if ! command -v valgrind >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq valgrind >/dev/null
fi
step "1. Instruction-count gate"
"$VENV/bin/python" benches/icount_gate.py | tee "$OUT/icount.txt"

step "2. Criterion"
if [ "$QUICK" = 1 ]; then CRIT=(-- --quick); else CRIT=(); fi
for b in book scale profile itch; do
  cargo bench -q -p hftbook-core --bench "$b" ${CRIT[@]+"${CRIT[@]}"} 2>&1 | tee "$OUT/criterion_$b.txt"
done

step "3. Stress scenarios"
SCALE=1; [ "$QUICK" = 1 ] && SCALE=0.1
cargo run -q --release -p hftbook-core --example stress -- --scale "$SCALE" | tee "$OUT/stress.txt"

step "4. Memory per resting order"
N=1000000; [ "$QUICK" = 1 ] && N=200000
bash benches/memory.sh "$N" | tee "$OUT/memory_rust.txt"
"$VENV/bin/python" benches/memory_py.py --orders "$N" --json "$OUT/memory_py.json"

step "5. Python API: per call and apply_batch (py_w2), pyperf"
OPS=1000000; REPS=5; [ "$QUICK" = 1 ] && OPS=200000 && REPS=3
"$VENV/bin/python" benches/py_w2.py --ops "$OPS" --reps "$REPS" --json "$OUT/py_w2.json"
PYPERF=(); [ "$QUICK" = 1 ] && PYPERF=(--fast)
"$VENV/bin/python" benches/pyperf_api.py ${PYPERF[@]+"${PYPERF[@]}"} -o "$OUT/pyperf_api.json"

step "6. Peers in one run, and the plots"
"$VENV/bin/python" benches/peers/run.py --ops "$OPS" --reps "$REPS" --out "$OUT/peers" --no-progress
"$VENV/bin/python" benches/plots.py --peers "$OUT/peers/peers.json" --out "$OUT/img"

step "7. Engine: Rust producers (engine_bench) and Python (engine_py)"
EQ=(); [ "$QUICK" = 1 ] && EQ=(--quick)
cargo run -q --release -p hftbook-engine --example engine_bench -- ${EQ[@]+"${EQ[@]}"} | tee "$OUT/engine_bench.txt"
"$VENV/bin/python" benches/engine_py.py ${EQ[@]+"${EQ[@]}"} --json "$OUT/engine_py.json"

step "Done: results in $OUT"
