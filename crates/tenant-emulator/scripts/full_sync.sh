#!/usr/bin/env bash
# Follows @odata.nextLink through every conversationtranscripts page (5000 rows each) of a
# 2,000-agent, 100,000-transcript tenant.
# Usage: full_sync.sh [port]   (default 18430)
# Build first: cargo build --release -p tenant-emulator --bin tenant-emulator
# Needs curl and jq; TENANT_EMULATOR_BIN overrides the binary's path.
set -euo pipefail
PORT=${1:-18430}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${TENANT_EMULATOR_BIN:-$ROOT/target/release/tenant-emulator}
OUT=$(mktemp); PAGE=$(mktemp)
"$BIN" serve --port "$PORT" --agents 2000 --transcripts 100000 >"$OUT" 2>/dev/null &
PID=$!
until grep -q '^DATAVERSE_CLIENT_SECRET=' "$OUT" 2>/dev/null; do sleep 0.05; done
TENANT=$(sed -n 's/^DATAVERSE_TENANT_ID=//p' "$OUT"); CLIENT=$(sed -n 's/^DATAVERSE_CLIENT_ID=//p' "$OUT")
SECRET=$(sed -n 's/^DATAVERSE_CLIENT_SECRET=//p' "$OUT"); ENV=$(sed -n 's/^DATAVERSE_ENVIRONMENT_URL=//p' "$OUT")
TOKEN=$(curl -s -X POST "$ENV/$TENANT/oauth2/v2.0/token" --data-urlencode grant_type=client_credentials \
  --data-urlencode client_id="$CLIENT" --data-urlencode client_secret="$SECRET" --data-urlencode scope="$ENV/.default" | jq -r .access_token)
URL="$ENV/api/data/v9.2/conversationtranscripts"; ROWS=0; PAGES=0; T0=$(date +%s%N)
while [ -n "$URL" ] && [ "$URL" != null ]; do
  curl -s "$URL" -H "Authorization: Bearer $TOKEN" -H 'Prefer: odata.maxpagesize=5000' > "$PAGE"
  ROWS=$((ROWS + $(jq '.value | length' "$PAGE"))); PAGES=$((PAGES + 1))
  URL=$(jq -r '."@odata.nextLink"' "$PAGE")
done
T1=$(date +%s%N)
HWM=$(grep VmHWM /proc/$PID/status | awk '{print $2}')
kill -TERM $PID; wait $PID || true
echo "full sync: $ROWS rows in $PAGES pages, $(( (T1 - T0) / 1000000 )) ms (incl. jq parsing each page); server VmHWM $(( HWM / 1024 )) MiB"
rm -f "$OUT" "$PAGE"
