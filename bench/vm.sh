#!/usr/bin/env bash
# Real-guest benchmark (issue 15): two QEMU guests talk through (a) a Linux kernel bridge with TAPs
# (vhost-net where /dev/vhost-net exists, QEMU's own copy loop otherwise), (b) vnetd with vhost-user
# ports, (c) vnetd with stream-socket ports, in one run. iperf3 TCP (one stream) and UDP with 64-byte
# datagrams, guest to guest. Not a test: prints figures and rewrites the real-guest section of
# bench/RESULTS.md.
#
# The guest is built here without internet beyond Debian's registry: Debian's cloud kernel and a
# busybox + iperf3 initramfs whose /init reads its role and address from the kernel command line,
# prints iperf3's JSON between markers on the serial console and powers off. KVM is used where the
# CPU offers hardware virtualisation; otherwise QEMU's TCG, and then the guests' emulated CPUs bound
# every figure (said next to them). Every guest runs under `timeout`; all traffic stays between the
# guests. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
TCP_SECONDS=${TCP_SECONDS:-10}
UDP_SECONDS=${UDP_SECONDS:-5}
MEMORY=${MEMORY:-256}
PORT=18485
GUEST=${GUEST_DIR:-$PWD/.build/bench-guest}
[ "$(id -u)" = 0 ] || { echo "bench/vm.sh needs root (TAP devices, bridges)" >&2; exit 1; }
for tool in qemu-system-x86_64 ip apt-get dpkg-deb sqlite3 python3 busybox; do
  command -v "$tool" >/dev/null || { echo "needs $tool (make bench installs it)" >&2; exit 1; }
done

if grep -Eqw 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
  ACCEL=(-accel kvm -cpu host); ACCEL_NAME=KVM
else
  ACCEL=(-accel tcg); ACCEL_NAME="TCG (no hardware virtualisation: the guests' emulated CPUs bound these figures)"
fi
[ -e /dev/vhost-net ] && VHOST_NET=on || VHOST_NET=off

