// Test-only helpers for what Swift cannot call (setns is behind _GNU_SOURCE).
#ifndef VNETD_CTESTNET_H
#define VNETD_CTESTNET_H

#include <stddef.h>
#include <stdint.h>

/// Sends `frame` as it is, `times` times 50 ms apart, on `interface` inside the network
/// namespace at `netns_path`, from a thread of its own (setns changes only the calling thread).
/// Returns 0 or -errno.
int testnet_send_raw(const char *netns_path, const char *interface, const uint8_t *frame, size_t length, int times);

#endif
