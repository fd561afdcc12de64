#ifndef VNETD_CHOSTSETUP_H
#define VNETD_CHOSTSETUP_H
#include <stdint.h>

/// Adds an IPv4 address with its prefix to an interface (SIOCSIFADDR + SIOCSIFNETMASK).
/// Returns 0 or -errno.
int vnetd_setup_ipv4_address(const char *name, const uint8_t address[4], int prefix_length);

/// Adds an IPv6 address with its prefix to an interface (SIOCSIFADDR on an AF_INET6 socket).
/// An address the interface has already is not an error. Returns 0 or -errno.
int vnetd_setup_ipv6_address(const char *name, const uint8_t address[16], int prefix_length);

#endif
