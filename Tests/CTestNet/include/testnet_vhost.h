// A vhost-user front end's system calls for tests (what QEMU does: memfd guest memory, file
// descriptors over SCM_RIGHTS, eventfds).
#ifndef VNETD_TESTNET_VHOST_H
#define VNETD_TESTNET_VHOST_H

#include <stddef.h>
#include <stdint.h>

/// A memfd of `size` bytes mapped shared at `*mapping`, sealed against shrinking and growing
/// when `sealed` (as QEMU's memory-backend-memfd does by default). Returns the fd or -errno.
int testnet_memfd(const char *name, size_t size, int sealed, void **mapping);

/// Connects a blocking unix stream socket to `path`. Returns the fd or -errno.
int testnet_unix_connect(const char *path);

/// Sends `length` bytes with `count` descriptors beside them. Returns bytes sent or -errno.
long testnet_send_with_fds(int fd, const void *buffer, size_t length, const int *fds, int count);

/// Receives exactly `length` bytes within `milliseconds`. Returns `length`, 0 at end of stream,
/// -ETIMEDOUT or -errno.
long testnet_recv_exact(int fd, void *buffer, size_t length, int milliseconds);

/// A non-blocking eventfd. Returns the fd or -errno.
int testnet_eventfd(void);

/// Reads an eventfd's counter (0 when nothing was signalled).
uint64_t testnet_eventfd_take(int fd);

/// Adds 1 to an eventfd.
int testnet_eventfd_kick(int fd);

#endif
