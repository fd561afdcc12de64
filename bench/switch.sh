#!/usr/bin/env bash
# Switch benchmark: two network namespaces talking through (a) vnetd with TAP ports, (b) a Linux
# kernel bridge with veth pairs, (c) vde_switch with TAP ports, in one run. iperf3 TCP (one
# stream), iperf3 UDP with 64-byte datagrams, and ping latency. Not a test: prints figures and
# rewrites the switch section of bench/RESULTS.md. All traffic stays inside namespaces made here;
# every load run is bounded in time. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
TCP_SECONDS=${TCP_SECONDS:-10}
UDP_SECONDS=${UDP_SECONDS:-5}
PORT=18484
[ "$(id -u)" = 0 ] || { echo "bench/switch.sh needs root (namespaces, TAP devices)" >&2; exit 1; }
for tool in iperf3 vde_switch ip ping; do command -v "$tool" >/dev/null || { echo "needs $tool (make bench installs it)" >&2; exit 1; }; done

work=$(mktemp -d /tmp/vnetd-bench-switch.XXXXXX)
tag=$$
A=vb-a-$tag B=vb-b-$tag
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true
  ip link del "vbbr$tag" 2>/dev/null || true
  [ -f "$work/vde.pid" ] && kill "$(cat "$work/vde.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fresh_namespaces() {
  ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true
  ip netns add "$A"; ip netns add "$B"
  ip -n "$A" link set lo up; ip -n "$B" link set lo up
}
attach() { # namespace interface address
  ip link set "$2" netns "$1"
  ip -n "$1" addr add "$3" dev "$2"
  ip -n "$1" link set "$2" up
}

# Prints "tcp_gbps udp_pps udp_loss_pct ping_avg_ms" for the current A/B setup.
measure() {
  ip netns exec "$B" iperf3 -s -1 -D -p 5201 >/dev/null 2>&1; sleep 0.5
  local tcp udp ping
  tcp=$(ip netns exec "$A" iperf3 -c 10.99.0.2 -p 5201 -t "$TCP_SECONDS" -J | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
  ip netns exec "$B" iperf3 -s -1 -D -p 5202 >/dev/null 2>&1; sleep 0.5
  udp=$(ip netns exec "$A" iperf3 -c 10.99.0.2 -p 5202 -u -l 64 -b 0 -t "$UDP_SECONDS" -J | python3 -c '
import json,sys
s = json.load(sys.stdin)["end"]["sum"]
received = s["packets"] - s["lost_packets"]
print("%.0f %.1f" % (received / s["seconds"], s["lost_percent"]))')
  ping=$(ip netns exec "$A" ping -c 200 -i 0.005 -q 10.99.0.2 | awk -F/ '/rtt/ {print $5}')
  echo "$tcp $udp $ping"
}

echo "== building vnetd (release)"
swift build -c release --product vnetd >/dev/null
bin=$(swift build -c release --show-bin-path)/vnetd

echo "== vnetd with TAP ports"
fresh_namespaces
"$bin" populate --data-dir "$work/data" --networks 1 --vms 2 --backend tap >/dev/null
"$bin" --listen 127.0.0.1:$PORT --data-dir "$work/data" --log-level warning 2>"$work/vnetd.log" &
pids+=($!)
for _ in $(seq 50); do [ "$(ip -br link | grep -c '^vnd')" -ge 2 ] && break; sleep 0.1; done
taps=($(ip -br link | awk '/^vnd/ {print $1}'))
attach "$A" "${taps[0]}" 10.99.0.1/24; attach "$B" "${taps[1]}" 10.99.0.2/24
read -r v_tcp v_udp v_loss v_ping <<<"$(measure)"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'

echo "== Linux bridge with veth pairs"
fresh_namespaces
ip link add "vbbr$tag" type bridge; ip link set "vbbr$tag" up
for side in a b; do
  ip link add "vb$side$tag" type veth peer name "vp$side$tag"
  ip link set "vb$side$tag" master "vbbr$tag"; ip link set "vb$side$tag" up
done
attach "$A" "vpa$tag" 10.99.0.1/24; attach "$B" "vpb$tag" 10.99.0.2/24
read -r k_tcp k_udp k_loss k_ping <<<"$(measure)"
ip link del "vbbr$tag"; ip link del "vba$tag" 2>/dev/null || true; ip link del "vbb$tag" 2>/dev/null || true

echo "== vde_switch with TAP ports"
fresh_namespaces
vde_switch -d -p "$work/vde.pid" -s "$work/vde.ctl" -t "vdt1$tag" -t "vdt2$tag" >/dev/null 2>&1
for _ in $(seq 50); do ip link show "vdt2$tag" >/dev/null 2>&1 && break; sleep 0.1; done
attach "$A" "vdt1$tag" 10.99.0.1/24; attach "$B" "vdt2$tag" 10.99.0.2/24
read -r d_tcp d_udp d_loss d_ping <<<"$(measure)"
kill "$(cat "$work/vde.pid")"; rm -f "$work/vde.pid"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
table=$(cat <<EOT
| Switch | TCP, 1 stream (Gbit/s) | UDP 64 B received (packets/s) | UDP loss | ping avg (ms) |
|---|---:|---:|---:|---:|
| vnetd, TAP ports | $v_tcp | $v_udp | $v_loss% | $v_ping |
| Linux bridge, veth pairs | $k_tcp | $k_udp | $k_loss% | $k_ping |
| vde_switch, TAP ports | $d_tcp | $d_udp | $d_loss% | $d_ping |

vnetd / kernel bridge: TCP $(ratio "$v_tcp" "$k_tcp")×, UDP $(ratio "$v_udp" "$k_udp")×. vnetd / vde_switch: TCP $(ratio "$v_tcp" "$d_tcp")×, UDP $(ratio "$v_udp" "$d_udp")×.
EOT
)
echo; echo "$table"
machine="$(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), $(swift --version 2>/dev/null | head -1), $(iperf3 --version | head -1 | cut -d' ' -f1-2)"
section=$(cat <<EOT
<!-- switch:begin -->
## Switch: two namespaces through vnetd, a kernel bridge and vde_switch

Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/switch.sh\` on $machine.
Each setup: two network namespaces on one network; iperf3 TCP for ${TCP_SECONDS} s (one stream), iperf3 UDP with
64-byte datagrams sent as fast as iperf3 can for ${UDP_SECONDS} s (packets/s that arrived), 200 pings 5 ms apart.
vnetd: release build, \`--log-level warning\`.

$table
<!-- switch:end -->
EOT
)
results=bench/RESULTS.md
if grep -q '<!-- switch:begin -->' "$results"; then
  python3 - "$results" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
open(path, "w").write(re.sub(r"<!-- switch:begin -->.*?<!-- switch:end -->", lambda _: section, text, flags=re.S))
PY
else
  printf '\n%s\n' "$section" >> "$results"
fi
echo "wrote $results"
