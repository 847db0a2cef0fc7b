#!/usr/bin/env bash
# Measures the tenant-emulator binary at scale: time from process start to the first
# 5000-row conversationtranscripts page served, and peak RSS (GNU time's "Maximum resident set size").
# Usage: bench_serve.sh [agents] [transcripts] [port]   (defaults 2000 100000 18400)
# Build first: cargo build --release -p tenant-emulator --bin tenant-emulator
# Needs curl, jq and GNU time (/usr/bin/time); TENANT_EMULATOR_BIN overrides the binary's path.
set -euo pipefail
AGENTS=${1:-2000}; TRANSCRIPTS=${2:-100000}; PORT=${3:-18400}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${TENANT_EMULATOR_BIN:-$ROOT/target/release/tenant-emulator}
OUT=$(mktemp); TIMELOG=$(mktemp)
T0=$(date +%s%N)
/usr/bin/time -v "$BIN" serve --port "$PORT" --agents "$AGENTS" --transcripts "$TRANSCRIPTS" >"$OUT" 2>"$TIMELOG" &
TPID=$!
until grep -q '^DATAVERSE_CLIENT_SECRET=' "$OUT" 2>/dev/null; do sleep 0.05; done
T_READY=$(date +%s%N)
TENANT=$(sed -n 's/^DATAVERSE_TENANT_ID=//p' "$OUT"); CLIENT=$(sed -n 's/^DATAVERSE_CLIENT_ID=//p' "$OUT")
SECRET=$(sed -n 's/^DATAVERSE_CLIENT_SECRET=//p' "$OUT"); ENV=$(sed -n 's/^DATAVERSE_ENVIRONMENT_URL=//p' "$OUT")
TOKEN=$(curl -s -X POST "$ENV/$TENANT/oauth2/v2.0/token" \
  --data-urlencode grant_type=client_credentials --data-urlencode client_id="$CLIENT" \
  --data-urlencode client_secret="$SECRET" --data-urlencode scope="$ENV/.default" | jq -r .access_token)
T_PAGE0=$(date +%s%N)
BYTES=$(curl -s -o /dev/null -w "%{size_download}" "$ENV/api/data/v9.2/conversationtranscripts" -H "Authorization: Bearer $TOKEN" \
  -H 'Prefer: odata.maxpagesize=5000')
T_PAGE=$(date +%s%N)
# Not timed: check the page really holds 5000 rows.
ROWS=$(curl -s "$ENV/api/data/v9.2/conversationtranscripts" -H "Authorization: Bearer $TOKEN" \
  -H 'Prefer: odata.maxpagesize=5000' | jq '.value | length')
HWM=$(grep VmHWM /proc/$(pgrep -P $TPID)/status | awk '{print $2}')
kill -TERM "$(pgrep -P $TPID)"; wait $TPID || true
echo "agents=$AGENTS transcripts=$TRANSCRIPTS"
echo "process start -> ready (URLs printed): $(( (T_READY - T0) / 1000000 )) ms"
echo "first page request: $ROWS rows, $BYTES bytes in $(( (T_PAGE - T_PAGE0) / 1000000 )) ms"
echo "process start -> first page served: $(( (T_PAGE - T0) / 1000000 )) ms"
echo "VmHWM before exit: $(( HWM / 1024 )) MiB"
grep -E 'Maximum resident set size|Elapsed' "$TIMELOG"
rm -f "$OUT" "$TIMELOG"
