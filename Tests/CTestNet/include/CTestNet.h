// Test-only helpers for what Swift cannot call (setns is behind _GNU_SOURCE).
#ifndef VNETD_CTESTNET_H
#define VNETD_CTESTNET_H

#include <stddef.h>
#include <stdint.h>

#include "testnet_vhost.h"

/// Sends `frame` as it is, `times` times 50 ms apart, on `interface` inside the network
/// namespace at `netns_path`, from a thread of its own (setns changes only the calling thread).
/// Returns 0 or -errno.
int testnet_send_raw(const char *netns_path, const char *interface, const uint8_t *frame, size_t length, int times);

/// Moves `bytes` of a pseudo-random stream (seeded) over TCP from a client in the network
/// namespace at `client_netns` to a server listening in `server_netns` on `address:port`
/// (IPv4), each on a thread of its own. The server checks every byte against the same stream.
/// Returns the number of bytes received intact before the first wrong one or the end, or
/// -errno; gives up after `seconds`.
long testnet_tcp_transfer(const char *client_netns, const char *server_netns, const char *address, int port,
                          long bytes, unsigned int seed, int seconds);

/// Sends `count` frames of `length` bytes each from `frames` (`kinds` of them back to back,
/// taken in turn) on `interface` inside the namespace at `netns_path`, paced at `per_second`,
/// from a thread of its own. Returns the microseconds it took, or -errno.
long testnet_send_paced(const char *netns_path, const char *interface, const uint8_t *frames, size_t length, int kinds,
                        long count, long per_second);

/// Counts the frames of EtherType `ethertype` that `interface` inside the namespace at
/// `netns_path` receives during `milliseconds`, by the first payload byte (`counts` has 256
/// slots), from a thread of its own; frames it sends itself are not counted. Returns 0 or -errno.
int testnet_count_raw(const char *netns_path, const char *interface, uint16_t ethertype, int milliseconds, long *counts);

#endif