# ---- the guest ---------------------------------------------------------------------------------
build_guest() {
  [ -f "$GUEST/initrd.img" ] && [ -f "$GUEST/vmlinuz" ] && return
  echo "== building the benchmark guest in $GUEST"
  rm -rf "$GUEST"; mkdir -p "$GUEST/debs" "$GUEST/unpacked" "$GUEST/tree"
  local kernel
  kernel=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  (cd "$GUEST/debs" && apt-get download -q "$kernel" busybox-static iperf3 libiperf0 libsctp1 libssl3 libc6 >/dev/null)
  for deb in "$GUEST"/debs/*.deb; do dpkg-deb -x "$deb" "$GUEST/unpacked"; done
  cp "$GUEST"/unpacked/boot/vmlinuz-* "$GUEST/vmlinuz"
  local root=$GUEST/unpacked tree=$GUEST/tree
  mkdir -p "$tree"/{bin,sbin,usr/bin,lib/modules,lib64,proc,sys,dev,tmp}
  cp "$root/bin/busybox" "$tree/bin/busybox"
  cp "$root/usr/bin/iperf3" "$tree/usr/bin/iperf3"
  # The libraries iperf3 needs, found by the packaged loader in the unpacked tree, not the host's.
  local loader=$root/lib64/ld-linux-x86-64.so.2
  [ -e "$loader" ] || loader=$(ls "$root"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)
  mkdir -p "$tree/lib/x86_64-linux-gnu"
  cp "$(readlink -f "$loader")" "$tree/lib64/ld-linux-x86-64.so.2"
  local path=$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu
  "$loader" --library-path "$path" --list "$root/usr/bin/iperf3" | awk '/=> \// {print $3}' | while read -r lib; do
    cp "$(readlink -f "$lib")" "$tree/lib/x86_64-linux-gnu/$(basename "$lib")"
  done
  for module in virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci failover net_failover virtio_net; do
    local file
    file=$(find "$root/lib/modules" -name "$module.ko*" | head -1)
    [ -n "$file" ] || { echo "module $module not in $kernel" >&2; exit 1; }
    case "$file" in
      *.ko.xz) xz -dc "$file" >"$tree/lib/modules/$module.ko" ;;
      *) cp "$file" "$tree/lib/modules/$module.ko" ;;
    esac
  done
  cat >"$tree/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci failover net_failover virtio_net; do
  insmod /lib/modules/$m.ko 2>/dev/null
done
for a in $(cat /proc/cmdline); do
  case $a in
    bench.role=*) role=${a#*=} ;; bench.ip=*) ip=${a#*=} ;; bench.peer=*) peer=${a#*=} ;;
    bench.tcp=*) tcp=${a#*=} ;; bench.udp=*) udp=${a#*=} ;;
  esac
done
ip link set lo up; ip addr add "$ip/24" dev eth0; ip link set eth0 up
if [ "$role" = server ]; then
  iperf3 -s -1 >/dev/null 2>&1; iperf3 -s -1 >/dev/null 2>&1
else
  n=0; until ping -c 1 -W 1 "$peer" >/dev/null 2>&1 || [ $n -ge 60 ]; do n=$((n+1)); done
  sleep 1
  echo "==TCP-BEGIN=="; iperf3 -c "$peer" -t "$tcp" -J; echo "==TCP-END=="
  sleep 1
  echo "==UDP-BEGIN=="; iperf3 -c "$peer" -u -l 64 -b 0 -t "$udp" -J; echo "==UDP-END=="
fi
poweroff -f
INIT
  chmod +x "$tree/init"
  (cd "$tree" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$GUEST/initrd.img"
}

# `bench/vm.sh guest` only builds the guest (into $GUEST_DIR, default .build/bench-guest).
if [ "${1:-}" = guest ]; then build_guest; exit 0; fi

# ---- running a pair ----------------------------------------------------------------------------
work=$(mktemp -d /tmp/vnetd-bench-vm.XXXXXX)
tag=$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  ip link del "vmbr$tag" 2>/dev/null || true
  ip link del "vmta$tag" 2>/dev/null || true; ip link del "vmtb$tag" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

guest() { # name role ip peer mac netdev-and-device-arguments...
  local name=$1 role=$2 ip=$3 peer=$4; shift 4
  timeout -k 5 $((TCP_SECONDS + UDP_SECONDS + 180)) qemu-system-x86_64 "${ACCEL[@]}" -m "$MEMORY" -smp 1 \
    -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img" \
    -append "console=ttyS0 quiet panic=-1 bench.role=$role bench.ip=$ip bench.peer=$peer bench.tcp=$TCP_SECONDS bench.udp=$UDP_SECONDS" \
    -display none -serial "file:$work/$name.log" -no-reboot -nodefaults "$@" &
  pids+=($!)
}

# Waits for the two guests of a run (in this shell: a subshell cannot wait for them).
wait_pair() { for pid in "${pids[@]: -2}"; do wait "$pid" 2>/dev/null || true; done; }

# Prints "tcp_gbps udp_pps udp_loss_pct" from the client's console.
results() { # client-log
  python3 - "$1" <<'PY'
import json, re, sys
text = open(sys.argv[1], errors="replace").read()
def block(name):
    m = re.search(r"==%s-BEGIN==\s*(\{.*?\n\})\s*==%s-END==" % (name, name), text, re.S)
    return json.loads(m.group(1)) if m else None
tcp, udp = block("TCP"), block("UDP")
if not tcp or not udp or "error" in tcp or "error" in udp:
    print("- - -"); sys.exit(0)
s = udp["end"]["sum"]
print("%.2f %.0f %.1f" % (tcp["end"]["sum_received"]["bits_per_second"] / 1e9,
                         (s["packets"] - s["lost_packets"]) / s["seconds"], s["lost_percent"]))
PY
}

build_guest
MAC_A=52:54:00:98:00:01 MAC_B=52:54:00:98:00:02

echo "== kernel bridge with TAPs (vhost-net $VHOST_NET), $ACCEL_NAME"
ip link add "vmbr$tag" type bridge; ip link set "vmbr$tag" up
for side in a b; do
  ip tuntap add "vmt$side$tag" mode tap; ip link set "vmt$side$tag" master "vmbr$tag"; ip link set "vmt$side$tag" up
done
guest bridge-server server 10.98.0.2 10.98.0.1 \
  -netdev tap,id=n0,ifname="vmtb$tag",script=no,downscript=no,vhost=$VHOST_NET -device virtio-net-pci,netdev=n0,mac=$MAC_B
guest bridge-client client 10.98.0.1 10.98.0.2 \
  -netdev tap,id=n0,ifname="vmta$tag",script=no,downscript=no,vhost=$VHOST_NET -device virtio-net-pci,netdev=n0,mac=$MAC_A
wait_pair
read -r k_tcp k_udp k_loss <<<"$(results "$work/bridge-client.log")"
ip link del "vmbr$tag"; ip link del "vmta$tag"; ip link del "vmtb$tag"

echo "== building vnetd (release)"
swift build -c release --product vnetd >/dev/null
bin=$(swift build -c release --show-bin-path)/vnetd

# vnetd with two VMs of one NIC each on one guest-only network, attached as $1.
start_vnetd() { # backend
  rm -rf "$work/data"
  "$bin" populate --data-dir "$work/data" --networks 1 --vms 2 --backend "$1" >/dev/null || return 1
  "$bin" --listen 127.0.0.1:$PORT --data-dir "$work/data" --log-level warning 2>"$work/vnetd-$1.log" &
  pids+=($!)
  mapfile -t nics < <(sqlite3 "$work/data/vnetd.sqlite" "SELECT id || ' ' || mac FROM nic ORDER BY id")
  for _ in $(seq 100); do [ "$(find "$work/data/run" -type s 2>/dev/null | wc -l)" -ge 2 ] && return 0; sleep 0.1; done
  echo "vnetd made no sockets for $1 (see $work/vnetd-$1.log)" >&2; return 1
}
stop_vnetd() { kill "${pids[-3]}" 2>/dev/null || true; wait "${pids[-3]}" 2>/dev/null || true; }
socket_of() { find "$work/data/run" -type s -name "$1*" | head -1; }

v_tcp=- v_udp=- v_loss=-
echo "== vnetd with vhost-user ports, $ACCEL_NAME"
if start_vnetd vhost-user; then
  read -r id_a mac_a <<<"${nics[0]}"; read -r id_b mac_b <<<"${nics[1]}"
  shared=(-object memory-backend-memfd,id=mem,size=${MEMORY}M,share=on -machine memory-backend=mem)
  # vectors=0: QEMU 7.2 under TCG crashes when the guest enables a vhost-user NIC with MSI-X.
  guest vhost-server server 10.98.0.2 10.98.0.1 "${shared[@]}" -chardev socket,id=c0,path="$(socket_of "$id_b")",reconnect=1 \
    -netdev vhost-user,id=n0,chardev=c0 -device virtio-net-pci,netdev=n0,mac="$mac_b",vectors=0
  guest vhost-client client 10.98.0.1 10.98.0.2 "${shared[@]}" -chardev socket,id=c0,path="$(socket_of "$id_a")",reconnect=1 \
    -netdev vhost-user,id=n0,chardev=c0 -device virtio-net-pci,netdev=n0,mac="$mac_a",vectors=0
  wait_pair
  read -r v_tcp v_udp v_loss <<<"$(results "$work/vhost-client.log")"
  stop_vnetd
else
  echo "   (skipped: this vnetd has no vhost-user ports)"
fi

echo "== vnetd with stream-socket ports, $ACCEL_NAME"
start_vnetd socket
read -r id_a mac_a <<<"${nics[0]}"; read -r id_b mac_b <<<"${nics[1]}"
guest stream-server server 10.98.0.2 10.98.0.1 \
  -netdev stream,id=n0,server=off,addr.type=unix,addr.path="$(socket_of "$id_b")" -device virtio-net-pci,netdev=n0,mac="$mac_b"
guest stream-client client 10.98.0.1 10.98.0.2 \
  -netdev stream,id=n0,server=off,addr.type=unix,addr.path="$(socket_of "$id_a")" -device virtio-net-pci,netdev=n0,mac="$mac_a"
wait_pair
read -r s_tcp s_udp s_loss <<<"$(results "$work/stream-client.log")"
stop_vnetd

ratio() { python3 -c "import sys; a,b=sys.argv[1],sys.argv[2]; print('-' if '-' in (a,b) or float(b)==0 else '%.2f×' % (float(a)/float(b)))" "$1" "$2"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
section=$(cat <<EOF
## Real guests (bench/vm.sh, $(date -u +%Y-%m-%d\ %H:%M) UTC)

Two QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') guests (Debian's cloud kernel, busybox + iperf3 initramfs, $MEMORY MiB, one vCPU
each) under **$ACCEL_NAME**, on $(nproc) cores ($cpu), guest to guest, one run.
iperf3 TCP one stream for ${TCP_SECONDS} s, UDP 64-byte datagrams unthrottled for ${UDP_SECONDS} s.

| Path | TCP Gbit/s | UDP 64 B datagrams/s received | UDP loss | TCP vs bridge |
|---|---|---|---|---|
| Kernel bridge + TAP (vhost-net $VHOST_NET) | $k_tcp | $k_udp | $k_loss % | 1.00× |
| vnetd, vhost-user ports | $v_tcp | $v_udp | $v_loss % | $(ratio "$v_tcp" "$k_tcp") |
| vnetd, stream-socket ports | $s_tcp | $s_udp | $s_loss % | $(ratio "$s_tcp" "$k_tcp") |
EOF
)
echo "$section"
python3 - "$section" <<'PY'
import re, sys
path = "bench/RESULTS.md"
text = open(path).read()
section = sys.argv[1].strip() + "\n"
pattern = re.compile(r"## Real guests \(bench/vm\.sh.*?(?=\n## |\Z)", re.S)
text = pattern.sub(section.rstrip("\n"), text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
PY
