#!/usr/bin/env bash
# HTTP benchmark: vnetd's admin site against a minimal C program on libmicrohttpd with the same
# threading flags, side by side in one run. Not a test: it prints figures and rewrites the HTTP
# section of bench/RESULTS.md. Everything stays on 127.0.0.1; every load run lasts DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-"16 128"}
VNETD_PORT=18481
C_PORT=18482

for tool in wrk gcc curl pkg-config; do
  command -v "$tool" >/dev/null || { echo "bench/http.sh needs $tool (make bench installs it)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/vnetd-bench-http.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building vnetd (release) and the C baseline"
swift build -c release --product vnetd >/dev/null
bin=$(swift build -c release --show-bin-path)/vnetd
gcc -O2 -o "$work/mhd-hello" bench/mhd-hello.c $(pkg-config --cflags --libs libmicrohttpd)

wait_for() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

start_vnetd() { # log level
  "$bin" --listen 127.0.0.1:$VNETD_PORT --data-dir "$work/data" --log-level "$1" 2>"$work/vnetd-$1.log" &
  pids+=($!)
  wait_for "http://127.0.0.1:$VNETD_PORT/login"
  cookie=$(sign_in "http://127.0.0.1:$VNETD_PORT" "$work/data")
}
stop_last() { local pid=${pids[-1]}; kill "$pid"; wait "$pid" 2>/dev/null || true; unset 'pids[-1]'; }

source bench/signin.sh
# Returns "requests/s p99-ms" for one wrk run.
measure() { # url connections
  local out rps p99
  out=$(wrk -t2 -c"$2" -d"$DURATION" --latency -H "Cookie: $cookie" "$1")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  case "$p99" in
    *us) p99=$(awk -v v="${p99%us}" 'BEGIN {printf "%.2f", v / 1000}') ;;
    *ms) p99=${p99%ms} ;;
    *s)  p99=$(awk -v v="${p99%s}" 'BEGIN {printf "%.2f", v * 1000}') ;;
  esac
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  [ -z "$errors" ] || echo "   note: $errors" >&2
  echo "$rps $p99"
}

declare -A result
start_vnetd info
curl -fs "http://127.0.0.1:$VNETD_PORT/" -H "Cookie: $cookie" -o "$work/page.html"
cp Public/css/vnetd.css "$work/static.css"
for c in $CONNECTIONS; do
  echo "== vnetd (access log on), $c connections"
  result[vnetd-log-page-$c]=$(measure "http://127.0.0.1:$VNETD_PORT/" "$c")
  result[vnetd-log-static-$c]=$(measure "http://127.0.0.1:$VNETD_PORT/static/css/vnetd.css" "$c")
done
stop_last
start_vnetd notice
for c in $CONNECTIONS; do
  echo "== vnetd (access log off), $c connections"
  result[vnetd-page-$c]=$(measure "http://127.0.0.1:$VNETD_PORT/" "$c")
  result[vnetd-static-$c]=$(measure "http://127.0.0.1:$VNETD_PORT/static/css/vnetd.css" "$c")
done
stop_last

for kind in page static; do
  if [ $kind = page ]; then file="$work/page.html"; type="text/html; charset=utf-8"; else file="$work/static.css"; type="text/css"; fi
  "$work/mhd-hello" $C_PORT "$file" "$type" & pids+=($!)
  wait_for "http://127.0.0.1:$C_PORT/"
  for c in $CONNECTIONS; do
    echo "== C baseline ($kind, $(stat -c %s "$file") bytes), $c connections"
    result[c-$kind-$c]=$(measure "http://127.0.0.1:$C_PORT/" "$c")
  done
  stop_last
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }
table=$(
  echo "| Request | Connections | vnetd req/s | vnetd p99 ms | vnetd, access log on: req/s | p99 ms | C baseline req/s | p99 ms | vnetd / C |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for kind in page static; do
    label=$([ $kind = page ] && echo "GET / ($(stat -c %s "$work/page.html") B)" || echo "GET /static/css/vnetd.css ($(stat -c %s "$work/static.css") B)")
    for c in $CONNECTIONS; do
      read -r vr vp <<<"${result[vnetd-$kind-$c]}"
      read -r lr lp <<<"${result[vnetd-log-$kind-$c]}"
      read -r cr cp <<<"${result[c-$kind-$c]}"
      echo "| $label | $c | $vr | $vp | $lr | $lp | $cr | $cp | $(ratio "$vr" "$cr") |"
    done
  done
)
echo
echo "$table"

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), $(swift --version 2>/dev/null | head -1), libmicrohttpd $(pkg-config --modversion libmicrohttpd)"
section=$(cat <<EOT
<!-- http:begin -->
## HTTP: admin site vs. a minimal C program on libmicrohttpd

Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/http.sh\` (\`make bench\`), wrk with 2 threads, $DURATION per run, on the same
machine as the servers: $machine.
Both servers use libmicrohttpd's internal polling thread with epoll and a pool of one thread per core.
vnetd renders \`GET /\` (the master status page) from SQLite and Mustache, and reuses the rendered page until the
store changes (a counter bumped by every write) or the shown uptime does; the C program answers
every request with the same bytes from memory. Requests carry the session and CSRF cookies of a signed-in administrator.
"Access log on" is vnetd's default (\`--log-level info\`, one line per request to standard error, here a file).

$table
<!-- http:end -->
EOT
)
results=bench/RESULTS.md
[ -f "$results" ] || printf '# Benchmark results\n\nFigures written by the scripts in bench/. Each section names its date and machine.\n\n' > "$results"
if grep -q '<!-- http:begin -->' "$results"; then
  python3 - "$results" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
text = re.sub(r"<!-- http:begin -->.*?<!-- http:end -->", lambda _: section, text, flags=re.S)
open(path, "w").write(text)
PY
else
  printf '%s\n' "$section" >> "$results"
fi
echo "wrote $results"
