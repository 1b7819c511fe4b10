#!/usr/bin/env bash
# smtp.sh up|down STATE_DIR
#
# The test SMTP server (smtpd.py, aiosmtpd) on 127.0.0.1 on a free port:
# STARTTLS required before AUTH and MAIL, AUTH PLAIN/LOGIN as
# exportq / smtp-secret required before MAIL. Received messages land in
# STATE_DIR/smtp/mail/NNNNNN.eml (+ NNNNNN.env with the envelope).
#
# TLS: a throwaway CA (STATE_DIR/smtp/ca.pem: what clients should trust) and a
# server certificate it signed for localhost / 127.0.0.1 (cert.pem, key.pem),
# made once per STATE_DIR with openssl.
#
# up:   idempotent; if the recorded server answers with a 220 banner, does
#       nothing. Writes STATE_DIR/smtp/port. Keeps stored mail.
# down: stops the recorded server only; keeps files.
#
# Env knob: SMTP_PORT (port to try first; default a free one picked at random).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H_TAG=smtp
# shellcheck source=common.sh
. "$HERE/common.sh"

usage() { echo "usage: $0 up|down STATE_DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
STATE=$(h_abspath "$2")

DIR=$STATE/smtp
MAILDIR=$DIR/mail
LOGF=$DIR/smtpd.log
PIDF=$DIR/smtpd.pid
PORTF=$DIR/port
READYF=$DIR/ready
H_LOGS=("$LOGF" "$DIR/smtpd.out")

alive() { h_pid_is "$PIDF" python3 smtpd.py; }

banner_ok() {  # banner_ok PORT: a 220 greeting within 3 s
  local line
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 3 line <&3 || exit 1
    printf 'QUIT\r\n' >&3
    [[ $line == 220* ]]
  ) 2>/dev/null
}

healthy() {
  alive && [ -f "$PORTF" ] && banner_ok "$(cat "$PORTF")"
}

smtp_down() {
  h_stop "$PIDF" python3 smtpd.py TERM 10
}

make_certs() {
  [ -s "$DIR/ca.pem" ] && [ -s "$DIR/cert.pem" ] && [ -s "$DIR/key.pem" ] && return 0
  local t=$DIR/tls.tmp
  rm -rf -- "$t"
  mkdir -p "$t"
  (
    cd "$t"
    openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -keyout ca.key -out ca.pem -subj "/CN=exportq test CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash"
    openssl req -new -newkey rsa:2048 -nodes -sha256 \
      -keyout key.pem -out cert.csr -subj "/CN=localhost"
    cat >cert.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EOF
    openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -sha256 -days 3650 -extfile cert.ext -out cert.pem
    openssl verify -CAfile ca.pem cert.pem
  ) >"$DIR/openssl.log" 2>&1 || { H_LOGS+=("$DIR/openssl.log"); h_die "making the TLS certificates failed"; }
  chmod 644 "$t/ca.pem" "$t/cert.pem"
  chmod 600 "$t/key.pem"
  mv -f "$t/key.pem" "$DIR/key.pem"
  mv -f "$t/cert.pem" "$DIR/cert.pem"
  mv -f "$t/ca.pem" "$DIR/ca.pem"
  rm -rf -- "$t"
}

smtp_up() {
  if healthy; then
    h_log "already up on 127.0.0.1:$(cat "$PORTF") (pid $(cat "$PIDF"))"
    return 0
  fi
  h_require "$H_PY" openssl setsid
  "$H_PY" -c 'import aiosmtpd' 2>/dev/null \
    || h_die "$H_PY cannot import aiosmtpd (apt-get install python3-aiosmtpd)"
  smtp_down
  h_state_dir "$STATE"
  mkdir -p "$DIR" "$MAILDIR"
  make_certs

  local attempt port i rc
  for attempt in 1 2 3 4 5; do
    if [ "$attempt" = 1 ] && [ -n "${SMTP_PORT:-}" ]; then port=$SMTP_PORT
    else port=$(h_pick_port) || h_die "no free port"; fi
    rm -f -- "$READYF" "$PORTF"
    setsid "$H_PY" "$HERE/smtpd.py" --host 127.0.0.1 --port "$port" \
        --cert "$DIR/cert.pem" --key "$DIR/key.pem" --maildir "$MAILDIR" \
        --log "$LOGF" --ready-file "$READYF" </dev/null >"$DIR/smtpd.out" 2>&1 &
    echo $! >"$PIDF"
    h_log "smtpd starting on 127.0.0.1:$port (attempt $attempt)"
    for ((i = 0; i < 150; i++)); do
      [ -f "$READYF" ] && break
      alive || break
      sleep 0.1
    done
    if [ -f "$READYF" ]; then break; fi
    if alive; then h_die "smtpd did not get ready in 15 s"; fi
    rc=0
    wait "$(cat "$PIDF")" 2>/dev/null || rc=$?
    if [ "$rc" = 98 ] || grep -q 'in use' "$DIR/smtpd.out" 2>/dev/null; then
      h_log "port $port taken meanwhile; retrying"
      port=
      continue
    fi
    h_die "smtpd exited (status $rc)"
  done
  [ -n "$port" ] || h_die "smtpd could not bind a free port in 5 attempts"
  echo "$port" >"$PORTF"
  banner_ok "$port" || h_die "smtpd on 127.0.0.1:$port sends no 220 banner"
  h_log "READY: smtp://127.0.0.1:$port (STARTTLS, CA $DIR/ca.pem, maildir $MAILDIR, pid $(cat "$PIDF"))"
}

case "$CMD" in
  up) smtp_up ;;
  down) smtp_down ;;
  *) usage ;;
esac
