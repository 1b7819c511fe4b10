#!/usr/bin/env bash
# install-deps.sh: install (Debian 12) everything exportq needs to build and to
# run its tests against real servers. Idempotent: when every package is
# already installed it does nothing (no 'apt-get update'), unless FORCE=1.
# Run as root (or through sudo).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libpq-dev libcurl4-openssl-dev libssl-dev libesmtp-dev libmicrohttpd-dev
  libjansson-dev libcmocka-dev zlib1g-dev libsystemd-dev libexpat1-dev libxlsxwriter-dev
  libjwt-dev
  # test servers (tests/harness): PostgreSQL, Ceph radosgw (S3), SMTP
  postgresql-15 postgresql-contrib
  ceph-mon ceph-osd radosgw ceph-common
  python3-aiosmtpd python3-botocore awscli python3-openpyxl
  # tools the harness and the tests call
  curl openssl procps iproute2 systemd jq time python3
  # the page tests drive a headless browser over the DevTools protocol
  chromium python3-websocket
)

# one dpkg-query for all: "NAME STATUS..." per known package
declare -A status=()
while read -r name st; do
  status[${name%%:*}]=$st
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
  [ "${status[$p]:-}" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ] && [ "${FORCE:-0}" != 1 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed (FORCE=1 reinstalls/updates)"
  exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
  SUDO=sudo
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"
echo "install-deps: done"
