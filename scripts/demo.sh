#!/usr/bin/env bash
# The main job end to end on local defaults, on a fresh Debian 12 machine (as root):
# installs packages, builds, starts PostgreSQL + an S3 server that checks SigV4
# (Ceph radosgw) + an SMTP server on 127.0.0.1, migrates, loads a sample activity
# table (JSONB, DEMO_ROWS rows for one user), enqueues an export with an email,
# shows its queue position, runs a worker until the queue is empty, then shows
# the email, downloads the link from it with plain curl and checks the file is
# byte-equal to psql's COPY of the same export. Last, it starts `exportq serve`
# (DEMO_PORT, default 8080) and prints the status page of a new export to open
# in a browser (a worker starts on it 15 s later, so the page moves from
# queued to running to ready by itself) and the operator's dashboard with its
# admin token.
#
#   scripts/demo.sh            (DEMO_ROWS=200000 by default)
#   scripts/demo.sh down       stop the demo servers (and serve, worker)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state=${EXPORTQ_DEMO_STATE:-/tmp/exportq-demo}
rows=${DEMO_ROWS:-200000}

if [ "${1:-}" = down ]; then
  for p in "$state"/demo-*.pid; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
  done
  exec tests/harness/servers.sh down "$state"
fi

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "Installing packages (Debian) and building"
if [ "$(id -u)" = 0 ]; then scripts/install-deps.sh; else sudo scripts/install-deps.sh; fi
cmake -S "$root" -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin=$root/build/exportq

say "Starting PostgreSQL, S3 (radosgw) and SMTP on 127.0.0.1 (state in $state)"
tests/harness/servers.sh up "$state"
set -a; . "$state/servers.env"; set +a

say "exportq migrate"
"$bin" migrate

say "Loading the sample activity table ($rows rows of JSONB for user demo-user)"
psql -XAtq -v ON_ERROR_STOP=1 -f scripts/sample-data.sql
psql -XAtq -v ON_ERROR_STOP=1 -c "DELETE FROM app.activity WHERE user_id = 'demo-user'" \
     -c "SELECT app.seed_activity('demo-user', $rows)" >/dev/null

say "Enqueue: exportq enqueue user_activity --owner demo-user --email demo@example.test"
id=$("$bin" enqueue user_activity --owner demo-user --email demo@example.test)
echo "job id: $id"
"$bin" status "$id"

say "exportq worker --drain (runs the export, uploads to S3, sends the email)"
"$bin" worker --drain
"$bin" status "$id"

say "The email"
mail=$(ls -t "$EXPORTQ_TEST_MAILDIR"/*.eml | head -n 1)
echo "saved at: $mail"
sed -n '1,/^\r\?$/p' "$mail" | grep -Ei '^(from|to|subject|date):'
# the link is quoted-printable encoded in the body: decode it
url=$(/usr/bin/python3 - "$mail" <<'PY'
import email, re, sys
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'))
body = msg.get_payload(decode=True).decode()
print(re.search(r'https?://\S+', body).group(0))
PY
)
echo "link: ${url%%\?*}?... (presigned, query hidden)"

say "Download with plain curl and compare with the streaming flow (exportq stream)"
out=$state/download.csv
curl -sSf -o "$out" "$url"
"$bin" stream user_activity --owner demo-user -o "$state/stream.csv"
echo "downloaded: $out ($(wc -c < "$out") bytes)"
if cmp -s "$out" "$state/stream.csv"; then
  echo "byte-equal to 'exportq stream user_activity --owner demo-user' (sha256 $(sha256sum < "$out" | cut -c1-16)...)"
else
  echo "MISMATCH between the downloaded object and the streamed export" >&2
  exit 1
fi
say "The pages: exportq serve on 127.0.0.1:${DEMO_PORT:-8080}, the status page of a new export"
port=${DEMO_PORT:-8080}
export EXPORTQ_HTTP_LISTEN=127.0.0.1:$port EXPORTQ_PUBLIC_URL=http://127.0.0.1:$port
EXPORTQ_LINK_SECRET=$(openssl rand -hex 32) EXPORTQ_ADMIN_TOKEN=$(openssl rand -hex 24)
export EXPORTQ_LINK_SECRET EXPORTQ_ADMIN_TOKEN
"$bin" serve >"$state/serve.log" 2>&1 &
echo $! >"$state/demo-serve.pid"
for _ in $(seq 100); do grep -q 'serving HTTP on' "$state/serve.log" && break; sleep 0.1; done
token=$("$bin" token create --owner demo-user)
status_url=$(curl -sSf -H "Authorization: Bearer $token" -d '{"kind": "user_activity"}' \
  "http://127.0.0.1:$port/v1/exports" | jq -r .status_url)
(sleep 15; exec "$bin" worker) >"$state/worker.log" 2>&1 &
echo $! >"$state/demo-worker.pid"
echo "Open the export's status page (a worker starts on it in 15 s; the page updates by itself):"
echo
echo "    $status_url"
echo
echo "The operator's dashboard: http://127.0.0.1:$port/admin  (admin token: $EXPORTQ_ADMIN_TOKEN)"
echo "From another machine: ssh -L $port:127.0.0.1:$port this-host, then open the same URLs."
say "Done. The servers keep running; stop them with: scripts/demo.sh down"
