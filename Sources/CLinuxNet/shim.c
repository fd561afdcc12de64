#include "CLinuxNet.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>


int vnetd_tap_open(const char *name, int vnet_hdr) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    request.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int vnetd_tap_set_offload(int fd, unsigned int flags, int vnet_hdr_size) {
    if (vnet_hdr_size > 0 && ioctl(fd, TUNSETVNETHDRSZ, &vnet_hdr_size) < 0) return -errno;
    if (ioctl(fd, TUNSETOFFLOAD, flags) < 0) return -errno;
    return 0;
}

static int control_socket(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int vnetd_interface_up(const char *name) {
    int fd = control_socket();
    if (fd < 0) return fd;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    int result = 0;
    if (ioctl(fd, SIOCGIFFLAGS, &request) < 0) {
        result = -errno;
    } else {
        request.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &request) < 0) result = -errno;
    }
    close(fd);
    return result;
}

int vnetd_interface_index(const char *name) {
    int fd = control_socket();
    if (fd < 0) return fd;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    int result = ioctl(fd, SIOCGIFINDEX, &request) < 0 ? -errno : request.ifr_ifindex;
    close(fd);
    return result;
}

int vnetd_packet_socket(void) {
    // Protocol 0: the socket receives nothing until it is bound with a protocol, so no frame of
    // another interface (loopback, with the admin site's plain HTTP) is queued before the bind
    // and the filter are in place.
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    int buffer = 4 << 20;
    // PACKET_VNET_HDR: every frame crosses with a virtio-net header, so a checksum left
    // unfinished (a local veth) or a GRO'd 64 KiB frame from the LAN arrives saying so, and
    // a whole TCP segment for the LAN is segmented by the kernel (or the NIC) on the way out.
    // Outgoing frames are not ignored: the host's own, for its VMs, are let in by the filter;
    // the kernel never loops back what this socket sent.
    if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    // A larger queue for bursts from the LAN; FORCE needs CAP_NET_ADMIN, else the sysctl cap applies.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    }
    return fd;
}

int vnetd_packet_bind(int fd, const char *interface_name) {
    int index = vnetd_interface_index(interface_name);
    if (index < 0) return index;
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = index;
    struct packet_mreq membership;
    memset(&membership, 0, sizeof membership);
    membership.mr_ifindex = index;
    membership.mr_type = PACKET_MR_PROMISC;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof membership) < 0) {
        return -errno;
    }
    return 0;
}

static uint32_t low_word(const uint8_t *mac) {
    return (uint32_t)mac[2] << 24 | (uint32_t)mac[3] << 16 | (uint32_t)mac[4] << 8 | mac[5];
}

static uint32_t high_half(const uint8_t *mac) {
    return (uint32_t)mac[0] << 8 | mac[1];
}

/// Appends "accept when the destination is one of `count` addresses", falling through otherwise.
static size_t match_destinations(struct sock_filter *code, size_t n, const uint8_t *macs, int count, uint32_t accept) {
    for (int i = 0; i < count; i++) {
        const uint8_t *mac = macs + 6 * i;
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2);
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, low_word(mac), 0, 3);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0);
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, high_half(mac), 0, 1);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, accept);
    }
    return n;
}

