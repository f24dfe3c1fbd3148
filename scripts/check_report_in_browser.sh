#!/usr/bin/env bash
# Render a report's report.html in headless Chromium, offline, and save a full-page screenshot,
# to check by eye that the page opens without network access and that every figure shows.
#
# Usage:   scripts/check_report_in_browser.sh REPORT_DIR [SCREENSHOT.png] [HEIGHT_PX] [WIDTH_PX]
# Default: REPORT_DIR/../<name>-screenshot.png (outside the report folder), height 20000 px
#          (the window is that tall so that the whole page fits; the blank bottom is trimmed
#          when $PYTHON, default python3, has numpy and matplotlib), width 1200 px. Raise
#          HEIGHT_PX for taller pages, e.g. 40000 for a notebook report; WIDTH_PX 420 shows
#          the page as a phone does. OPEN_DETAILS=1 opens the collapsed sections first;
#          SCROLLBARS=1 shows scrollbars (of tables wider than the window, say).
# Needs:   Debian's chromium (apt-get install -y chromium). Network access is blocked with
#          --proxy-server pointing nowhere, so anything not embedded in the page would be
#          missing from the picture.
# Exit:    0 when the screenshot was written, 1 when none was, 2 for bad arguments or no
#          browser. Look at the picture: every figure must show.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 4 || $1 == -h || $1 == --help ]]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    [[ $# -ge 1 && ( $1 == -h || $1 == --help ) ]] && exit 0 || exit 2
fi
report_dir=$(cd "$1" && pwd)
page="$report_dir/report.html"
[[ -f $page ]] || { echo "check_report_in_browser: no report.html in $report_dir" >&2; exit 2; }
shot=${2:-"$(dirname "$report_dir")/$(basename "$report_dir")-screenshot.png"}
height=${3:-20000}
width=${4:-1200}

browser=""
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then browser=$name; break; fi
done
[[ -n $browser ]] || { echo "check_report_in_browser: chromium not found (apt-get install -y chromium)" >&2; exit 2; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
if [[ ${OPEN_DETAILS:-0} == 1 ]]; then
    # a copy beside the profile, every <details> open (the report itself is not touched)
    sed 's/<details>/<details open>/g' "$page" > "$profile/report.html"
    page="$profile/report.html"
fi
# --no-sandbox: needed when running as root (containers, CI).
hide=--hide-scrollbars
[[ ${SCROLLBARS:-0} == 1 ]] && hide=""
# shellcheck disable=SC2086  # $hide: one flag or none
"$browser" --headless=new --no-sandbox --disable-gpu $hide \
    --user-data-dir="$profile" --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
    --window-size="$width","$height" --virtual-time-budget=5000 \
    --screenshot="$shot" "file://$page" >/dev/null 2>&1

[[ -s $shot ]] || { echo "check_report_in_browser: no screenshot was written" >&2; exit 1; }

# Trim the blank bottom of the tall window (optional: needs numpy and matplotlib).
python=${PYTHON:-python3}
"$python" - "$shot" <<'PY' 2>/dev/null || true
import sys
import matplotlib.image as mpimg
import numpy as np
path = sys.argv[1]
img = mpimg.imread(path)
rows = np.flatnonzero((img[..., :3] < 0.99).any(axis=(1, 2)))
if rows.size:
    mpimg.imsave(path, img[: min(img.shape[0], rows[-1] + 40)])
PY
echo "$shot"
