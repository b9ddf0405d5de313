#!/usr/bin/env bash
# The browser of the end-to-end tests (tests/e2e): Debian's Chromium, driven by Playwright.
# Installed with apt-get when absent and we are root; never `playwright install` (that
# downloads an unpinned browser build from a CDN). Idempotent.
set -euo pipefail

if command -v chromium >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
    || { apt-get update -q >/dev/null \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; }
else
  echo "browser: chromium missing and cannot install (need root and apt-get)" >&2
  exit 1
fi
command -v chromium >/dev/null || { echo "browser: chromium did not install" >&2; exit 1; }
echo "browser: $(chromium --version 2>/dev/null || echo chromium)"
