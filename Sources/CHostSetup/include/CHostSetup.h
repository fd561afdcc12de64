#ifndef VNETD_CHOSTSETUP_H
#define VNETD_CHOSTSETUP_H
#include <stdint.h>

/// Adds an IPv4 address with its prefix to an interface (SIOCSIFADDR + SIOCSIFNETMASK).
/// Returns 0 or -errno.
int vnetd_setup_ipv4_address(const char *name, const uint8_t address[4], int prefix_length);

/// Adds (add = 1: SIOCSIFADDR) or removes (add = 0: SIOCDIFADDR) an IPv6 address with its
/// prefix on an interface. Adding one it has, or removing one it lacks, is not an error.
/// Returns 0 or -errno.
int vnetd_setup_ipv6_address(const char *name, const uint8_t address[16], int prefix_length, int add);

#endif
