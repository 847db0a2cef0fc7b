#!/usr/bin/env bash
# Whole-process throughput of `examples/pair_transcripts.rs` against the plain Python reference
# (`pair_transcripts.py`) on the pairing bench's generated page; see BENCHMARKS.md.
#
#   bash benches/reference/compare.sh [PAGE_FILE]      (default /tmp/pairing-page.json)
#
# Builds the example, writes the page (unless PAGE_FILE exists), checks that both programs
# print the same records (byte for byte, and record for record as parsed JSON), then times
# them back to back with hyperfine: the example as it runs (two threads), the example held to
# one core (`taskset -c 0`), and Python (the interpreter itself, not a version manager's shim).
# CALLGRIND=1 also prints each side's instruction count (slow: minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
page=${1:-/tmp/pairing-page.json}
cargo build --release -q -p transcript-model --example pair_transcripts
[ -s "$page" ] || PAIRING_WRITE_PAGE="$page" cargo bench -q -p transcript-model --bench pairing
rust=target/release/examples/pair_transcripts
py=$(python3 -c 'import sys; print(sys.executable)')
out=$(mktemp -d)
"$rust" "$page" > "$out/rust.jsonl"
"$py" benches/reference/pair_transcripts.py "$page" > "$out/python.jsonl"
python3 - "$out/rust.jsonl" "$out/python.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
b = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert len(a) == len(b), (len(a), len(b))
for n, (x, y) in enumerate(zip(a, b)):
    for k in x:
        # Fields holding JSON text are compared as JSON, the others as text.
        if k in ("requestHeaders", "responseHeaders", "requestPayload", "responsePayload", "tag"):
            assert json.loads(x[k]) == json.loads(y[k]), (n, k)
        else:
            assert x[k] == y[k], (n, k)
    assert x.keys() == y.keys(), n
print(f"same records: {len(a)}")
PY
if cmp -s "$out/rust.jsonl" "$out/python.jsonl"; then echo "byte-identical output"; else echo "outputs differ in bytes (equal as JSON)"; fi
if [ -n "${CALLGRIND:-}" ]; then
  for cmd in "$rust $page" "$py benches/reference/pair_transcripts.py $page"; do
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" $cmd 2>&1 >/dev/null | grep 'refs' | sed "s|^|$cmd: |"
  done
fi
uptime
hyperfine -w 1 -r "${RUNS:-10}" -N --output=pipe "$rust $page" "taskset -c 0 $rust $page" \
  "$py benches/reference/pair_transcripts.py $page"
rm -rf "$out"
