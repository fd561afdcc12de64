#!/usr/bin/env bash
# DHCP benchmark: perfdhcp drives full DISCOVER-OFFER-REQUEST-ACK exchanges against vnetd's DHCP
# server (through its switch, client on a TAP port) and, in the same run, against dnsmasq on a
# Linux bridge with veth pairs. Leases are durable in both (vnetd commits each batch before its
# ACKs; dnsmasq writes its lease file). Not a test: prints figures and rewrites the DHCP section of
# bench/RESULTS.md. All traffic stays in namespaces made here; every run is bounded. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RATE=${SECONDS_PER_RATE:-5}
RATES=${RATES:-"1000 2000 4000 8000 12000"}
PORT=18486
# Both servers check an address before offering it: vnetd with an ARP probe, dnsmasq with its
# ICMP ping (its default); dnsmasq runs a second time with the check off (--no-ping).
[ "$(id -u)" = 0 ] || { echo "bench/dhcp.sh needs root" >&2; exit 1; }
for tool in perfdhcp dnsmasq ip curl sqlite3; do command -v "$tool" >/dev/null || { echo "needs $tool (make bench installs it)" >&2; exit 1; }; done

work=$(mktemp -d /tmp/vnetd-bench-dhcp.XXXXXX)
tag=$$
CLI=vd-c-$tag SRV=vd-s-$tag
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  ip netns del "$CLI" 2>/dev/null || true; ip netns del "$SRV" 2>/dev/null || true
  ip link del "vdbr$tag" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building vnetd (release)"
swift build -c release --product vnetd >/dev/null
bin=$(swift build -c release --show-bin-path)/vnetd

# perfdhcp at one rate: prints "achieved_rate drop_percent avg_ms max_ms".
run_rate() { # interface rate
  # -W: answers still on their way when the run ends count (both servers probe before offering).
  # Completed = offered x (1 - drops): perfdhcp's own rate divides by the run plus that wait.
  ip netns exec "$CLI" perfdhcp -4 -l "$1" -r "$2" -R 10000000 -p "$SECONDS_PER_RATE" -W 1000000 2>&1 | awk -v offered="$2" '
    /^Rate:/ {rate = $2}
    /drops ratio/ && !d {gsub("%", "", $3); d = $3}
    /avg delay/ && !a {a = $3}
    /max delay/ && !m {m = $3}
    END {printf "%.0f %.2f %s %s\n", offered * (100 - d) / 100, d, a, m}'
}
# 1,000 new clients starting within 0.1 s: wall time until the last exchange completed
# (perfdhcp waits 0.5 s after its last send for late answers; that wait is subtracted), and how
# many of the 1,000 got their ACK.
burst() { # interface
  local start end
  start=$(date +%s.%N)
  ip netns exec "$CLI" perfdhcp -4 -l "$1" -r 10000 -R 1000 -n 1000 -W 500000 >"$work/burst.txt" 2>&1 || true
  end=$(date +%s.%N)
  local acked
  acked=$(awk '/Statistics for: REQUEST-ACK/ {f = 1} f && /received packets/ {print $3; exit}' "$work/burst.txt")
  awk -v s="$start" -v e="$end" -v r="${acked:-0}" 'BEGIN {printf "%.2f %s\n", e - s - 0.5, r}'
}

measure_all() { # interface label
  for rate in $RATES; do
    read -r got drops avg max <<<"$(run_rate "$1" "$rate")"
    echo "   $2: offered $rate/s -> $got exchanges/s, drops $drops%, avg $avg ms, max $max ms" >&2
    echo "$rate $got $drops $avg $max"
  done
}

echo "== vnetd"
ip netns add "$CLI"; ip -n "$CLI" link set lo up
# perfdhcp speaks for thousands of clients from one port: its NIC may spoof MACs (a port that
# may not can only ask for its own NIC's address).
"$bin" populate --data-dir "$work/data" --networks 1 --vms 1 --backend tap --allow-mac-spoofing >/dev/null
"$bin" --listen 127.0.0.1:$PORT --data-dir "$work/data" --log-level warning 2>"$work/vnetd.log" &
pids+=($!)
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/login" && break; sleep 0.1; done
network=$(sqlite3 "$work/data/vnetd.sqlite" "SELECT id FROM network")
source bench/signin.sh
cookie=$(sign_in "http://127.0.0.1:$PORT" "$work/data")
token=$(sed 's/^vnetd_csrf=\([0-9a-f]*\);.*/\1/' <<<"$cookie")
curl -fs -H "Cookie: $cookie" -o /dev/null --data "csrf_token=$token&action=save&version=0&enabled=on&network=10.131.0.0&mask=255.255.0.0&rangeStart=10.131.0.16&rangeEnd=10.131.255.254&server=10.131.0.1&gateway=&dnsServers=&winsServers=&leaseTime=3600&renewalTime=1800&rebindingTime=3150" "http://127.0.0.1:$PORT/networks/$network/dhcp"
tap=$(ip -br link | awk '/^vnd/ {print $1; exit}')
ip link set "$tap" netns "$CLI"; ip -n "$CLI" addr add 10.131.0.2/16 dev "$tap"; ip -n "$CLI" link set "$tap" up
sleep 0.5
read -r v_burst v_burst_received <<<"$(burst "$tap")"
v_rows=$(measure_all "$tap" vnetd)
v_leases=$(sqlite3 "$work/data/vnetd.sqlite" "SELECT COUNT(*) FROM dhcp_lease")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
ip netns del "$CLI"

