#!/usr/bin/env bash
# NAT benchmark: one TCP stream (iperf3) from a VM through vnetd's NAT network to a server in a
# namespace playing the internet, and, in the same run, the same through libvirt's recipe done by
# hand: a Linux bridge with the host's address, a veth to the VM, the same nftables masquerade and
# the same per-interface forwarding. vnetd runs inside a namespace of its own ("host"), so its
# host interface, table and forwarding live there; nothing touches the machine's own stack. Not
# a test: prints figures and rewrites the NAT section of bench/RESULTS.md. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-10}
RUNS=${RUNS:-3}
PORT=18487
[ "$(id -u)" = 0 ] || { echo "bench/nat.sh needs root" >&2; exit 1; }
for tool in iperf3 nft ip curl sqlite3; do command -v "$tool" >/dev/null || { echo "needs $tool (make bench installs it)" >&2; exit 1; }; done

work=$(mktemp -d /tmp/vnetd-bench-nat.XXXXXX)
tag=$$
HOSTNS=vn-h-$tag VM=vn-v-$tag NET=vn-i-$tag LHOST=vn-lh-$tag LVM=vn-lv-$tag
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for ns in "$VM" "$LVM" "$HOSTNS" "$LHOST" "$NET"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building vnetd (release)"
swift build -c release --product vnetd >/dev/null
bin=$(swift build -c release --show-bin-path)/vnetd

# The internet: one namespace, an iperf3 server on 203.0.113.2 (vnetd's side) and 198.51.100.2
# (the bridge's side), each reached through its own veth.
ip netns add "$NET"; ip -n "$NET" link set lo up
ip netns exec "$NET" iperf3 -s -p 5201 >"$work/iperf3-server.log" 2>&1 &
pids+=($!)
sleep 0.3


# --- vnetd: NAT network 192.168.131.0/24, host interface .1, the VM's TAP in its namespace.
ip netns add "$HOSTNS"; ip -n "$HOSTNS" link set lo up
ip link add "vu$tag" netns "$HOSTNS" type veth peer name "vi$tag" netns "$NET"
ip -n "$HOSTNS" addr add 203.0.113.1/24 dev "vu$tag"; ip -n "$HOSTNS" link set "vu$tag" up
ip -n "$NET" addr add 203.0.113.2/24 dev "vi$tag"; ip -n "$NET" link set "vi$tag" up
ip -n "$HOSTNS" route add default via 203.0.113.2
"$bin" populate --data-dir "$work/data" --networks 1 --vms 1 --backend tap >/dev/null
network=$(sqlite3 "$work/data/vnetd.sqlite" "SELECT id FROM network")
sqlite3 "$work/data/vnetd.sqlite" "UPDATE network SET kind = 'nat';
  DELETE FROM dhcp_settings WHERE network_id = '$network';
  INSERT INTO dhcp_settings (network_id, enabled, network, mask, range_start, range_end, server, lease_time, renewal_time, rebinding_time, version)
  VALUES ('$network', 1, '192.168.131.0', '255.255.255.0', '192.168.131.16', '192.168.131.254', '192.168.131.1', 86400, 43200, 75600, 1);"
ip netns exec "$HOSTNS" "$bin" --listen 127.0.0.1:$PORT --data-dir "$work/data" --log-level warning 2>"$work/vnetd.log" &
pids+=($!)
tap=""
for _ in $(seq 100); do
  tap=$(ip -n "$HOSTNS" -br link | awk '/^vnd[0-9a-f]/ {sub(/@.*/, "", $1); print $1; exit}')
  [ -n "$tap" ] && ip netns exec "$HOSTNS" nft list table inet vnetd 2>/dev/null | grep -q masquerade && break; sleep 0.1
done
ip netns exec "$HOSTNS" nft list table inet vnetd | grep -q masquerade || { echo "vnetd installed no NAT: $(tail -5 "$work/vnetd.log")" >&2; exit 1; }
ip netns add "$VM"; ip -n "$VM" link set lo up
ip -n "$HOSTNS" link set "$tap" netns "$VM"
ip -n "$VM" addr add 192.168.131.20/24 dev "$tap"; ip -n "$VM" link set "$tap" up
ip -n "$VM" route add default via 192.168.131.1
for _ in $(seq 50); do ip netns exec "$VM" ping -c1 -W1 -q 203.0.113.2 >/dev/null 2>&1 && break; sleep 0.2; done

