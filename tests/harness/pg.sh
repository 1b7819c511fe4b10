#!/usr/bin/env bash
# pg.sh up|down STATE_DIR
#
# A throwaway PostgreSQL 15 for the tests: initdb into STATE_DIR/pg/data,
# listening on 127.0.0.1 on a free port (unix socket in STATE_DIR/pg/run),
# trust auth, superuser role 'exportq' without password, database 'exportq'.
# Tuned for speed, not durability (fsync=off ...).
#
# As root, initdb/pg_ctl run as the 'postgres' user (runuser), which must be
# able to reach STATE_DIR (every parent directory traversable).
#
# up:   idempotent; if the recorded postmaster answers, does nothing. Otherwise
#       wipes STATE_DIR/pg and starts fresh. Writes STATE_DIR/pg/port.
# down: stops the recorded postmaster only (pg_ctl stop -m fast); keeps files.
#
# Env knobs: PG_BIN (default /usr/lib/postgresql/15/bin), PG_TIMEOUT (s, 60),
#   PG_PORT (port to try first; default a free one picked at random).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H_TAG=pg
# shellcheck source=common.sh
. "$HERE/common.sh"

usage() { echo "usage: $0 up|down STATE_DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
STATE=$(h_abspath "$2")

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
TIMEOUT=${PG_TIMEOUT:-60}
DIR=$STATE/pg
PGDATA_DIR=$DIR/data
SOCK=$DIR/run
LOGF=$DIR/log/postgresql.log
PIDF=$DIR/postmaster.pid
PORTF=$DIR/port
H_LOGS=("$LOGF" "$DIR/log/initdb.log")

# Run a PostgreSQL server program as the owner of the data directory.
as_pg() {
  if h_is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

healthy() {
  h_pid_is "$PIDF" postgres || return 1
  [ -f "$PORTF" ] || return 1
  [ "$(PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$(cat "$PORTF")" \
        -U exportq -d exportq -c 'select 1' 2>/dev/null)" = 1 ]
}

pg_down() {
  [ -f "$PIDF" ] || return 0
  if h_pid_is "$PIDF" postgres; then
    local pid
    pid=$(cat "$PIDF")
    if as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 30 >/dev/null 2>&1; then
      h_log "stopped postmaster (pid $pid)"
    else
      # pg_ctl refused (data dir gone?): SIGINT is PostgreSQL's fast shutdown.
      h_stop "$PIDF" postgres "" INT
    fi
  fi
  rm -f -- "$PIDF"
}

pg_up() {
  if healthy; then
    h_log "already up on 127.0.0.1:$(cat "$PORTF") (pid $(cat "$PIDF"))"
    return 0
  fi
  h_require "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/psql"
  if h_is_root; then
    id -u postgres >/dev/null 2>&1 || h_die "running as root but there is no 'postgres' user"
  fi
  pg_down
  h_state_dir "$STATE"
  rm -rf -- "$DIR"
  mkdir -p "$DIR/run" "$DIR/log"
  if h_is_root; then
    chown -R postgres:postgres "$DIR"
    runuser -u postgres -- test -x "$DIR" -a -w "$DIR" \
      || h_die "user 'postgres' cannot reach $DIR: make every parent of $STATE traversable (chmod o+x)"
  fi

  as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C --no-sync --no-instructions >"$DIR/log/initdb.log" 2>&1 \
    || h_die "initdb failed"
  as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF

# ---- exportq test harness (pg.sh): fast, not durable ----
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 256MB
max_wal_size = 1GB
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
EOF

  local attempt port
  for attempt in 1 2 3 4 5; do
    if [ "$attempt" = 1 ] && [ -n "${PG_PORT:-}" ]; then port=$PG_PORT
    else port=$(h_pick_port) || h_die "no free port"; fi
    h_log "starting postmaster on 127.0.0.1:$port (attempt $attempt)"
    if as_pg "$PG_BIN/pg_ctl" start -D "$PGDATA_DIR" -l "$LOGF" -w -t "$TIMEOUT" \
         -o "-p $port" >"$DIR/log/pg_ctl.out" 2>&1; then
      break
    fi
    if grep -qiE 'could not (bind|create listen)|address already in use' "$LOGF" 2>/dev/null; then
      h_log "port $port taken meanwhile; retrying with another"
      as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m immediate >/dev/null 2>&1 || true
      mv -f -- "$LOGF" "$LOGF.attempt$attempt"
      port=
      continue
    fi
    H_LOGS+=("$DIR/log/pg_ctl.out")
    h_die "pg_ctl start failed"
  done
  [ -n "$port" ] || h_die "could not bind a free port after 5 attempts"

  head -n 1 "$PGDATA_DIR/postmaster.pid" >"$PIDF"
  echo "$port" >"$PORTF"
  h_pid_is "$PIDF" postgres || h_die "postmaster pid $(cat "$PIDF") is not running"

  "$PG_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$SOCK" -p "$port" -U postgres -d postgres \
      -c "CREATE ROLE exportq LOGIN SUPERUSER" \
      -c "CREATE DATABASE exportq OWNER exportq" >"$DIR/log/bootstrap.log" 2>&1 \
    || { H_LOGS+=("$DIR/log/bootstrap.log"); h_die "creating role/database failed"; }
  healthy || h_die "server started but 'select 1' as exportq over 127.0.0.1:$port failed"
  h_log "READY: postgresql://exportq@127.0.0.1:$port/exportq (pid $(cat "$PIDF"))"
}

case "$CMD" in
  up) pg_up ;;
  down) pg_down ;;
  *) usage ;;
esac