# dnsmasq on a Linux bridge, with its ping check as given: prints "burst received" then rows.
run_dnsmasq() { # ping-flag label
  ip netns add "$CLI"; ip netns add "$SRV"
  ip -n "$CLI" link set lo up; ip -n "$SRV" link set lo up
  ip link add "vdbr$tag" type bridge; ip link set "vdbr$tag" up
  for side in c s; do
    ip link add "vd$side$tag" type veth peer name "vq$side$tag"
    ip link set "vd$side$tag" master "vdbr$tag"; ip link set "vd$side$tag" up
  done
  ip link set "vqc$tag" netns "$CLI"; ip -n "$CLI" addr add 10.131.0.2/16 dev "vqc$tag"; ip -n "$CLI" link set "vqc$tag" up
  ip link set "vqs$tag" netns "$SRV"; ip -n "$SRV" addr add 10.131.0.1/16 dev "vqs$tag"; ip -n "$SRV" link set "vqs$tag" up
  rm -f "$work/dnsmasq.leases"
  ip netns exec "$SRV" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface="vqs$tag" --bind-interfaces \
    --dhcp-range=10.131.0.16,10.131.255.254,255.255.0.0,1h --dhcp-lease-max=10000000 $1 \
    --dhcp-leasefile="$work/dnsmasq.leases" --user=root --quiet-dhcp --log-facility="$work/dnsmasq.log" 2>/dev/null &
  local pid=$!
  sleep 1
  burst "vqc$tag" >"$work/dnsmasq-burst.txt"
  measure_all "vqc$tag" "$2" >"$work/dnsmasq-rows.txt"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # The host ends first: a namespace's own devices go with it only later, in the kernel's cleanup.
  ip link del "vdc$tag"; ip link del "vds$tag"; ip link del "vdbr$tag"
  ip netns del "$CLI"; ip netns del "$SRV"
}
echo "== dnsmasq on a Linux bridge, ping check on (its default, like vnetd's probe)"
run_dnsmasq "" "dnsmasq"
read -r d_burst d_burst_received <"$work/dnsmasq-burst.txt"; d_rows=$(cat "$work/dnsmasq-rows.txt")
d_leases=$(wc -l <"$work/dnsmasq.leases")
echo "== dnsmasq on a Linux bridge, --no-ping"
run_dnsmasq "--no-ping" "dnsmasq --no-ping"
read -r n_burst n_burst_received <"$work/dnsmasq-burst.txt"; n_rows=$(cat "$work/dnsmasq-rows.txt")

best() { awk '$3 < 0.1 {best = $2} END {print best + 0}' <<<"$1"; }
v_best=$(best "$v_rows"); d_best=$(best "$d_rows"); n_best=$(best "$n_rows")
rows() { awk -v who="$2" '{printf "| %s | %s | %s | %s%% | %s | %s |\n", who, $1, $2, $3, $4, $5}' <<<"$1"; }
table=$(cat <<EOT
| Server | Offered (exchanges/s) | Completed (exchanges/s) | Drops | Avg delay (ms) | Max delay (ms) |
|---|---:|---:|---:|---:|---:|
$(rows "$v_rows" vnetd)
$(rows "$d_rows" dnsmasq)
$(rows "$n_rows" "dnsmasq --no-ping")

Highest offered rate with under 0.1% drops: vnetd $v_best exchanges/s, dnsmasq $d_best exchanges/s with its ping check, $n_best without (vnetd $(awk -v a="$v_best" -v b="$n_best" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }')× dnsmasq --no-ping).
1,000 clients starting at once (1,000 new clients within 0.1 s, until the last ACK; perfdhcp does not retransmit): vnetd ${v_burst} s with $v_burst_received of 1,000 acknowledged, dnsmasq ${d_burst} s with $d_burst_received of 1,000, dnsmasq --no-ping ${n_burst} s with $n_burst_received of 1,000.
Leases stored at the end: vnetd $v_leases rows in SQLite, dnsmasq $d_leases lines in its lease file.
EOT
)
echo; echo "$table"
machine="$(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), $(swift --version 2>/dev/null | head -1), $(dnsmasq --version | head -1 | cut -d' ' -f1-3), perfdhcp from kea $(perfdhcp -v 2>&1 | head -1)"
section=$(cat <<EOT
<!-- dhcp:begin -->
## DHCP: vnetd's server vs. dnsmasq

Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/dhcp.sh\` on $machine.
perfdhcp in a namespace runs full DORA exchanges for ${SECONDS_PER_RATE} s per offered rate, each with a new client.
vnetd: release build, its DHCP server on a /16 network, the client on a TAP port of the same switch; every
lease committed to SQLite (WAL) before its ACK, in batches. dnsmasq: on a Linux bridge with veth pairs,
\`--dhcp-lease-max\` raised, lease file on the same disk. Both check each new address first: vnetd with an ARP probe
(250 ms without an answer), dnsmasq with its ICMP ping; dnsmasq is measured a second time with \`--no-ping\`.
perfdhcp waits 1 s after each run for answers still on their way (\`-W\`).
perfdhcp reports average and maximum delays, not percentiles, so no p99 is given.

$table
<!-- dhcp:end -->
EOT
)
results=bench/RESULTS.md
if grep -q '<!-- dhcp:begin -->' "$results"; then
  python3 - "$results" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
open(path, "w").write(re.sub(r"<!-- dhcp:begin -->.*?<!-- dhcp:end -->", lambda _: section, text, flags=re.S))
PY
else
  printf '\n%s\n' "$section" >> "$results"
fi
echo "wrote $results"
