#!/usr/bin/env bash
# Scale benchmark: 1,000 networks, 1,000 VMs and 4,000 NICs created through the domain services,
# then wrk against the busiest pages, and vnetd's resident memory. Not a test: it prints figures
# and rewrites the scale section of bench/RESULTS.md. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
NETWORKS=${NETWORKS:-1000}
VMS=${VMS:-1000}
NICS_PER_VM=${NICS_PER_VM:-4}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-4}
PORT=18483

for tool in wrk curl; do command -v "$tool" >/dev/null || { echo "bench/scale.sh needs $tool (make bench installs it)" >&2; exit 1; }; done
work=$(mktemp -d /tmp/vnetd-bench-scale.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }; rm -rf "$work"; }
trap cleanup EXIT

if [ -n "${VNETD_BINARY:-}" ]; then
  bin=$VNETD_BINARY
else
  echo "== building vnetd (release)"
  swift build -c release --product vnetd >/dev/null
  bin=$(swift build -c release --show-bin-path)/vnetd
fi
# The peer of each page: a static file of the same size from vnetd's own Public/ handler.
mkdir -p "$work/public"
cp -r Public/. "$work/public/"
mkdir -p "$work/public/bench"

echo "== populating $NETWORKS networks, $VMS VMs, $NICS_PER_VM NICs each"
fill=$("$bin" populate --data-dir "$work/data" --networks "$NETWORKS" --vms "$VMS" --nics-per-vm "$NICS_PER_VM")
echo "   $fill"

"$bin" --listen 127.0.0.1:$PORT --data-dir "$work/data" --public "$work/public" --log-level notice 2>"$work/vnetd.log" &
pid=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/login" && break; sleep 0.1; done
source bench/signin.sh
cookie=$(sign_in "http://127.0.0.1:$PORT" "$work/data")
vm=$(curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$PORT/vms" | grep -m1 -o '/vms/[0-9a-f-]\{36\}' || true)

to_ms() { case "$1" in *us) awk -v v="${1%us}" 'BEGIN {printf "%.2f", v / 1000}' ;; *ms) echo "${1%ms}" ;; *s) awk -v v="${1%s}" 'BEGIN {printf "%.2f", v * 1000}' ;; esac; }
rows=""
for path in / /networks /vms "$vm" "$vm/nics"; do
  url="http://127.0.0.1:$PORT$path"
  size=$(curl -fs -H "Cookie: $cookie" "$url" | wc -c)
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" "$url")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  label=$path; [ "$path" = "$vm" ] && label="/vms/{id}"; [ "$path" = "$vm/nics" ] && label="/vms/{id}/nics"
  head -c "$size" /dev/zero | tr '\0' 'x' > "$work/public/bench/$size.html"
  static=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -H "Cookie: $cookie" "http://127.0.0.1:$PORT/static/bench/$size.html")
  srps=$(awk '/^Requests\/sec/ {print $2}' <<<"$static")
  ratio=$(awk -v a="$rps" -v b="$srps" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}')
  echo "== $label: median $p50 ms, p99 $p99 ms, $rps req/s, $size bytes; static file of that size $srps req/s; ratio $ratio"
  rows+="| \`$label\` | $size | $p50 | $p99 | $rps | $srps | $ratio |"$'\n'
done
rss=$(awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' /proc/$pid/status)
hwm=$(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' /proc/$pid/status)
dbsize=$(du -sh "$work/data" | cut -f1)
echo "== resident memory $rss (peak $hwm), data folder $dbsize"

machine="$(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $(swift --version 2>/dev/null | head -1)"
section=$(cat <<EOT
<!-- scale:begin -->
## Scale: pages with 1,000 networks, 1,000 VMs and 4,000 network adapters

Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/scale.sh\` on $machine.
The store was filled through the domain services (\`vnetd populate\`: $fill); vnetd (release build, access
log off) then served each page to wrk with $CONNECTIONS connections for $DURATION. Lists show 100 rows a page.
Goal: every page's requests/s at least 0.25× vnetd's own requests/s for a static file of the same
size (\`/static/...\`, same connections, same run).

| Page | Bytes | Median ms | p99 ms | Requests/s | Static file of that size, requests/s | Ratio |
|---|---:|---:|---:|---:|---:|---:|
${rows}
Resident memory after the runs: $rss (peak $hwm). Data folder: $dbsize.
<!-- scale:end -->
EOT
)
results=${RESULTS:-bench/RESULTS.md}  # RESULTS=/tmp/x.md keeps a trial run out of the shared file
[ -f "$results" ] || printf '# Benchmark results\n\nFigures written by the scripts in bench/. Each section names its date and machine.\n\n' > "$results"
if grep -q '<!-- scale:begin -->' "$results"; then
  python3 - "$results" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
open(path, "w").write(re.sub(r"<!-- scale:begin -->.*?<!-- scale:end -->", lambda _: section, text, flags=re.S))
PY
else
  printf '\n%s\n' "$section" >> "$results"
fi
echo "wrote $results"
