#!/usr/bin/env bash
# The main job end to end on local defaults, on a fresh Debian 12 machine (as root):
# installs packages, builds, starts PostgreSQL + an S3 server that checks SigV4
# (Ceph radosgw) + an SMTP server on 127.0.0.1, migrates, loads a sample activity
# table (JSONB, DEMO_ROWS rows for one user), enqueues an export with an email,
# shows its queue position, runs a worker until the queue is empty, then shows
# the email, downloads the link from it with plain curl and checks the file is
# byte-equal to psql's COPY of the same export.
#
#   scripts/demo.sh            (DEMO_ROWS=200000 by default)
#   scripts/demo.sh down       stop the demo servers
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state=${EXPORTQ_DEMO_STATE:-/tmp/exportq-demo}
rows=${DEMO_ROWS:-200000}

if [ "${1:-}" = down ]; then
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
say "Done. The servers keep running; stop them with: scripts/demo.sh down"
