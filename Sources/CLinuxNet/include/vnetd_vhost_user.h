// Calls vhost-user ports need that Swift cannot make cleanly (SCM_RIGHTS, mmap of a region).
// Every function returns a count, a descriptor or 0 on success, and -errno on failure.
#ifndef VNETD_VHOST_USER_H
#define VNETD_VHOST_USER_H

#include <stddef.h>
#include <stdint.h>

/// Receives up to `size` bytes from a unix stream socket, non-blocking, with the descriptors
/// sent beside them (close-on-exec). At most `max_fds` are stored in `fds`; any beyond that are
/// closed at once, and `*fd_count` is the number that arrived (so the caller sees the excess).
/// Descriptors the kernel had to discard (more than fit the control buffer) make it -EBADMSG.
/// Returns the bytes received (0: end of stream).
long vnetd_recv_with_fds(int fd, void *buffer, size_t size, int *fds, int max_fds, int *fd_count);

/// Sends all of `buffer` on a stream socket without SIGPIPE (waits at most 100 ms per call for
/// room: replies are small). Returns the bytes sent.
long vnetd_send_all(int fd, const void *buffer, size_t size);

/// What `vnetd_map_region` returns for a file that is not sealed against shrinking (outside
/// the range of -errno).
#define VNETD_MAP_NOT_SEALED (-4096)

/// Maps `size` bytes at `offset` of a region descriptor (shared, read-write), after checking
/// the file is at least `offset + size` long and sealed against shrinking (F_SEAL_SHRINK): a
/// mapping beyond a file's end raises SIGBUS when touched, and without the seal the front end
/// could ftruncate the file at any time after this check. The offset need not be page-aligned:
/// `*base` is where byte `offset` is mapped; `*mapping` and `*mapping_length` are what to
/// unmap. Returns 0, VNETD_MAP_NOT_SEALED or -errno.
int vnetd_map_region(int fd, uint64_t offset, uint64_t size, void **base, void **mapping, size_t *mapping_length);

int vnetd_unmap(void *mapping, size_t length);

/// 1 when the peer of a connected stream socket has hung up or failed (POLLHUP, POLLRDHUP,
/// POLLERR), without reading anything; 0 while it is there.
int vnetd_peer_hung_up(int fd);

/// Makes a descriptor a front end handed over non-blocking (a pipe passed as an eventfd must
/// never block the loop).
int vnetd_set_nonblocking(int fd);

/// Adds 1 to an eventfd (a call to the driver, or a kick to ourselves). Returns 0 or -errno.
int vnetd_eventfd_signal(int fd);

/// Empties an eventfd (or reads and discards what a non-eventfd holds, bounded).
void vnetd_eventfd_drain(int fd);

#endif
