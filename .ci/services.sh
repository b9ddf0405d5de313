#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on localhost: start them when installed but stopped,
# install them with apt-get when absent and we are root. Idempotent.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
  else
    echo "services: $* missing and cannot install (need root and apt-get)" >&2; exit 1
  fi
}

if ! pg_up; then
  fresh=0
  command -v pg_ctlcluster >/dev/null || { apt_install postgresql; fresh=1; }
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  if [ "$fresh" = 1 ]; then
    # A throw-away test server on loopback only: trust local connections, as CI expects.
    sed -i -E 's/(scram-sha-256|md5|peer)$/trust/' "/etc/postgresql/$ver/main/pg_hba.conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "services: PostgreSQL did not start" >&2; exit 1; }
fi

if ! redis_up; then
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  redis_up || { echo "services: Redis did not start" >&2; exit 1; }
fi

# Report verification tests use poppler's pdfsig/pdftotext and NSS's certutil.
if ! command -v pdfsig >/dev/null || ! command -v certutil >/dev/null; then
  apt_install poppler-utils libnss3-tools
fi

# The database named in the test DATABASE_URL (pytest creates test_aigsec beside it).
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'aigsec'" | grep -q 1 \
  || createdb -h 127.0.0.1 -U postgres aigsec
echo "services: PostgreSQL and Redis are up"
