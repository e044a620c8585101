#!/usr/bin/env bash
# Install the browser for the end-to-end widget test: Debian's chromium (no browser download by
# playwright). The Python driver, playwright, comes from the project's dev extra.
# Idempotent: does nothing when /usr/bin/chromium already runs.
set -euo pipefail

if [ -x /usr/bin/chromium ] && /usr/bin/chromium --version >/dev/null 2>&1; then
    echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium installed: $(/usr/bin/chromium --version 2>/dev/null)"
