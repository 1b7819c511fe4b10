#!/usr/bin/env bash
# servers.sh up|down|env [STATE_DIR]
#
# The real servers exportq's integration tests talk to, all on 127.0.0.1 on
# free ports, all state in STATE_DIR (default ${EXPORTQ_TEST_STATE:-/tmp/exportq-test}):
#   PostgreSQL 15 (pg.sh), Ceph radosgw S3 (s3.sh), SMTP with STARTTLS (smtp.sh).
#
# up:   starts the three in parallel (idempotent: what is already up and
#       healthy is left alone) and writes STATE_DIR/servers.env (KEY=VALUE).
#       On failure prints the log tails and exits 1.
# down: stops every recorded daemon and removes STATE_DIR (only under /tmp).
# env:  prints STATE_DIR/servers.env.
#
# Several instances may run at once in different STATE_DIRs. Env knobs of the
# parts (S3_OBJECTSTORE=memstore|bluestore, ...) pass through.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H_TAG=servers
# shellcheck source=common.sh
. "$HERE/common.sh"

usage() { echo "usage: $0 up|down|env [STATE_DIR]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
CMD=$1
STATE=$(h_abspath "${2:-${EXPORTQ_TEST_STATE:-/tmp/exportq-test}}")
ENVF=$STATE/servers.env
PARTS=(pg s3 smtp)

under_tmp() { case "$1" in /tmp/?*) return 0 ;; *) return 1 ;; esac; }

# Serialise up/down on one STATE_DIR (ctest -j, two shells...).
lock_state() {
  exec 9>"$STATE/.servers.lock"
  flock -w 300 9 || h_die "another servers.sh holds $STATE/.servers.lock for 300 s"
}

write_env() {
  local pg_port s3_port smtp_port
  pg_port=$(cat "$STATE/pg/port")
  s3_port=$(cat "$STATE/s3/port")
  smtp_port=$(cat "$STATE/smtp/port")
  h_write_atomic "$ENVF" <<EOF
EXPORTQ_DATABASE_URL=postgresql://exportq@127.0.0.1:$pg_port/exportq
PGHOST=127.0.0.1
PGPORT=$pg_port
PGUSER=exportq
PGDATABASE=exportq
EXPORTQ_S3_ENDPOINT=http://127.0.0.1:$s3_port
EXPORTQ_S3_REGION=us-east-1
EXPORTQ_S3_BUCKET=exportq-test
AWS_ACCESS_KEY_ID=AKIDEXPORTQTEST
AWS_SECRET_ACCESS_KEY=exportqTestSecretKey0123456789abcdefABCD
EXPORTQ_SMTP_URL=smtp://exportq:smtp-secret@127.0.0.1:$smtp_port
EXPORTQ_SMTP_FROM=exports@example.test
EXPORTQ_SMTP_TLS=starttls
EXPORTQ_SMTP_CA_FILE=$STATE/smtp/ca.pem
EXPORTQ_TEST_MAILDIR=$STATE/smtp/mail
EXPORTQ_TEST_STATE=$STATE
EOF
}

servers_up() {
  case "$STATE" in *[[:space:]]*) h_die "STATE_DIR must not contain spaces: '$STATE'" ;; esac
  h_state_dir "$STATE"
  lock_state
  mkdir -p "$STATE/logs"
  local p pid failed=()
  local -A pids=()
  for p in "${PARTS[@]}"; do
    bash "$HERE/$p.sh" up "$STATE" 9>&- >"$STATE/logs/$p-up.log" 2>&1 &
    pids[$p]=$!
  done
  for p in "${PARTS[@]}"; do
    pid=${pids[$p]}
    if ! wait "$pid"; then failed+=("$p"); fi
  done
  # the failed parts' output (with their log tails) last, next to the verdict
  for p in "${PARTS[@]}"; do
    [[ " ${failed[*]-} " == *" $p "* ]] || sed 's/^/  /' "$STATE/logs/$p-up.log" >&2
  done
  for p in "${failed[@]+"${failed[@]}"}"; do sed 's/^/  /' "$STATE/logs/$p-up.log" >&2; done
  if [ ${#failed[@]} -gt 0 ]; then
    h_log "FAIL: ${failed[*]} did not come up (state in $STATE; '$0 down $STATE' cleans up)"
    exit 1
  fi
  write_env
  h_log "all up; $ENVF:"
  cat "$ENVF"
}

servers_down() {
  if [ ! -d "$STATE" ]; then
    h_log "nothing at $STATE"
    return 0
  fi
  # Only ever remove what looks like a harness state dir.
  if [ ! -e "$STATE/.servers.lock" ] && [ ! -e "$STATE/servers.env" ] \
     && [ ! -d "$STATE/pg" ] && [ ! -d "$STATE/s3" ] && [ ! -d "$STATE/smtp" ]; then
    h_log "refusing: $STATE is not a test-server state dir (no servers.env, pg/, s3/ or smtp/)"
    exit 1
  fi
  lock_state
  local p
  # the on-demand STS/TLS radosgw (s3_aws.sh) first: it needs the cluster to stop cleanly
  bash "$HERE/s3_aws.sh" down "$STATE" 9>&- || true
  for p in "${PARTS[@]}"; do
    bash "$HERE/$p.sh" down "$STATE" 9>&- &
  done
  wait
  if ! under_tmp "$STATE"; then
    h_log "daemons stopped, but refusing to remove $STATE: not under /tmp"
    exit 1
  fi
  rm -rf -- "$STATE"
  h_log "removed $STATE"
}

case "$CMD" in
  up) servers_up ;;
  down) servers_down ;;
  env)
    [ -f "$ENVF" ] || { echo "no $ENVF: run '$0 up $STATE' first" >&2; exit 1; }
    cat "$ENVF"
    ;;
  *) usage ;;
esac
