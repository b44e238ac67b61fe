#!/usr/bin/env bash
# Render an HTML page in headless Chromium and save a PNG screenshot (default: the curator
# report). Needs Debian's chromium: `apt-get install -y chromium`.
set -euo pipefail
page=${1:-reports/curation.html}
out=${2:-reports/curation.png}
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "chromium not found: apt-get install -y chromium" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1280,2400 --hide-scrollbars \
  --screenshot="$(realpath -m "$out")" "file://$(realpath "$page")" 2>/dev/null
test -s "$out" && echo "screenshot: $out"
