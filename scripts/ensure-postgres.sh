#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use answers on 127.0.0.1:5432.
# The machines this project runs on start it at boot; this starts it again
# if it has stopped, with the command those machines document.
set -euo pipefail

HOST=127.0.0.1
PORT=5432

answers() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h "$HOST" -p "$PORT"
    else
        (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
    fi
}

if answers; then
    exit 0
fi

if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    for version in /etc/postgresql/*; do
        pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
    done
fi

for _ in $(seq 1 30); do
    answers && exit 0
    sleep 1
done
echo "PostgreSQL does not answer on $HOST:$PORT; the database tests need it" >&2
echo "(set DMARC_ANALYZER_TEST_POSTGRES to another server's URL)" >&2
exit 1
