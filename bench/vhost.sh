#!/usr/bin/env bash
# Forwarding cost, guest-independent: a vhost-user front-end load generator (bench/vhost-load.c,
# plays two guests' virtio-net drivers in one thread) drives two ports of (a) vnetd's vhost-user
# ports, (b) dpdk-testpmd as the switch (two net_vhost ports, io forwarding, one forwarding core,
# no hugepages), and (c) vnetd's QEMU stream-socket ports (-netdev stream framing), in one run.
# Frames/s at 64 bytes, Gbit/s at 1,500 bytes and with 64 KiB TCP segments (TSO), each for
# SECONDS after a one-second warm-up. Not a test: prints figures and rewrites the vhost section of
# bench/RESULTS.md. Unix sockets and shared memory only, no network traffic; every run bounded.
# Run it under the build lock: flock /tmp/vnetd-build.lock bench/vhost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-5}
PORT=18493
for tool in gcc sqlite3 dpdk-testpmd python3; do command -v "$tool" >/dev/null || { echo "needs $tool (make bench installs it)" >&2; exit 1; }; done

work=$(mktemp -d /tmp/vnetd-bench-vhost.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building vnetd (release) and the load generator"
swift build -c release --product vnetd >/dev/null
bin=$(swift build -c release --show-bin-path)/vnetd
gcc -O2 -Wall -o "$work/vhost-load" bench/vhost-load.c
load() { timeout $((SECONDS_EACH + 20)) "$work/vhost-load" "$@" || echo "0 0"; }

# Starts vnetd on a fresh data folder with two VMs on one network, adapters of kind $1; sets
# SOCK_A SOCK_B MAC_A MAC_B.
start_vnetd() {
  local data="$work/data-$1" suffix=$2
  "$bin" populate --data-dir "$data" --networks 1 --vms 2 --backend "$1" >/dev/null
  timeout 600 "$bin" --listen 127.0.0.1:$PORT --data-dir "$data" --log-level warning 2>"$work/vnetd-$1.log" &
  pids+=($!)
  for _ in $(seq 100); do [ "$(ls "$data"/run/*."$suffix" 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.1; done
  mapfile -t rows < <(sqlite3 "$data/vnetd.sqlite" "select id, mac from nic order by id")
  SOCK_A="$data/run/${rows[0]%%|*}.$suffix"; MAC_A="${rows[0]##*|}"
  SOCK_B="$data/run/${rows[1]%%|*}.$suffix"; MAC_B="${rows[1]##*|}"
}
stop_last() { kill "${pids[-1]}" 2>/dev/null || true; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

# vnetd's thread CPU while a run goes: "user+system seconds of the whole process over the run".
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }

ROUNDS=${ROUNDS:-3}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -a v64 v1500 vtso s64 s1500 d64 d1500 dtso vcpu
for round in $(seq "$ROUNDS"); do
  echo "== round $round: vnetd, vhost-user ports"
  start_vnetd vhost-user vhost
  vpid=$(pgrep -P "${pids[-1]}" | head -1)  # vnetd itself, not its timeout
  c0=$(cpu_of "$vpid"); t0=$(date +%s.%N)
  read -r pps _ <<<"$(load vhost "$SOCK_A" "$SOCK_B" 64 "$SECONDS_EACH" "$MAC_A" "$MAC_B")"; v64+=("$pps")
  c1=$(cpu_of "$vpid"); t1=$(date +%s.%N)
  vcpu+=("$(python3 -c "print('%.0f' % ((($c1) - ($c0)) / $(getconf CLK_TCK) / ($t1 - $t0) * 100))")")
  read -r _ gbps <<<"$(load vhost "$SOCK_A" "$SOCK_B" 1500 "$SECONDS_EACH" "$MAC_A" "$MAC_B")"; v1500+=("$gbps")
  read -r _ gbps <<<"$(load vhost "$SOCK_A" "$SOCK_B" 1500 "$SECONDS_EACH" "$MAC_A" "$MAC_B" tso)"; vtso+=("$gbps")
  stop_last

  echo "== round $round: dpdk-testpmd, net_vhost ports, io forwarding"
  rm -f "$work"/dpdk-*.sock
  timeout $((SECONDS_EACH * 3 + 60)) dpdk-testpmd -l 0,1 --no-huge -m 512 --no-pci --file-prefix "vnetd-bench-$$" \
    --vdev "net_vhost0,iface=$work/dpdk-a.sock,queues=1" --vdev "net_vhost1,iface=$work/dpdk-b.sock,queues=1" \
    -- --forward-mode=io --auto-start --nb-cores=1 --txd=256 --rxd=256 --total-num-mbufs=16384 \
    < <(sleep $((SECONDS_EACH * 3 + 40)); echo) >"$work/testpmd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$work/dpdk-b.sock" ] && break; sleep 0.1; done
  read -r pps _ <<<"$(load vhost "$work/dpdk-a.sock" "$work/dpdk-b.sock" 64 "$SECONDS_EACH" 02:00:00:00:00:01 02:00:00:00:00:02)"; d64+=("$pps")
  read -r _ gbps <<<"$(load vhost "$work/dpdk-a.sock" "$work/dpdk-b.sock" 1500 "$SECONDS_EACH" 02:00:00:00:00:01 02:00:00:00:00:02)"; d1500+=("$gbps")
  read -r _ gbps <<<"$(load vhost "$work/dpdk-a.sock" "$work/dpdk-b.sock" 1500 "$SECONDS_EACH" 02:00:00:00:00:01 02:00:00:00:00:02 tso)"; dtso+=("$gbps")
  stop_last

  echo "== round $round: vnetd, stream sockets"
  start_vnetd socket sock
  read -r pps _ <<<"$(load stream "$SOCK_A" "$SOCK_B" 64 "$SECONDS_EACH" "$MAC_A" "$MAC_B")"; s64+=("$pps")
  read -r _ gbps <<<"$(load stream "$SOCK_A" "$SOCK_B" 1500 "$SECONDS_EACH" "$MAC_A" "$MAC_B")"; s1500+=("$gbps")
  stop_last
  rm -rf "$work"/data-*
done
v64_pps=$(median "${v64[@]}"); v1500_gbps=$(median "${v1500[@]}"); vtso_gbps=$(median "${vtso[@]}")
d64_pps=$(median "${d64[@]}"); d1500_gbps=$(median "${d1500[@]}"); dtso_gbps=$(median "${dtso[@]}")
s64_pps=$(median "${s64[@]}"); s1500_gbps=$(median "${s1500[@]}"); v_cpu=$(median "${vcpu[@]}")
mlist() { for x in "$@"; do python3 -c "print('%.2f' % (float('$x') / 1e6))"; done | paste -sd/ -; }
glist() { printf '%s\n' "$@" | awk '{printf "%s%.1f", (NR>1?"/":""), $1}'; }
rounds=$(cat <<EOT
Each round, in order: vnetd vhost-user, dpdk-testpmd, vnetd stream sockets. Per round (Mframes/s at 64 B; Gbit/s at 1,500 B; Gbit/s TSO):
vnetd vhost-user $(mlist "${v64[@]}"); $(glist "${v1500[@]}"); $(glist "${vtso[@]}").
dpdk-testpmd $(mlist "${d64[@]}"); $(glist "${d1500[@]}"); $(glist "${dtso[@]}").
vnetd stream sockets $(mlist "${s64[@]}"); $(glist "${s1500[@]}").
EOT
)
echo "$rounds"

ratio() { python3 -c "a, b = float('$1'), float('$2'); print('%.2f×' % (a / b) if b else '–')"; }
mpps() { python3 -c "print('%.2f' % (float('$1') / 1e6))"; }
table=$(cat <<EOT
| Switch between two vhost-user front ends | 64 B: Mframes/s | 1,500 B: Gbit/s | 64 KiB TSO: Gbit/s |
|---|---|---|---|
| vnetd, vhost-user ports (kicks and calls through eventfds, no polling) | $(mpps "$v64_pps") | $v1500_gbps | $vtso_gbps |
| dpdk-testpmd, net_vhost, io forwarding (one core polling) | $(mpps "$d64_pps") | $d1500_gbps | $dtso_gbps |
| vnetd, QEMU stream sockets (no offloads: TSO not possible) | $(mpps "$s64_pps") | $s1500_gbps | – |
| vnetd vhost-user ÷ dpdk-testpmd | $(ratio "$v64_pps" "$d64_pps") | $(ratio "$v1500_gbps" "$d1500_gbps") | $(ratio "$vtso_gbps" "$dtso_gbps") |
| vnetd vhost-user ÷ vnetd stream sockets | $(ratio "$v64_pps" "$s64_pps") | $(ratio "$v1500_gbps" "$s1500_gbps") | – |
EOT
)
echo "$table"
section=$(cat <<EOT
<!-- vhost:begin -->
## vhost-user: forwarding cost between two front ends, vnetd vs. dpdk-testpmd

\`bench/vhost.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores shared. The front ends are
\`bench/vhost-load.c\` (one thread playing both guests' drivers: EVENT_IDX, mergeable receive
buffers, 256-entry rings, guest memory in a memfd; it polls and asks for no interrupts, and kicks
only when the back end asked). Each figure is what arrived at the receiving front end over
${SECONDS_EACH} s after a 1 s warm-up, the median of ${ROUNDS} rounds (the machine is shared: single
runs moved by up to 1.5×); TSO: 64,054-byte TCP segments, gso_size 1,448, which both
switches pass whole. dpdk-testpmd (DPDK $(dpkg-query -W -f '${Version}' dpdk 2>/dev/null || echo '?')) runs with \`--no-huge\`,
one forwarding core that polls all the time; vnetd's loop sleeps in epoll until a kick
(its process used ${v_cpu}% of a core during the 64-byte runs). vnetd: release build.

$table

$rounds
<!-- vhost:end -->
EOT
)
results=bench/RESULTS.md
if grep -q '<!-- vhost:begin -->' "$results"; then
  python3 - "$results" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
open(path, "w").write(re.sub(r"<!-- vhost:begin -->.*?<!-- vhost:end -->", lambda _: section, text, flags=re.S))
PY
else
  printf '\n%s\n' "$section" >> "$results"
fi
echo "wrote $results"
