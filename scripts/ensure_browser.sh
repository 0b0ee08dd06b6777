#!/usr/bin/env bash
# Make sure the browser the page tests drive is here: Debian's Chromium (/usr/bin/chromium)
# and a CJK font (fonts-wqy-microhei; without it Chinese renders as boxes).
# Idempotent: does nothing when both are installed. Installs them with apt-get when run as
# root; otherwise only says what is missing and exits 0 (the browser tests then fail under
# CI=true and are skipped elsewhere).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
PACKAGES=(chromium fonts-wqy-microhei)

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
font_status=$(dpkg-query -W -f='${Status}' fonts-wqy-microhei 2>/dev/null || true)
[ "$font_status" = "install ok installed" ] || missing+=(fonts-wqy-microhei)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure_browser: missing ${missing[*]}; not root, so not installing." >&2
  echo "ensure_browser: install them with: sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
  echo "ensure_browser: until then the browser tests are skipped (and fail under CI=true)." >&2
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_browser: missing ${missing[*]} and no apt-get here; install Chromium at $CHROMIUM and a CJK font by hand." >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"; }

# apt-get update only when the package lists don't know the packages (fresh machine),
# or when installing from the lists we have fails (stale lists).
candidates_known() {
  local pkg policy
  for pkg in "${PACKAGES[@]}"; do
    policy=$(apt-cache policy "$pkg" 2>/dev/null || true)
    [[ "$policy" =~ Candidate:\ [^\(] ]] || return 1
  done
}

echo "ensure_browser: installing ${PACKAGES[*]}" >&2
if ! candidates_known; then
  apt-get update -qq
fi
if ! apt_install; then
  apt-get update -qq
  apt_install
fi
[ -x "$CHROMIUM" ] || { echo "ensure_browser: $CHROMIUM still missing after install" >&2; exit 1; }
