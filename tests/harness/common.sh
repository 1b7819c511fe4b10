# shellcheck shell=bash
# Internal helpers shared by the harness service scripts (pg.sh, s3.sh,
# smtp.sh, servers.sh). Not for test scripts: those source lib.sh.
#
# The sourcing script sets H_TAG (a short name for log lines) and may append
# log files to H_LOGS; h_die prints their tails.

H_TAG=${H_TAG:-harness}
H_LOGS=()
H_T0=$(date +%s.%N)

# A python without site-packages surprises: pyenv or venv pythons on PATH do
# not see Debian's python3-aiosmtpd.
H_PY=/usr/bin/python3

h_elapsed() { awk -v a="$H_T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}'; }
h_log() { echo "[$H_TAG +$(h_elapsed)s] $*" >&2; }

h_tail_logs() {  # h_tail_logs FILE... : last lines of each existing, non-empty file;
  local f n=0     # false if there was none
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "----- tail -n 25 $f" >&2
    tail -n 25 "$f" >&2 || true
    n=$((n + 1))
  done
  [ "$n" -gt 0 ]
}

h_die() {
  h_log "FAIL: $*"
  if h_tail_logs "${H_LOGS[@]+"${H_LOGS[@]}"}"; then
    h_log "FAIL: $* (log tails above)"
  fi
  exit 1
}

h_is_root() { [ "$(id -u)" = 0 ]; }

h_abspath() { realpath -m -- "$1"; }

h_require() {  # h_require CMD... : fail clearly if a program is missing
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] \
      || h_die "missing program '$c' (run scripts/install-deps.sh)"
  done
}

# h_state_dir DIR: create the state dir; as root make it (and so the path to
# the per-service dirs) traversable by the 'postgres' user.
h_state_dir() {
  mkdir -p -- "$1"
  if h_is_root; then chmod 755 -- "$1"; fi
}

# h_pick_port: print a TCP port on 127.0.0.1 that nobody listens on and that
# no other harness instance (same uid) reserved in the last 5 minutes. Ports
# come from 20000-32767, below Linux's ephemeral range, starting at a random
# point. The reservation (under flock) stops two instances starting at the
# same time from picking the same port before either daemon has bound it;
# the daemon scripts still retry with a new port if the bind fails.
h_pick_port() {
  "$H_PY" - <<'EOF'
import fcntl, os, random, socket, sys, time
LO, HI, TTL = 20000, 32768, 300
path = "/tmp/exportq-harness-ports.%d" % os.getuid()
try:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
except OSError:
    fd = None
now = time.time()
reserved = {}
if fd is not None:
    for line in os.read(fd, 1 << 20).decode("ascii", "replace").splitlines():
        try:
            p, ts = line.split()
            if now - float(ts) < TTL:
                reserved[int(p)] = float(ts)
        except ValueError:
            pass
start = random.randrange(LO, HI)
for i in range(HI - LO):
    port = LO + (start - LO + i) % (HI - LO)
    if port in reserved:
        continue
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))  # no SO_REUSEADDR: TIME_WAIT counts as busy
    except OSError:
        continue
    finally:
        s.close()
    reserved[port] = now
    if fd is not None:
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, "".join("%d %.0f\n" % kv for kv in reserved.items()).encode())
    print(port)
    sys.exit(0)
sys.exit("no free port in %d-%d" % (LO, HI - 1))
EOF
}

# h_alive PID: running (a zombie, which kill -0 still finds, does not count).
h_alive() {
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  case "${st%% *}" in ''|Z|X) return 1 ;; esac
  return 0
}

# h_pid_is PIDFILE COMM [CMDLINE_SUBSTRING]: true if the recorded PID is
# alive and is still the program we started (PIDs get reused).
h_pid_is() {
  local f=$1 comm=$2 sub=${3:-} pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  h_alive "$pid" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  if [ -n "$sub" ]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$sub" || return 1
  fi
  return 0
}

# h_stop PIDFILE COMM [CMDLINE_SUBSTRING] [SIGNAL] [WAIT_S]: signal the
# recorded PID (only if it is still ours), wait up to WAIT_S (default 15)
# seconds, then SIGKILL. Removes PIDFILE.
h_stop() {
  local f=$1 comm=$2 sub=${3:-} sig=${4:-TERM} wait_s=${5:-15} pid i
  [ -f "$f" ] || return 0
  if h_pid_is "$f" "$comm" "$sub"; then
    pid=$(cat "$f")
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
      h_alive "$pid" || break
      sleep 0.1
    done
    if h_alive "$pid"; then
      h_log "$comm (pid $pid) still alive after $wait_s s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    h_log "stopped $comm (pid $pid)"
  fi
  rm -f -- "$f"
}

# h_write_atomic FILE: write stdin to FILE via a temp file + rename.
h_write_atomic() {
  local tmp
  tmp=$(mktemp "$1.tmp.XXXXXX")
  cat >"$tmp"
  chmod 644 "$tmp"
  mv -f -- "$tmp" "$1"
}
