// Linux networking calls that need structures or macros Swift cannot import cleanly.
// Every function returns a file descriptor or 0 on success, and -errno on failure.
#ifndef VNETD_CLINUXNET_H
#define VNETD_CLINUXNET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include "vnetd_vhost_user.h"

/// Creates (or attaches to) the TAP interface `name`, in non-blocking mode, without packet
/// information headers. With `vnet_hdr`, frames carry a virtio-net header. Returns the fd.
int vnetd_tap_open(const char *name, int vnet_hdr);

/// Sets the offloads a TAP may hand over (TUNSETOFFLOAD flags) and the vnet header size.
int vnetd_tap_set_offload(int fd, unsigned int flags, int vnet_hdr_size);

/// The TUNSETOFFLOAD flags vnetd asks for: checksum offload and TCP segmentation (v4, v6, ECN).
unsigned int vnetd_tap_offload_flags(void);

/// Brings an interface of this network namespace up (IFF_UP).
int vnetd_interface_up(const char *name);

/// Sets an interface's hardware address (6 bytes).
int vnetd_interface_set_mac(const char *name, const uint8_t *mac);

/// Sets a TAP interface's hardware address through its descriptor: works wherever the
/// interface is now, also after it moved into another network namespace.
int vnetd_tap_set_mac(int fd, const uint8_t *mac);

/// The MTU of a TAP interface through its descriptor, wherever the interface is now (also after
/// it moved into another network namespace, which is then given a namespace id if it has none).
/// Returns the MTU or -errno.
int vnetd_tap_mtu(int fd);

/// Index of an interface of this network namespace.
int vnetd_interface_index(const char *name);

/// An AF_PACKET raw socket that reports 802.1Q tags (PACKET_AUXDATA), exchanges a virtio-net
/// header with every frame (PACKET_VNET_HDR), non-blocking, with a large receive buffer. It
/// sees the adapter's outgoing frames too (never those it sent itself). Made with protocol 0,
/// it receives nothing until `vnetd_packet_bind`, so a filter attached first applies to every
/// frame it ever queues. Returns the fd.
int vnetd_packet_socket(void);

/// Binds the socket to one interface for every protocol, promiscuous.
int vnetd_packet_bind(int fd, const char *interface_name);

/// Attaches (or replaces) a classic BPF filter. Incoming: broadcast and multicast pass; unicast
/// passes when its destination is one of `count` addresses at `macs` (6 bytes each), or, with
/// `all_unicast`, whatever its destination except `own` (may be NULL). Outgoing: only frames
/// from `own` (the host's stack), when broadcast, multicast or to one of `macs`; none without
/// `own`. -E2BIG: too many addresses.
int vnetd_packet_set_filter(int fd, const uint8_t *macs, int count, const uint8_t *own, int all_unicast);

/// Receives one frame into `buffer` and its virtio-net header into `header` (10 bytes), with
/// its 802.1Q tag put back when the kernel had taken it off (the header's offsets follow); the
/// frame starts at `*start`. Returns the frame's length, larger than `capacity - 4` when it did
/// not fit (the frame is then incomplete), or -errno.
long vnetd_packet_receive(int fd, uint8_t *header, uint8_t *buffer, size_t capacity, size_t *start);

/// Sends one frame behind its virtio-net header (`header` NULL: a plain frame). Returns the
/// bytes sent (header included) or -errno.
long vnetd_packet_send(int fd, const uint8_t *header, const uint8_t *frame, size_t length);

/// Frames the kernel queued for the socket and dropped (queue full) since the last call.
int vnetd_packet_statistics(int fd, unsigned int *packets, unsigned int *drops);

/// A TAP of vnetd's own, named `vndh<adapter's index>` (written to `name`, at least 16 bytes),
/// whose every received frame the kernel redirects to the ingress of `adapter`: a frame vnetd
/// writes to it reaches the host's stack as if it had arrived on the adapter (neighbour entries
/// and routes stay on the adapter). It takes the adapter's MAC `mac`, has no IPv6, and goes away
/// with the descriptor (also when vnetd dies). Needs CAP_NET_ADMIN. Returns the fd or -errno.
int vnetd_host_injector_open(const char *adapter, const uint8_t *mac, char *name, size_t name_size);

/// Writes one frame behind its virtio-net header (`header` NULL: a plain frame) to a TAP.
/// Returns the bytes written or -errno.
long vnetd_tap_send(int fd, const uint8_t *header, const uint8_t *frame, size_t length);

/// A non-blocking unix stream socket listening on `path` (an existing file there is removed
/// first). Returns the fd.
int vnetd_unix_listen(const char *path, int backlog);

/// A non-blocking unix datagram socket bound to `path` (an existing file is removed first).
int vnetd_unix_datagram(const char *path);

/// Receives one datagram; the sender's path is copied into `peer` (NUL-terminated, at most
/// `peer_size` bytes) when it has one. Returns the datagram's full size, which is larger than
/// `size` when it did not fit (nothing past `size` is written), or -errno.
long vnetd_unix_recvfrom(int fd, void *buffer, size_t size, char *peer, size_t peer_size);

/// Sends one datagram to the unix socket at `path`. Returns bytes sent or -errno.
long vnetd_unix_sendto(int fd, const void *buffer, size_t size, const char *path);

/// Accepts one connection, non-blocking and close-on-exec. Returns the fd or -errno.
int vnetd_accept(int listener);

/// Maximum length of a unix socket path on this system (sun_path size - 1).
size_t vnetd_unix_path_max(void);

/// The calling thread's kernel id (its /proc/self/task entry).
int vnetd_thread_id(void);

/// Datagram batches for recvmmsg (dgram_batch.c): `count` slots of `slot_size` bytes.
struct vnetd_dgram_batch;
struct vnetd_dgram_batch *vnetd_dgram_batch_new(int count, size_t slot_size);
void vnetd_dgram_batch_free(struct vnetd_dgram_batch *batch);
/// Receives up to `count` datagrams without waiting; returns how many, or -errno. A datagram
/// larger than a slot has a length over `slot_size` (its real size), its slot cut short.
int vnetd_dgram_batch_receive(int fd, struct vnetd_dgram_batch *batch);
const unsigned char *vnetd_dgram_batch_data(const struct vnetd_dgram_batch *batch, int index);
long vnetd_dgram_batch_length(const struct vnetd_dgram_batch *batch, int index);
/// The sender's path of datagram `index` (empty when it sent from an unbound socket).
void vnetd_dgram_batch_peer(const struct vnetd_dgram_batch *batch, int index, char *peer, size_t peer_size);

#endif
