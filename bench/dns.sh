#!/bin/bash
# bench/dns.sh: DNS queries per second for a VM's name, answered by vnetd (first on a guest-only
# network, inside the switch; then on the same network made a host network, by the server on the
# host interface), each beside dnsmasq answering the same name from a hosts file on a veth pair,
# measured right after it in the same run.
# dnsperf keeps DNS_INFLIGHT queries outstanding for DNS_SECONDS against each. Root; everything
# runs in namespaces the script makes (vnetd itself too: its host interface and its address live
# there, never in the machine's own namespace), all removed at the end.
#   DNS_SECONDS=10 DNS_INFLIGHT=100 DNS_RUNS=3 bench/dns.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in dnsperf dnsmasq ip curl sqlite3 busybox; do command -v "$tool" >/dev/null || { echo "needs $tool (make bench installs it)" >&2; exit 1; }; done
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, TAPs)" >&2; exit 1; }
SECONDS_EACH=${DNS_SECONDS:-10}
INFLIGHT=${DNS_INFLIGHT:-100}
RUNS=${DNS_RUNS:-3}
tag=$(( $$ % 10000 ))
HOSTNS=vdnsh$tag CLI=vdnsc$tag PEER=vdnsp$tag SRV=vdnss$tag OTHER=vdnso$tag
PORT=$(( 20000 + RANDOM % 20000 ))
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "$HOSTNS" "$CLI" "$PEER" "$SRV" "$OTHER"; do ip netns del "$ns" 2>/dev/null || true; done
  [ -n "${DNS_KEEP:-}" ] || rm -rf "$work"; [ -z "${DNS_KEEP:-}" ] || echo "kept $work" >&2
}
trap cleanup EXIT

if [ -z "${VNETD_BIN:-}" ]; then
  echo "== building vnetd (release)"
  flock /tmp/vnetd-build.lock swift build -c release --product vnetd >/dev/null
fi
bin=${VNETD_BIN:-.build/release/vnetd}
name=vm-0001.network-0000.vnetd.internal

# A network with two TAP VMs and DHCP on 10.132.0.0/16, made through the pages, then turned
# into a host network (the DNS server moves to the host interface, 10.132.0.1).
"$bin" populate --data-dir "$work/data" --networks 1 --vms 2 --backend tap >/dev/null
ip netns add "$HOSTNS"; ip -n "$HOSTNS" link set lo up
ip netns exec "$HOSTNS" "$bin" --listen 127.0.0.1:$PORT --data-dir "$work/data" --log-level warning 2>"$work/vnetd-setup.log" &
pids+=($!)
for _ in $(seq 100); do ip netns exec "$HOSTNS" curl -fs -o /dev/null "http://127.0.0.1:$PORT/login" && break; sleep 0.1; done
network=$(sqlite3 "$work/data/vnetd.sqlite" "SELECT id FROM network")
source bench/signin.sh
cookie=$(ip netns exec "$HOSTNS" bash -c "source bench/signin.sh; sign_in http://127.0.0.1:$PORT $work/data")
token=$(sed 's/^vnetd_csrf=\([0-9a-f]*\);.*/\1/' <<<"$cookie")
ip netns exec "$HOSTNS" curl -fs -H "Cookie: $cookie" -o /dev/null --data "csrf_token=$token&action=save&version=0&enabled=on&network=10.132.0.0&mask=255.255.0.0&rangeStart=10.132.0.16&rangeEnd=10.132.255.254&server=10.132.0.1&gateway=&dnsServers=&winsServers=&leaseTime=3600&renewalTime=1800&rebindingTime=3150" "http://127.0.0.1:$PORT/networks/$network/dhcp"
# The two VMs' TAPs, made by the running vnetd in its namespace, move into namespaces of their
# own: VM 0000 is the client (10.132.0.2), VM 0001 leases the address its name stands for.
attach_vms() {
  local taps=() nic1 tap
  for _ in $(seq 100); do
    mapfile -t taps < <(ip -n "$HOSTNS" -br link | awk '/^vnd[0-9a-f]/ && $1 !~ /^vndn/ {sub(/@.*/, "", $1); print $1}' | sort)
    [ "${#taps[@]}" -ge 2 ] && break; sleep 0.1
  done
  [ "${#taps[@]}" -ge 2 ] || { echo "vnetd made no TAPs: $(tail -5 "$work"/vnetd*.log)" >&2; exit 1; }
  nic1=$(sqlite3 "$work/data/vnetd.sqlite" "SELECT nic.id FROM nic JOIN vm ON vm.id = nic.vm_id WHERE vm.name = 'VM 0001'")
  tap1=""; tap0=""
  for tap in "${taps[@]}"; do [[ "${nic1//-/}" == "${tap#vnd}"* ]] && tap1=$tap || tap0=$tap; done
  [ -n "$tap1" ] || { tap1=${taps[1]}; tap0=${taps[0]}; }
  for ns in "$CLI" "$OTHER"; do ip netns del "$ns" 2>/dev/null || true; ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip -n "$HOSTNS" link set "$tap0" netns "$CLI"; ip -n "$CLI" link set "$tap0" up
  ip -n "$HOSTNS" link set "$tap1" netns "$OTHER"; ip -n "$OTHER" link set "$tap1" up
  timeout 30 ip netns exec "$OTHER" busybox udhcpc -i "$tap1" -s "$work/udhcpc.sh" -n -q -t 10 -T 1 >/dev/null 2>&1
  address1=$(ip -n "$OTHER" -4 -o addr show dev "$tap1" | awk '{print $4}' | cut -d/ -f1)
  ip -n "$CLI" addr add 10.132.0.2/16 dev "$tap0"
  local answer=""
  for _ in $(seq 50); do
    answer=$(ip netns exec "$CLI" busybox nslookup -type=a "$name" 10.132.0.1 2>&1 || true)
    grep -q "$address1" <<<"$answer" && return 0; sleep 0.2
  done
  echo "vnetd does not answer $name with $address1: $answer $(tail -5 "$work"/vnetd*.log)" >&2; exit 1
}
cat > "$work/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
case "$1" in bound|renew) ip addr flush dev "$interface" scope global; ip addr add "$ip/$subnet" dev "$interface" ;; esac
SCRIPT
chmod +x "$work/udhcpc.sh"
echo "$name A" > "$work/queries"

