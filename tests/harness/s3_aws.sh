#!/usr/bin/env bash
# s3_aws.sh up|down STATE_DIR
#
# A second radosgw on the harness's Ceph cluster (tests/harness/s3.sh must be
# up: same data, same user and bucket), configured as AWS is deployed:
#   - STS (rgw_s3_auth_use_sts, rgw_sts_key): GetSessionToken hands out
#     temporary credentials that radosgw checks with their session token;
#     the test user may call it (IAM PutUserPolicy, tests/harness/awscreds.py);
#     AssumeRoleWithWebIdentity works with an OIDC provider and a role the
#     test user creates (caps roles, oidc-provider; awscreds.py idp/oidc-role);
#   - virtual-hosted addressing: rgw_dns_name = localhost, so
#     http://exportq-test.localhost:PORT/key is the bucket (curl and exportq
#     resolve *.localhost to loopback themselves);
#   - HTTPS (beast ssl_endpoint) with a certificate for localhost,
#     *.localhost and 127.0.0.1 from a CA made here by openssl; a second,
#     unrelated CA is made to test a wrong one.
# It is a separate instance because radosgw with STS enabled answers a bad
# signature with AccessDenied instead of SignatureDoesNotMatch, which other
# tests check on the first instance.
#
# up:   idempotent (a live instance on the current cluster is kept); started
#       on demand by the tests that need it, serialised by a lock. Writes
#       STATE_DIR/s3aws/env: S3AWS_HTTP_PORT, S3AWS_HTTPS_PORT, S3AWS_CA,
#       S3AWS_WRONG_CA.
# down: stops the recorded radosgw (servers.sh down calls it first).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H_TAG=s3aws
# shellcheck source=common.sh
. "$HERE/common.sh"

[ $# -eq 2 ] || { echo "usage: $0 up|down STATE_DIR" >&2; exit 2; }
CMD=$1
STATE=$(h_abspath "$2")
DIR=$STATE/s3aws
BASE=$STATE/s3/ceph.conf
CONF=$DIR/ceph.conf
PIDF=$DIR/rgw.pid
ENVF=$DIR/env
H_LOGS=("$DIR/rgw.out" "$DIR/rgw.log")
STS_KEY=exportqStsKey016 # rgw_sts_key: exactly 16 bytes

fsid_of() { sed -n 's/^fsid = //p' "$1" 2>/dev/null; }

healthy() {
  [ -f "$ENVF" ] && h_pid_is "$PIDF" radosgw || return 1
  [ "$(fsid_of "$CONF")" = "$(fsid_of "$BASE")" ] || return 1
  # shellcheck disable=SC1090
  . "$ENVF"
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$S3AWS_HTTP_PORT/")" = 200 ]
}

make_certs() {
  local t=$DIR/tls
  mkdir -p "$t"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$t/ca.key" -out "$t/ca.pem" -days 30 \
      -subj "/CN=exportq test CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$t/server.key" -out "$t/server.csr" \
      -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,DNS:*.localhost,DNS:exportq-test.localhost,IP:127.0.0.1\n' >"$t/ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
      -out "$t/server.pem" -days 30 -extfile "$t/ext" 2>/dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$t/wrong-ca.key" -out "$t/wrong-ca.pem" -days 30 \
      -subj "/CN=exportq test CA" 2>/dev/null # same name, other key: must not be trusted
}

aws_down() { h_stop "$PIDF" radosgw "" KILL 5; }

aws_up() {
  mkdir -p "$DIR"
  exec 8>"$DIR/.lock"
  flock -w 120 8 || h_die "another s3_aws.sh holds $DIR/.lock"
  if healthy; then
    h_log "already up: http://127.0.0.1:$S3AWS_HTTP_PORT https://localhost:$S3AWS_HTTPS_PORT"
    return 0
  fi
  h_require radosgw radosgw-admin openssl curl python3 setsid
  [ -f "$BASE" ] && [ -f "$STATE/s3/port" ] || h_die "the harness S3 (s3.sh) is not up in $STATE"
  aws_down
  rm -rf -- "$DIR/tls" "$DIR/rgw"
  mkdir -p "$DIR/rgw"
  make_certs
  local http https attempt code
  for attempt in 1 2 3; do
    http=$(h_pick_port) && https=$(h_pick_port) || h_die "no free port"
    [ "$http" != "$https" ] || continue
    # the cluster's [global] part, then our own client section
    sed '/^\[client\]/,$d' "$BASE" >"$CONF"
    cat >>"$CONF" <<EOF
[client.rgw.aws]
log file = $DIR/rgw.log
rgw frontends = beast endpoint=127.0.0.1:$http ssl_endpoint=127.0.0.1:$https ssl_certificate=$DIR/tls/server.pem ssl_private_key=$DIR/tls/server.key
ms mon client mode = crc
rgw data = $DIR/rgw
rgw dns name = localhost
rgw sts key = $STS_KEY
rgw s3 auth use sts = true
rgw enable usage log = false
rgw thread pool size = 64
EOF
    setsid radosgw -c "$CONF" -n client.rgw.aws -f </dev/null >"$DIR/rgw.out" 2>&1 8>&- &
    echo $! >"$PIDF"
    h_log "radosgw (STS, virtual-hosted, TLS) starting on 127.0.0.1:$http and :$https (attempt $attempt)"
    code=
    for _ in $(seq 1 300); do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$http/" 2>/dev/null) || true
      [ "$code" = 200 ] && break
      h_pid_is "$PIDF" radosgw || break
      sleep 0.2
    done
    [ "$code" = 200 ] && break
    aws_down
  done
  [ "$code" = 200 ] || h_die "the STS radosgw did not come up"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$DIR/tls/ca.pem" \
      "https://localhost:$https/") || true
  [ "$code" = 200 ] || h_die "the STS radosgw does not answer over TLS (HTTP '$code')"
  # the test user may ask STS for sessions (radosgw wants a policy for it)
  radosgw-admin -c "$BASE" caps add --uid=exportq-test --caps="user-policy=*;roles=*;oidc-provider=*" >/dev/null 2>"$DIR/caps.err" \
    || { H_LOGS+=("$DIR/caps.err"); h_die "radosgw-admin caps add failed"; }
  AWS_ACCESS_KEY_ID=AKIDEXPORTQTEST AWS_SECRET_ACCESS_KEY=exportqTestSecretKey0123456789abcdefABCD \
    python3 "$HERE/awscreds.py" allow-sts --endpoint "http://127.0.0.1:$http" --user exportq-test \
    || h_die "IAM PutUserPolicy (sts:GetSessionToken) failed"
  h_write_atomic "$ENVF" <<EOF
S3AWS_HTTP_PORT=$http
S3AWS_HTTPS_PORT=$https
S3AWS_CA=$DIR/tls/ca.pem
S3AWS_WRONG_CA=$DIR/tls/wrong-ca.pem
EOF
  h_log "READY: http://127.0.0.1:$http https://localhost:$https (pid $(cat "$PIDF"))"
}

case "$CMD" in
  up) aws_up ;;
  down) aws_down ;;
  *) echo "usage: $0 up|down STATE_DIR" >&2; exit 2 ;;
esac
