#!/usr/bin/env bash
# System packages some tests and tools use, installed with the distribution's package manager.
# Idempotent: packages already present are skipped. Engineers add their own lines below
# (append only, one block per need, with the reason).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# docker-compose (v1, Python): validates docker-compose.yml offline with `docker-compose config`
# in tests/indexing/test_compose.py when the docker CLI's compose v2 plugin is absent.
apt_install docker-compose

# chromium (Debian's) and a font with Arabic glyphs: tests/alerts/test_mail_chromium.py renders an
# alert digest headless and checks each item's computed direction (rtl/ltr), with a screenshot.
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium fonts-dejavu-core
fi

# postgresql (Debian's 15) and redis-server: `rasad airflow start --db postgres --executor celery`
# runs its own PostgreSQL cluster and redis-server on loopback (tests/rasad/test_airflow_service.py).
apt_install postgresql redis-server

# notmuch (Debian's): tests/alerts/test_inbox.py indexes a maildir of alert mails with the real
# mail indexer and checks that each event's mails form one thread (Message-ID/In-Reply-To/References).
apt_install notmuch
