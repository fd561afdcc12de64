#!/usr/bin/env bash
# Switch benchmark: two network namespaces talking through (a) vnetd with TAP ports, (b) a Linux
# kernel bridge with veth pairs, (c) vde_switch with TAP ports, in one run. iperf3 TCP (one
# stream), iperf3 UDP with 64-byte datagrams, and ping latency. Then vnetd's QEMU datagram ports
# driven by bench/dgram-load.c beside the same generator with no switch, and the storm rows:
# another network's ping while one network carries a broadcast storm, with one data path thread
# per core and with one for all. Not a test: prints figures and rewrites the switch section of
# bench/RESULTS.md. All traffic stays inside namespaces made here (the datagram sockets are in the
# run's own folder); every load run is bounded in time. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
TCP_SECONDS=${TCP_SECONDS:-10}
UDP_SECONDS=${UDP_SECONDS:-5}
PORT=18484
[ "$(id -u)" = 0 ] || { echo "bench/switch.sh needs root (namespaces, TAP devices)" >&2; exit 1; }
STORM_SECONDS=${STORM_SECONDS:-6}
for tool in iperf3 vde_switch ip ping gcc python3 sqlite3; do command -v "$tool" >/dev/null || { echo "needs $tool (make bench installs it)" >&2; exit 1; }; done

work=$(mktemp -d /tmp/vnetd-bench-switch.XXXXXX)
tag=$$
A=vb-a-$tag B=vb-b-$tag S=vb-s-$tag
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; ip netns del "$S" 2>/dev/null || true
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

echo "== vnetd with QEMU datagram ports (bench/dgram-load.c plays both QEMUs), and the generator alone"
gcc -O2 -o "$work/dgram-load" bench/dgram-load.c -lpthread
"$bin" populate --data-dir "$work/dgram" --networks 1 --vms 2 --backend dgram --allow-mac-spoofing >/dev/null
"$bin" --listen 127.0.0.1:$PORT --data-dir "$work/dgram" --log-level warning 2>"$work/vnetd-dgram.log" &
pids+=($!)
for _ in $(seq 50); do [ "$(ls "$work/dgram/run" 2>/dev/null | grep -c '\.dgram$')" -ge 2 ] && break; sleep 0.1; done
sockets=($(ls "$work"/dgram/run/*.dgram))
g_pps=$(timeout $((UDP_SECONDS + 15)) "$work/dgram-load" vnetd "${sockets[0]}" "${sockets[1]}" 64 "$UDP_SECONDS" 02:00:00:00:00:0a 02:00:00:00:00:0b)
g_direct=$(timeout $((UDP_SECONDS + 15)) "$work/dgram-load" direct 64 "$UDP_SECONDS")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'

# Storm rows: two networks of two TAP VMs each, and on the first a VM attached as a QEMU stream
# socket that floods it with 60-byte broadcasts (1,000 length-prefixed frames per write, as fast
# as vnetd takes them, bounded), while the second network's VMs ping each other.
storm_run() { # threads -> "ping_avg_ms ping_max_ms storm_frames_per_second"
  local data="$work/storm$1"
  fresh_namespaces; ip netns del "$S" 2>/dev/null || true; ip netns add "$S"; ip -n "$S" link set lo up
  "$bin" populate --data-dir "$data" --networks 2 --vms 4 --backend tap --socket-vms 1 >/dev/null
  "$bin" --listen 127.0.0.1:$PORT --data-dir "$data" --log-level warning --dataplane-threads "$1" 2>"$work/vnetd-storm$1.log" &
  pids+=($!)
  for _ in $(seq 50); do [ "$(ip -br link | grep -c '^vnd')" -ge 4 ] && break; sleep 0.1; done
  local quiet stormy
  taps() { sqlite3 "$data/vnetd.sqlite" "SELECT 'vnd' || substr(replace(n.id, '-', ''), 1, 12) FROM nic n JOIN network w ON w.id = n.network_id WHERE w.name = '$1' AND n.backend = 'tap' ORDER BY n.id"; }
  stormy=($(taps 'Network 0000')); quiet=($(taps 'Network 0001'))
  read -r socket_id socket_mac <<<"$(sqlite3 -separator ' ' "$data/vnetd.sqlite" "SELECT id, mac FROM nic WHERE backend = 'socket'")"
  attach "$A" "${quiet[0]}" 10.99.0.1/24; attach "$B" "${quiet[1]}" 10.99.0.2/24
  attach "$S" "${stormy[0]}" 10.99.1.1/24; attach "$S" "${stormy[1]}" 10.99.1.2/24
  ip netns exec "$A" ping -c 3 -i 0.2 -q 10.99.0.2 >/dev/null || true
  local counted="$work/storm$1.frames"
  timeout $((STORM_SECONDS + 5)) python3 - "$data/run/$socket_id.sock" "$socket_mac" "$STORM_SECONDS" >"$counted" <<'PY' &
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
frame = b"\xff" * 6 + bytes.fromhex(sys.argv[2].replace(":", "")) + b"\x88\xb5" + b"\x5a" * 46
chunk = (struct.pack(">I", len(frame)) + frame) * 1000
sent, end = 0, time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    s.sendall(chunk)
    sent += 1000
print(sent)
PY
  local storm=$!
  sleep 1
  local ping
  ping=$(ip netns exec "$A" ping -c 200 -i 0.01 -q 10.99.0.2 | awk -F/ '/rtt/ {print $5, $6}')
  wait "$storm" || true
  echo "$ping $(awk -v s="$STORM_SECONDS" '{printf "%.0f", $1 / s}' "$counted")"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
}
echo "== storm: one data path thread per core ($(nproc))"
read -r s_avg s_max s_rate <<<"$(storm_run "$(nproc)")"
echo "== storm: one data path thread for every network (as before issue 15)"
read -r o_avg o_max o_rate <<<"$(storm_run 1)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
table=$(cat <<EOT
| Switch | TCP, 1 stream (Gbit/s) | UDP 64 B received (packets/s) | UDP loss | ping avg (ms) |
|---|---:|---:|---:|---:|
| vnetd, TAP ports | $v_tcp | $v_udp | $v_loss% | $v_ping |
| Linux bridge, veth pairs | $k_tcp | $k_udp | $k_loss% | $k_ping |
| vde_switch, TAP ports | $d_tcp | $d_udp | $d_loss% | $d_ping |

vnetd / kernel bridge: TCP $(ratio "$v_tcp" "$k_tcp")×, UDP $(ratio "$v_udp" "$k_udp")×. vnetd / vde_switch: TCP $(ratio "$v_tcp" "$d_tcp")×, UDP $(ratio "$v_udp" "$d_udp")×.

| QEMU datagram ports, 64-byte frames (bench/dgram-load.c) | received (frames/s) |
|---|---:|
| vnetd, two datagram ports on one network | $g_pps |
| the same generator, A's socket straight to B's (no switch) | $g_direct |

vnetd / no switch: $(ratio "$g_pps" "$g_direct")×.

| Broadcast storm on one network (a QEMU stream socket flooding 60-byte broadcasts), another network's ping (200, 10 ms apart) | ping avg (ms) | ping max (ms) | storm taken (frames/s) |
|---|---:|---:|---:|
| vnetd, one data path thread per core ($(nproc)) | $s_avg | $s_max | $s_rate |
| vnetd \`--dataplane-threads 1\` (every network on one thread, as before issue 15) | $o_avg | $o_max | $o_rate |
| the same ping with no storm (vnetd, TAP ports, above) | $v_ping | | |

Goal: under 1 ms average during the storm.
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