# --- libvirt's recipe by hand: bridge br with 192.168.132.1/24, veth to the VM, masquerade.
ip netns add "$LHOST"; ip -n "$LHOST" link set lo up
ip link add "lu$tag" netns "$LHOST" type veth peer name "li$tag" netns "$NET"
ip -n "$LHOST" addr add 198.51.100.1/24 dev "lu$tag"; ip -n "$LHOST" link set "lu$tag" up
ip -n "$NET" addr add 198.51.100.2/24 dev "li$tag"; ip -n "$NET" link set "li$tag" up
ip -n "$LHOST" route add default via 198.51.100.2
ip -n "$LHOST" link add br0 type bridge; ip -n "$LHOST" addr add 192.168.132.1/24 dev br0; ip -n "$LHOST" link set br0 up
ip netns add "$LVM"; ip -n "$LVM" link set lo up
ip link add "lv$tag" netns "$LHOST" type veth peer name eth0 netns "$LVM"
ip -n "$LHOST" link set "lv$tag" master br0; ip -n "$LHOST" link set "lv$tag" up
ip -n "$LVM" addr add 192.168.132.20/24 dev eth0; ip -n "$LVM" link set eth0 up; ip -n "$LVM" route add default via 192.168.132.1
ip netns exec "$LHOST" nft -f - <<NFT
table inet bench {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    oifname "lu$tag" ip saddr 192.168.132.0/24 ip daddr != 192.168.132.0/24 counter masquerade; }
  chain forward { type filter hook forward priority filter; policy accept;
    oifname "br0" ct state established,related accept; iifname "br0" oifname "lu$tag" accept; oifname "br0" drop; iifname "br0" drop; }
}
NFT
ip netns exec "$LHOST" sysctl -qw "net.ipv4.conf.br0.forwarding=1" "net.ipv4.conf.lu$tag.forwarding=1"
for _ in $(seq 50); do ip netns exec "$LVM" ping -c1 -W1 -q 198.51.100.2 >/dev/null 2>&1 && break; sleep 0.2; done

measure() { # namespace server label -> Gbit/s
  local json
  json=$(timeout $((SECONDS_EACH + 20)) ip netns exec "$1" iperf3 -c "$2" -p 5201 -t "$SECONDS_EACH" -J 2>&1 || true)
  local gbps
  gbps=$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))' <<<"$json" 2>/dev/null || echo 0)
  echo "   $3: $gbps Gbit/s" >&2
  echo "$gbps"
}

vnetd_runs=(); bridge_runs=()
for run in $(seq "$RUNS"); do
  echo "== run $run" >&2
  vnetd_runs+=("$(measure "$VM" 203.0.113.2 "vnetd NAT")")
  bridge_runs+=("$(measure "$LVM" 198.51.100.2 "bridge + veth + masquerade")")
done
masq=$(ip netns exec "$HOSTNS" nft list counters table inet vnetd | awk '/counter masq4_/ {f = 1} f && /packets/ {print $2, "packets,", $4, "bytes"; exit}')
cpu=$(ps -o time= -p "${pids[1]}" | tr -d ' ')
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
v=$(median "${vnetd_runs[@]}"); b=$(median "${bridge_runs[@]}")
ratio=$(awk -v v="$v" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", v / b; else print "-" }')
rows=""
for index in $(seq 0 $((RUNS - 1))); do
  rows+="| $((index + 1)) | ${vnetd_runs[$index]} | ${bridge_runs[$index]} | $(awk -v v="${vnetd_runs[$index]}" -v b="${bridge_runs[$index]}" 'BEGIN { if (b > 0) printf "%.2f", v / b; else print "-" }') |"$'\n'
done
machine="$(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), $(swift --version 2>/dev/null | head -1), $(iperf3 --version | head -1 | cut -d' ' -f1-2), $(nft --version)"
section=$(cat <<EOT
<!-- nat:begin -->
## NAT: vnetd's NAT network vs. libvirt's recipe by hand

Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/nat.sh\` on $machine.
One TCP stream (iperf3, ${SECONDS_EACH} s) from a VM namespace to a server in a namespace playing the internet, masqueraded
on the way. vnetd (release build) runs in a namespace of its own: the VM is the TAP vnetd made for its NIC, switched to the
host interface (a TAP vnetd holds, left in vnetd's namespace), routed and masqueraded by vnetd's \`inet vnetd\` table. The
peer, in the same run: a Linux bridge holding the host's address, a veth to the VM, the same masquerade and forward rules
and the same two per-interface forwarding switches. Goal: vnetd at least 0.8× the bridge.

| Run | vnetd NAT (Gbit/s) | Bridge + veth + masquerade (Gbit/s) | vnetd / bridge |
|---:|---:|---:|---:|
${rows}
Median: vnetd $v Gbit/s, bridge $b Gbit/s: **${ratio}×**. vnetd's counter of what its VMs sent out, masqueraded: $masq; vnetd's CPU time over the runs: $cpu.
<!-- nat:end -->
EOT
)
echo; echo "$section"
if grep -q '<!-- nat:begin -->' bench/RESULTS.md; then
  python3 - "$section" <<'PY'
import re, sys
path = "bench/RESULTS.md"
text = open(path).read()
text = re.sub(r"<!-- nat:begin -->.*?<!-- nat:end -->", lambda _: sys.argv[1], text, flags=re.S)
open(path, "w").write(text)
PY
else
  printf '\n%s\n' "$section" >> bench/RESULTS.md
fi