measure() { # namespace server label -> queries per second
  local out
  out=$(ip netns exec "$1" dnsperf -s "$2" -d "$work/queries" -l "$SECONDS_EACH" -q "$INFLIGHT" -c 1 -T 1 2>&1)
  local qps lost
  qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
  lost=$(awk '/Queries lost/ {print $3}' <<<"$out")
  echo "   $3: ${qps} queries/s, lost $lost" >&2
  echo "$qps"
}

# Phase 1, guest-only network: the DHCP endpoint answers inside the switch.
echo "== vnetd, guest-only network (DNS inside the switch)"
attach_vms
guest_address=$address1

# The peer: dnsmasq 2.90 in a namespace of its own, answering the same name from a hosts file,
# its client across a veth pair (the kernel's shortest path between namespaces).
ip netns add "$PEER"; ip netns add "$SRV"; ip -n "$PEER" link set lo up; ip -n "$SRV" link set lo up
ip link add "vdq$tag" netns "$PEER" type veth peer name "vdr$tag" netns "$SRV"
ip -n "$PEER" addr add 10.133.0.2/16 dev "vdq$tag"; ip -n "$PEER" link set "vdq$tag" up
ip -n "$SRV" addr add 10.133.0.1/16 dev "vdr$tag"; ip -n "$SRV" link set "vdr$tag" up
echo "$address1 $name" > "$work/hosts"
ip netns exec "$SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$work/hosts" \
  --listen-address=10.133.0.1 --bind-interfaces --pid-file= --user=root 2>"$work/dnsmasq.log" &
pids+=($!)
sleep 0.5

guest_runs=(); host_runs=(); dnsmasq_runs=()
for run in $(seq "$RUNS"); do
  echo "== run $run (guest-only)" >&2
  guest_runs+=("$(measure "$CLI" 10.132.0.1 "vnetd guest-only")")
  dnsmasq_runs+=("$(measure "$PEER" 10.133.0.1 dnsmasq)")
done

# Phase 2, the same network as a host network: the server on the host interface (a socket in
# vnetd's namespace), reached through the host's TAP and the kernel.
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
sqlite3 "$work/data/vnetd.sqlite" "UPDATE network SET kind = 'host'"
echo "== vnetd, host network (DNS on the host interface)"
ip netns exec "$HOSTNS" "$bin" --listen 127.0.0.1:$PORT --data-dir "$work/data" --log-level warning 2>"$work/vnetd-host.log" &
pids[0]=$!
attach_vms
for run in $(seq "$RUNS"); do
  echo "== run $run (host network)" >&2
  host_runs+=("$(measure "$CLI" 10.132.0.1 "vnetd host network")")
  dnsmasq_runs+=("$(measure "$PEER" 10.133.0.1 dnsmasq)")
done

ratio() { awk -v v="$1" -v d="$2" 'BEGIN { if (d > 0) printf "%.2f", v / d; else print "-" }'; }
echo
echo "DNS, one VM name, $INFLIGHT queries in flight, ${SECONDS_EACH} s each (queries/s; dnsmasq measured right after each):"
for index in $(seq 0 $((RUNS - 1))); do
  g=${guest_runs[$index]}; d=${dnsmasq_runs[$index]}
  echo "  guest-only run $((index + 1)): vnetd $g, dnsmasq $d, ratio $(ratio "$g" "$d")x"
done
for index in $(seq 0 $((RUNS - 1))); do
  h=${host_runs[$index]}; d=${dnsmasq_runs[$((RUNS + index))]}
  echo "  host network run $((index + 1)): vnetd $h, dnsmasq $d, ratio $(ratio "$h" "$d")x"
done
