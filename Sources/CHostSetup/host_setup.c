#include "CHostSetup.h"
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ipv6.h>

static int copy_name(struct ifreq *request, const char *name) {
    if (strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
    memset(request, 0, sizeof *request);
    strncpy(request->ifr_name, name, IFNAMSIZ - 1);
    return 0;
}

int vnetd_setup_ipv4_address(const char *name, const uint8_t address[4], int prefix_length) {
    if (prefix_length < 0 || prefix_length > 32) return -EINVAL;
    struct ifreq request;
    int result = copy_name(&request, name);
    if (result < 0) return result;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in *in = (struct sockaddr_in *)&request.ifr_addr;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, address, 4);
    if (ioctl(fd, SIOCSIFADDR, &request) < 0) {
        result = -errno;
    } else {
        uint32_t mask = prefix_length == 0 ? 0 : htonl(~((1u << (32 - prefix_length)) - 1));
        in = (struct sockaddr_in *)&request.ifr_netmask;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, &mask, 4);
        if (ioctl(fd, SIOCSIFNETMASK, &request) < 0) result = -errno;
    }
    close(fd);
    return result;
}

int vnetd_setup_ipv6_address(const char *name, const uint8_t address[16], int prefix_length, int add) {
    if (prefix_length < 0 || prefix_length > 128) return -EINVAL;
    unsigned int index = if_nametoindex(name);
    if (index == 0) return -errno;
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct in6_ifreq request;
    memset(&request, 0, sizeof request);
    memcpy(&request.ifr6_addr, address, 16);
    request.ifr6_prefixlen = (uint32_t)prefix_length;
    request.ifr6_ifindex = (int)index;
    int result = ioctl(fd, add ? SIOCSIFADDR : SIOCDIFADDR, &request) < 0 ? -errno : 0;
    close(fd);
    if (add && result == -EEXIST) return 0;
    if (!add && result == -EADDRNOTAVAIL) return 0;
    return result;
}
