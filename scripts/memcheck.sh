#!/usr/bin/env bash
# valgrind memcheck over the core's unsafe code paths: the unit tests of the modules that
# hold `unsafe` (book, arena, ladders, batch, the allocation counter, the LOBSTER reader) and
# the integration tests that drive the book: the 47 matching scenarios, cancel reports, the
# arena at exhaustion and the reference-model proptests (PROPTEST_CASES cases each). The
# smoke tests (millions of operations) are left to the native run. Any invalid read or write, use of
# uninitialised memory or bad free fails the run (--error-exitcode). Leaks are not checked:
# test harnesses leak on purpose (thread-locals, `Box::leak` in fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES=${PROPTEST_CASES:-4}
bins=$(cargo test -p hftbook-core --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    if d.get("reason") == "compiler-artifact" and d.get("executable") and d["profile"]["test"]:
        print(d["target"]["name"], d["executable"])
')
run() {  # name, filter...
  local name=$1; shift
  local exe; exe=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$bins")
  [ -n "$exe" ] || { echo "memcheck: no test binary $name" >&2; exit 1; }
  local t0=$SECONDS
  (cd rust/core && valgrind -q --error-exitcode=99 --leak-check=no --track-origins=no \
      "$exe" --test-threads=1 -q "$@" >/dev/null)
  echo "memcheck: $name $* clean ($((SECONDS - t0)) s)"
}
# The unit tests of the unsafe modules, without the few that only repeat the same paths over
# large inputs (together ~6 s natively, ~6 min under memcheck).
run hftbook_core book:: profile::alloc data::lobster \
  --skip zip_errors_keep_global_lines_in_large_members \
  --skip fast_check_clears_only_valid_rows \
  --skip id_index_evicts_old_pages_for_a_rising_stream \
  --skip id_index_demotes_stragglers_and_keeps_new_ids_in_pages \
  --skip id_map_matches_a_hash_map \
  --skip fast_paths_equal_careful_parser_on_wide_rows_and_corruptions
run cancel_reports
run arena_exhaustion
run arena_oom
run scenarios
# The reference-model proptests, PROPTEST_CASES cases each, without the 10k-order flow.
run prop_reference --skip long_wide_flow_matches_reference
