#!/usr/bin/env bash
# Mixed networks and uplinks, against the kernel bridge in the same run (not a test: prints
# figures and rewrites the uplink section of bench/RESULTS.md). iperf3 TCP, one stream:
#  (a) TAP to TAP on a network of TAPs only, and on a mixed network that also has a QEMU socket
#      port and an uplink (a socket port used to switch the TAPs' offloads off for all);
#  (b) a veth "LAN" (GRO and TSO on, the drivers' default) to a TAP VM and back, through vnetd's
#      uplink, and through a kernel bridge that enslaves the same veth.
# All traffic stays inside namespaces and veth pairs made here; every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
TCP_SECONDS=${TCP_SECONDS:-8}
PORT=18485
[ "$(id -u)" = 0 ] || { echo "bench/uplink.sh needs root (namespaces, TAP devices, veth)" >&2; exit 1; }
for tool in iperf3 ip ethtool python3; do command -v "$tool" >/dev/null || { echo "needs $tool (make bench installs it)" >&2; exit 1; }; done

work=$(mktemp -d /tmp/vnetd-bench-uplink.XXXXXX)
tag=$$
A=vu-a-$tag B=vu-b-$tag C=vu-c-$tag
lan=vul$tag far=vuf$tag
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; ip netns del "$C" 2>/dev/null || true
  ip link del "$lan" 2>/dev/null || true; ip link del "vubr$tag" 2>/dev/null || true; ip link del "vuv$tag" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fresh() {
  for ns in "$A" "$B" "$C"; do ip netns del "$ns" 2>/dev/null || true; ip netns add "$ns"; ip -n "$ns" link set lo up; done
}
attach() { ip link set "$2" netns "$1"; ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up; }
# A LAN: veth pair, near end (the host adapter) up in this namespace, far end in namespace $1 at .254.
make_lan() {
  ip link del "$lan" 2>/dev/null || true
  ip link add "$lan" type veth peer name "$far"
  ethtool -K "$lan" gro on tso on >/dev/null 2>&1 || true
  ip link set "$lan" up
  attach "$1" "$far" 10.98.0.254/24
  ip netns exec "$1" ethtool -K "$far" gro on tso on >/dev/null 2>&1 || true
}
tcp() { # from-namespace to-namespace address → Gbit/s
  ip netns exec "$2" iperf3 -s -1 -D -p 5201 >/dev/null 2>&1; sleep 0.5
  ip netns exec "$1" iperf3 -c "$3" -p 5201 -t "$TCP_SECONDS" -J | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
start_vnetd() {
  "$bin" --listen 127.0.0.1:$PORT --data-dir "$work/data" --log-level warning 2>"$work/vnetd.log" &
  pids+=($!)
  for _ in $(seq 100); do [ "$(taps | wc -l)" -ge "$1" ] && break; sleep 0.1; done
  sleep 0.5
}
stop_vnetd() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; rm -rf "$work/data"; }
# The VMs' TAPs (vnd and hex digits), not an uplink's way to the host (vndh<index>).
taps() { ip -br link | awk '/^vnd[0-9a-f]+ / {print $1}'; }

echo "== building vnetd (release)"
swift build -c release --product vnetd >/dev/null
bin=$(swift build -c release --show-bin-path)/vnetd

echo "== (a) TAP to TAP, TAPs only"
fresh
"$bin" populate --data-dir "$work/data" --networks 1 --vms 2 --backend tap >/dev/null
start_vnetd 2
t=($(taps)); attach "$A" "${t[0]}" 10.98.0.1/24; attach "$B" "${t[1]}" 10.98.0.2/24
pure=$(tcp "$A" "$B" 10.98.0.2)
stop_vnetd

echo "== (a) TAP to TAP on a mixed network (a QEMU socket port and an uplink too)"
fresh; make_lan "$C"
"$bin" populate --data-dir "$work/data" --networks 1 --vms 2 --backend tap --socket-vms 1 --external "$lan" >/dev/null
start_vnetd 2
t=($(taps)); attach "$A" "${t[0]}" 10.98.0.1/24; attach "$B" "${t[1]}" 10.98.0.2/24
mixed=$(tcp "$A" "$B" 10.98.0.2)
stop_vnetd

echo "== (b) LAN and a TAP VM through vnetd's uplink"
fresh; make_lan "$B"
"$bin" populate --data-dir "$work/data" --networks 1 --vms 1 --backend tap --external "$lan" >/dev/null
start_vnetd 1
t=($(taps)); attach "$A" "${t[0]}" 10.98.0.10/24
v_in=$(tcp "$B" "$A" 10.98.0.10); v_out=$(tcp "$A" "$B" 10.98.0.254)
stop_vnetd

echo "== (b) LAN and a veth VM through a kernel bridge enslaving the same veth"
fresh; make_lan "$B"
ip link add "vubr$tag" type bridge; ip link set "vubr$tag" up
ip link set "$lan" master "vubr$tag"
ip link add "vuv$tag" type veth peer name "vuw$tag"; ip link set "vuv$tag" master "vubr$tag"; ip link set "vuv$tag" up
attach "$A" "vuw$tag" 10.98.0.10/24
k_in=$(tcp "$B" "$A" 10.98.0.10); k_out=$(tcp "$A" "$B" 10.98.0.254)
ip link del "vubr$tag"; ip link del "vuv$tag" 2>/dev/null || true

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
table=$(cat <<EOT
| Path | vnetd (Gbit/s) | Peer in the same run (Gbit/s) | vnetd / peer |
|---|---:|---:|---:|
| TAP → TAP, mixed network (TAPs + QEMU socket + uplink) | $mixed | $pure (vnetd, TAPs only) | $(ratio "$mixed" "$pure") |
| LAN → VM through the uplink (GRO, TSO on) | $v_in | $k_in (kernel bridge) | $(ratio "$v_in" "$k_in") |
| VM → LAN through the uplink (GRO, TSO on) | $v_out | $k_out (kernel bridge) | $(ratio "$v_out" "$k_out") |
EOT
)
echo; echo "$table"
machine="$(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), $(swift --version 2>/dev/null | head -1), $(iperf3 --version | head -1 | cut -d' ' -f1-2)"
section=$(cat <<EOT
<!-- uplink:begin -->
## Mixed networks and uplinks

Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/uplink.sh\` on $machine. iperf3 TCP, one stream, ${TCP_SECONDS} s each.
The LAN is a veth pair with GRO and TSO on; its far end is in a namespace; the VM is a namespace on a TAP (vnetd) or
on a veth pair in the bridge (kernel bridge, which enslaves the same LAN veth). vnetd: release build.

$table
<!-- uplink:end -->
EOT
)
results=bench/RESULTS.md
if grep -q '<!-- uplink:begin -->' "$results"; then
  python3 - "$results" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
open(path, "w").write(re.sub(r"<!-- uplink:begin -->.*?<!-- uplink:end -->", lambda _: section, text, flags=re.S))
PY
else
  printf '\n%s\n' "$section" >> "$results"
fi
echo "bench/RESULTS.md updated"