int vnetd_packet_set_filter(int fd, const uint8_t *macs, int count, const uint8_t *own, int all_unicast) {
    enum { ACCEPT = 0x40000 };
    if (count < 0) return -EINVAL;
    size_t incoming = 3 + (all_unicast ? 6 : (size_t)count * 5 + 1);
    size_t outgoing = 6 + 3 + (size_t)count * 5 + 1;
    size_t most = 3 + incoming + outgoing;
    if (most > BPF_MAXINSNS) return -E2BIG;
    struct sock_filter *code = calloc(most, sizeof *code);
    if (code == NULL) return -ENOMEM;
    size_t n = 0;
    // Outgoing (the host's own frames on the adapter) apart from the rest.
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE);
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 1);
    size_t to_outgoing = n;
    code[n++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);  // offset set below

    // From the LAN. Broadcast and multicast: the group bit of the destination's first byte.
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0);
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ACCEPT);
    if (all_unicast) {
        if (own != NULL) {
            code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2);
            code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, low_word(own), 0, 2);
            code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0);
            code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, high_half(own), 1, 0);
        }
        code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ACCEPT);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
    } else {
        n = match_destinations(code, n, macs, count, ACCEPT);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
    }

    // From the host: only what the host's stack sent (its source is the adapter's address, not
    // another packet socket's), and only broadcast, multicast or unicast to the network's VMs,
    // never the host's traffic with the LAN.
    code[to_outgoing].k = (uint32_t)(n - to_outgoing - 1);
    if (own != NULL) {
        size_t drop_jumps[2];
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8);
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, low_word(own), 1, 0);
        drop_jumps[0] = n;
        code[n++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6);
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, high_half(own), 1, 0);
        drop_jumps[1] = n;
        code[n++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0);
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ACCEPT);
        n = match_destinations(code, n, macs, count, ACCEPT);
        for (int i = 0; i < 2; i++) code[drop_jumps[i]].k = (uint32_t)(n - drop_jumps[i] - 1);
    }
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog program = { .len = (unsigned short)n, .filter = code };
    int result = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0 ? -errno : 0;
    free(code);
    return result;
}

long vnetd_packet_receive(int fd, uint8_t *header, uint8_t *buffer, size_t capacity, size_t *start) {
    if (capacity < 16) return -EINVAL;
    struct iovec vectors[2] = { { header, 10 }, { buffer + 4, capacity - 4 } };
    union {
        struct cmsghdr align;
        char data[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    } control;
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = vectors;
    message.msg_iovlen = 2;
    message.msg_control = &control;
    message.msg_controllen = sizeof control;
    ssize_t length = recvmsg(fd, &message, MSG_TRUNC);
    if (length < 0) return -errno;
    *start = 4;
    if (length < 10) return -EBADMSG;
    length -= 10;
    if ((size_t)length > capacity - 4 || length < 12) return (long)length;
    for (struct cmsghdr *entry = CMSG_FIRSTHDR(&message); entry != NULL; entry = CMSG_NXTHDR(&message, entry)) {
        if (entry->cmsg_level != SOL_PACKET || entry->cmsg_type != PACKET_AUXDATA) continue;
        struct tpacket_auxdata aux;
        memcpy(&aux, CMSG_DATA(entry), sizeof aux);
        if (!(aux.tp_status & TP_STATUS_VLAN_VALID)) break;
        // The kernel took the 802.1Q tag off before the tap: put it back after the addresses,
        // and move the header's offsets with the bytes they point into.
        uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : ETH_P_8021Q;
        memmove(buffer, buffer + 4, 12);
        buffer[12] = (uint8_t)(tpid >> 8);
        buffer[13] = (uint8_t)tpid;
        buffer[14] = (uint8_t)(aux.tp_vlan_tci >> 8);
        buffer[15] = (uint8_t)aux.tp_vlan_tci;
        if (header[0] & 1) {  // VIRTIO_NET_HDR_F_NEEDS_CSUM: csum_start
            uint16_t csum_start = (uint16_t)(header[6] | header[7] << 8) + 4;
            header[6] = (uint8_t)csum_start;
            header[7] = (uint8_t)(csum_start >> 8);
        }
        if (header[1] != 0) {  // a GSO frame: hdr_len
            uint16_t hdr_len = (uint16_t)(header[2] | header[3] << 8) + 4;
            header[2] = (uint8_t)hdr_len;
            header[3] = (uint8_t)(hdr_len >> 8);
        }
        *start = 0;
        return (long)length + 4;
    }
    return (long)length;
}

long vnetd_packet_send(int fd, const uint8_t *header, const uint8_t *frame, size_t length) {
    static const uint8_t plain[10] = {0};
    struct iovec vectors[2] = { { (void *)(header ? header : plain), 10 }, { (void *)frame, length } };
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = vectors;
    message.msg_iovlen = 2;
    ssize_t sent = sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    return sent < 0 ? -errno : (long)sent;
}

int vnetd_packet_statistics(int fd, unsigned int *packets, unsigned int *drops) {
    struct tpacket_stats statistics;
    socklen_t length = sizeof statistics;
    if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &statistics, &length) < 0) return -errno;
    *packets = statistics.tp_packets;
    *drops = statistics.tp_drops;
    return 0;
}

