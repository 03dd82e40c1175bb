#!/usr/bin/env bash
# Instructions per operation for each ladder, counted by callgrind (stable on noisy VMs).
#
#   benches/icount.sh            # W2, 200 000 ops on the 10 000-order prefill, seed 1
#   N=100000 WL=w1 benches/icount.sh
#   N=50000 WL=flow_swing_25 benches/icount.sh   # a market flow: N orders, ~2 N messages
#
# Builds rust/core/examples/icount.rs in release, runs it under
# `valgrind --tool=callgrind` once per ladder and reads the inclusive count of `run_ops`
# (`run_ops_with_reports` for a flow; the book work only: generation and prefill are outside
# it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
N="${N:-200000}"
WL="${WL:-w2}"
SEED="${SEED:-1}"
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"

cargo build --release -q -p hftbook-core --example icount
BIN="$CARGO_TARGET_DIR/release/examples/icount"

declare -A IR
for l in skip btree plainskip; do
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$WL.$l" \
        "$BIN" "$l" "$WL" "$N" "$SEED" >"$OUT/log.$WL.$l" 2>&1
    ir=$(callgrind_annotate --inclusive=yes "$OUT/cg.$WL.$l" | grep -m1 'icount::run_ops' \
        | awk '{gsub(",", "", $1); print $1}')
    if [ -z "$ir" ]; then
        echo "run_ops not found in $OUT/cg.$WL.$l" >&2
        exit 1
    fi
    IR[$l]=$ir
    # Per command applied (the `ops` the example prints: for a flow, its messages).
    ops=$(awk '/^ops/ {print $2}' "$OUT/log.$WL.$l")
    printf '%-10s %s  %14s instructions  %8.1f per op\n' "$l" "$(grep '^ops' "$OUT/log.$WL.$l")" \
        "$ir" "$(echo "$ir $ops" | awk '{print $1 / $2}')"
done
echo "workload $WL, n $N, seed $SEED; callgrind files in $OUT"
awk -v s="${IR[skip]}" -v b="${IR[btree]}" -v p="${IR[plainskip]}" 'BEGIN {
    printf "instructions ratio skip/btree     %.3f\n", s / b
    printf "instructions ratio skip/plainskip %.3f\n", s / p
}'
