#!/usr/bin/env bash
# systemd: the units pass `systemd-analyze verify` with no warning at all, and
# both daemons speak the notify protocol: READY=1 after start-up, WATCHDOG=1
# while running (WatchdogSec), STOPPING=1 on SIGTERM, then a clean exit.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
t=$(tmpdir)

mkdir -p "$t/units"
for u in "$EXPORTQ_SOURCE_DIR"/systemd/*.service; do
  sed "s|/usr/local/bin/exportq|$EXPORTQ_BIN|" "$u" > "$t/units/$(basename "$u")"
done
cp "$t/units/exportq-worker@.service" "$t/units/exportq-worker@1.service"
out=$(cd "$t/units" && systemd-analyze verify --man=no ./exportq-worker@1.service ./exportq-api.service \
      ./exportq-migrate.service 2>&1) || fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify warned: $out"
ok "units verify cleanly"
for key in Type=notify DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes WatchdogSec= \
           EnvironmentFile=/etc/exportq/exportq.env TimeoutStopSec=; do
  for u in exportq-worker@.service exportq-api.service; do
    grep -q "^$key" "$EXPORTQ_SOURCE_DIR/systemd/$u" || fail "$u lacks $key"
  done
done
ok "both daemons: Type=notify, hardened, watchdog, env file, stop timeout"

# A notify socket like systemd's: one datagram per sd_notify() call, logged a line each.
listen_notify() { # socket-path log-path
  /usr/bin/python3 - "$1" "$2" >/dev/null 2>&1 <<'PY' &
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
with open(log, 'a', buffering=1) as f:
    try:
        while True:
            msg = s.recv(4096).decode()
            for line in msg.split('\n'):
                f.write(line + '\n')
    except socket.timeout:
        pass
PY
  echo $!
}

check_daemon() { # name command...
  local name=$1; shift
  local sock=$t/$name.sock log=$t/$name.notify lp pid
  lp=$(listen_notify "$sock" "$log")
  on_exit "kill $lp 2>/dev/null"
  wait_for "[ -S $sock ]" 10 || fail "notify socket not created"
  NOTIFY_SOCKET=$sock WATCHDOG_USEC=1000000 EXPORTQ_HTTP_LISTEN=127.0.0.1:0 "$@" 2> "$t/$name.log" &
  pid=$!
  on_exit "kill -9 $pid 2>/dev/null"
  wait_for "grep -qx READY=1 $log" 20 || { cat "$t/$name.log" >&2; fail "$name: no READY=1"; }
  wait_for "[ \$(grep -cx WATCHDOG=1 $log) -ge 2 ]" 10 || fail "$name: no WATCHDOG=1 pings"
  kill -TERM $pid
  wait_for "grep -qx STOPPING=1 $log" 10 || fail "$name: no STOPPING=1 on SIGTERM"
  wait $pid || fail "$name: exit status $? after SIGTERM"
  ok "$name: READY=1, WATCHDOG=1, STOPPING=1, clean exit"
}
check_daemon worker "$EXPORTQ_BIN" worker
check_daemon serve "$EXPORTQ_BIN" serve