/// Fills a unix address for `path`; returns its length for bind/sendto, or -ENAMETOOLONG. A path
/// of exactly sizeof sun_path bytes is valid on Linux and has no terminating NUL.
static int unix_address(const char *path, struct sockaddr_un *address) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length > sizeof address->sun_path) return -ENAMETOOLONG;
    memcpy(address->sun_path, path, length);
    return (int)(offsetof(struct sockaddr_un, sun_path) + length + (length < sizeof address->sun_path ? 1 : 0));
}

int vnetd_unix_listen(const char *path, int backlog) {
    struct sockaddr_un address;
    int length = unix_address(path, &address);
    if (length < 0) return length;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&address, (socklen_t)length) < 0 || listen(fd, backlog) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int vnetd_unix_datagram(const char *path) {
    struct sockaddr_un address;
    int length = unix_address(path, &address);
    if (length < 0) return length;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&address, (socklen_t)length) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

long vnetd_unix_recvfrom(int fd, void *buffer, size_t size, char *peer, size_t peer_size) {
    struct sockaddr_un address;
    socklen_t length = sizeof address;
    memset(&address, 0, sizeof address);
    // MSG_TRUNC: the datagram's real size, so the caller can drop one larger than its buffer
    // instead of forwarding it cut short.
    ssize_t received = recvfrom(fd, buffer, size, MSG_TRUNC, (struct sockaddr *)&address, &length);
    if (received < 0) return -errno;
    if (peer != NULL && peer_size > 0) {
        peer[0] = '\0';
        size_t offset = offsetof(struct sockaddr_un, sun_path);
        if (length > offset && address.sun_path[0] != '\0') {
            // The name is at most sizeof sun_path bytes and need not end in a NUL.
            size_t available = (size_t)length - offset;
            if (available > sizeof address.sun_path) available = sizeof address.sun_path;
            size_t name = strnlen(address.sun_path, available);
            if (name > peer_size - 1) name = peer_size - 1;
            memcpy(peer, address.sun_path, name);
            peer[name] = '\0';
        }
    }
    return (long)received;
}

long vnetd_unix_sendto(int fd, const void *buffer, size_t size, const char *path) {
    struct sockaddr_un address;
    int length = unix_address(path, &address);
    if (length < 0) return length;
    ssize_t sent = sendto(fd, buffer, size, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&address, (socklen_t)length);
    return sent < 0 ? -errno : (long)sent;
}

size_t vnetd_unix_path_max(void) {
    struct sockaddr_un address;
    return sizeof address.sun_path - 1;
}

int vnetd_accept(int listener) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int vnetd_interface_set_mac(const char *name, const uint8_t *mac) {
    int fd = control_socket();
    if (fd < 0) return fd;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    request.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
    memcpy(request.ifr_hwaddr.sa_data, mac, 6);
    int result = ioctl(fd, SIOCSIFHWADDR, &request) < 0 ? -errno : 0;
    close(fd);
    return result;
}

unsigned int vnetd_tap_offload_flags(void) {
    return TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
}

int vnetd_tap_set_mac(int fd, const uint8_t *mac) {
    struct ifreq request;
    memset(&request, 0, sizeof request);
    request.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
    memcpy(request.ifr_hwaddr.sa_data, mac, 6);
    return ioctl(fd, SIOCSIFHWADDR, &request) < 0 ? -errno : 0;
}

int vnetd_thread_id(void) {
    return (int)gettid();
}
