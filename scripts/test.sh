#!/usr/bin/env bash
# The test command: installs what the tests need (Python packages, and Debian's chromium for the browser test where
# this machine can install it), then runs the whole suite. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q -r requirements-dev.txt
# Debian packages: chromium (browser test) and packages.txt (open3d's libusb, mesa EGL for pyrender), when missing
missing=""
command -v chromium >/dev/null 2>&1 || missing="chromium"
for p in $(cat packages.txt); do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) \
        || echo "scripts/test.sh: could not install$missing; the browser test will fail under CI" >&2
fi
python -m pytest -q "$@"
