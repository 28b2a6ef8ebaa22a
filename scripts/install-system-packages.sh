#!/usr/bin/env bash
# Install what the summary and its tests need from Debian's packages, when
# it is missing: a font that draws Japanese (charts and PDF of --lang ja),
# and the headless browser and driver that the tests render the HTML in.
# WeasyPrint (PDF) needs Pango, which Debian-based machines usually have.
# The fetch tests run Dovecot's IMAP server as a process of their own; the
# package's system service is not needed (and not started in a container).
set -euo pipefail

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
fc-list 2>/dev/null | grep -q "Noto Sans CJK JP" || missing+=(fonts-noto-cjk)
ldconfig -p 2>/dev/null | grep -q "libpango-1.0" || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
[ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/imap ] || missing+=(dovecot-imapd)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "missing Debian packages: ${missing[*]}; install them as root" >&2
    exit 1
fi

echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a second test run, unattended upgrades) holds the lock: wait.
apt=(apt-get -o DPkg::Lock::Timeout=600)
"${as_root[@]}" "${apt[@]}" update -qq
"${as_root[@]}" "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
