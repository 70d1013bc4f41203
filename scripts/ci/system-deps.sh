#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those missing (idempotent, quick
# when everything is there). Called by .ci/run before `npm install && npm test`; works as root or
# through sudo. Each entry: a check that the tool is present, and the packages providing it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()

# PostgreSQL server binaries (initdb, pg_ctl, postgres): test/support/postgres.ts starts a
# throwaway cluster from /usr/lib/postgresql/<major>/bin for the ledger tests.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  missing+=(postgresql)
fi

# --- Browser for the dashboard tests -----------------------------------------------------
# Debian's chromium at /usr/bin/chromium, driven by playwright-core in test/dashboard/dashboard.test.ts
# (playwright cannot download its own browsers here).
if [ ! -x /usr/bin/chromium ]; then missing+=(chromium fonts-liberation); fi
# ------------------------------------------------------------------------------------------

if [ ${#missing[@]} -eq 0 ]; then
  echo "system-deps: all present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo -n)
else
  echo "system-deps: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi

echo "system-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
