#!/usr/bin/env bash
# Bytes per resting order: W1 (1M non-crossing adds) into a fresh OrderBook<SkipLadder>,
# RSS growth from /proc/self/statm and the allocator's live-bytes growth, in a new process.
#
#   benches/memory.sh [n] [seed]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p hftbook-core --example memory
"$CARGO_TARGET_DIR/release/examples/memory" "${1:-1000000}" "${2:-1}"
