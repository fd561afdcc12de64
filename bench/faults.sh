#!/usr/bin/env bash
# The fault tests of issue 6, run against a release build of vnetd where they start one (kill -9
# loop, wrk soak, MAC flood), and in the test process otherwise (storm, malformed burst: debug
# build). Prints their figures and rewrites the "faults" section of bench/RESULTS.md. As root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/faults.sh needs root (namespaces, TAP devices)" >&2; exit 1; }
swift build -c release --product vnetd >/dev/null
swift build --product vnetd >/dev/null
export VNETD_BINARY="$(swift build -c release --show-bin-path)/vnetd"
log=$(mktemp)
{ swift test --filter 'CrashTests|aBroadcastStorm|tenThousandMalformed|aMACFlood'; VNETD_SOAK=1 swift test --filter SoakTests; } 2>&1 | tee "$log" | grep -E '^(kill -9 loop|wrk soak|broadcast storm|malformed burst|MAC flood):|✘|Test run'
grep -q '✘' "$log" && { echo "a fault test failed" >&2; exit 1; }
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
section=$(cat <<MD
<!-- faults:begin -->
## Faults: crashes, storms, floods, malformed input, sustained load

Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/faults.sh\` on $machine; the same tests run in
\`make test\` (debug build) with the same assertions. vnetd under test: release build for the kill -9
loop, the soak and the MAC flood (each a vnetd process of its own), debug build in the test process
for the storm and the malformed burst.

$(grep -E '^(kill -9 loop|wrk soak|broadcast storm|malformed burst|MAC flood):' "$log" | sed 's/^/- /')
<!-- faults:end -->
MD
)
python3 - "$section" <<'PY'
import re, sys
path = "bench/RESULTS.md"
text = open(path).read()
section = sys.argv[1]
if "<!-- faults:begin -->" in text:
    text = re.sub(r"<!-- faults:begin -->.*?<!-- faults:end -->", lambda _: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
rm -f "$log"
