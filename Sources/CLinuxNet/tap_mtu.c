#include "CLinuxNet.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

// A TAP moved into another network namespace cannot be looked up by name from vnetd's own:
// its namespace is found through the descriptor (TUNGETDEVNETNS) and asked through rtnetlink
// with IFLA_TARGET_NETNSID, which needs that namespace's id as vnetd's namespace knows it.

struct netlink_reply {
    struct nlmsghdr header;
    char payload[4096];
};

static int netlink_exchange(int socket_fd, struct nlmsghdr *request, struct netlink_reply *reply) {
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(socket_fd, request, request->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
    for (;;) {
        ssize_t length = recv(socket_fd, reply, sizeof *reply, 0);
        if (length < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if ((size_t)length < sizeof(struct nlmsghdr) || reply->header.nlmsg_len > (size_t)length) return -EPROTO;
        if (reply->header.nlmsg_seq != request->nlmsg_seq) continue;
        if (reply->header.nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *error = NLMSG_DATA(&reply->header);
            if (reply->header.nlmsg_len < NLMSG_LENGTH(sizeof *error)) return -EPROTO;
            return error->error;  // 0: an acknowledgement
        }
        return (int)length;
    }
}

static void add_attribute(struct nlmsghdr *message, unsigned short type, const void *data, unsigned short size) {
    struct rtattr *attribute = (struct rtattr *)((char *)message + NLMSG_ALIGN(message->nlmsg_len));
    attribute->rta_type = type;
    attribute->rta_len = RTA_LENGTH(size);
    memcpy(RTA_DATA(attribute), data, size);
    message->nlmsg_len = NLMSG_ALIGN(message->nlmsg_len) + RTA_ALIGN(attribute->rta_len);
}

/// The id vnetd's namespace gives `namespace_fd`'s namespace, assigned by the kernel when it has
/// none yet (RTM_NEWNSID with -1; harmless: the same ids `ip link` shows as link-netnsid).
static int namespace_id(int socket_fd, int namespace_fd, unsigned int *sequence) {
    for (int attempt = 0; attempt < 2; attempt++) {
        struct { struct nlmsghdr header; struct rtgenmsg family; char attributes[64]; } request;
        memset(&request, 0, sizeof request);
        request.header.nlmsg_len = NLMSG_LENGTH(sizeof request.family);
        request.header.nlmsg_type = attempt == 0 ? RTM_GETNSID : RTM_NEWNSID;
        request.header.nlmsg_flags = NLM_F_REQUEST | (attempt == 0 ? 0 : NLM_F_ACK);
        request.header.nlmsg_seq = ++*sequence;
        request.family.rtgen_family = AF_UNSPEC;
        unsigned int fd = (unsigned int)namespace_fd;
        add_attribute(&request.header, NETNSA_FD, &fd, sizeof fd);
        if (attempt == 1) {
            int any = -1;
            add_attribute(&request.header, NETNSA_NSID, &any, sizeof any);
        }
        struct netlink_reply reply;
        int result = netlink_exchange(socket_fd, &request.header, &reply);
        if (result < 0) return result;
        if (attempt == 1) continue;  // assigned: ask again
        if (reply.header.nlmsg_type != RTM_NEWNSID) return -EPROTO;
        int remaining = (int)reply.header.nlmsg_len - (int)NLMSG_LENGTH(sizeof(struct rtgenmsg));
        struct rtattr *attribute = (struct rtattr *)((char *)NLMSG_DATA(&reply.header) + NLMSG_ALIGN(sizeof(struct rtgenmsg)));
        for (; RTA_OK(attribute, remaining); attribute = RTA_NEXT(attribute, remaining)) {
            if (attribute->rta_type == NETNSA_NSID && RTA_PAYLOAD(attribute) >= sizeof(int)) {
                int id;
                memcpy(&id, RTA_DATA(attribute), sizeof id);
                if (id >= 0) return id;
            }
        }
    }
    return -ENOENT;
}

static int same_namespace_as_caller(int namespace_fd) {
    struct stat theirs, ours;
    if (fstat(namespace_fd, &theirs) < 0 || stat("/proc/thread-self/ns/net", &ours) < 0) return 0;
    return theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}

int vnetd_tap_mtu(int fd) {
    struct ifreq interface;
    memset(&interface, 0, sizeof interface);
    if (ioctl(fd, TUNGETIFF, &interface) < 0) return -errno;
    int namespace_fd = ioctl(fd, TUNGETDEVNETNS);
    if (namespace_fd < 0) return -errno;
    int socket_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (socket_fd < 0) {
        int error = errno;
        close(namespace_fd);
        return -error;
    }
    struct timeval timeout = { .tv_sec = 1 };
    setsockopt(socket_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    unsigned int sequence = 0;
    int target = same_namespace_as_caller(namespace_fd) ? -1 : namespace_id(socket_fd, namespace_fd, &sequence);
    close(namespace_fd);
    if (target < -1) {
        close(socket_fd);
        return target;
    }

    struct { struct nlmsghdr header; struct ifinfomsg link; char attributes[64]; } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof request.link);
    request.header.nlmsg_type = RTM_GETLINK;
    request.header.nlmsg_flags = NLM_F_REQUEST;
    request.header.nlmsg_seq = ++sequence;
    request.link.ifi_family = AF_UNSPEC;
    interface.ifr_name[IFNAMSIZ - 1] = 0;
    add_attribute(&request.header, IFLA_IFNAME, interface.ifr_name, (unsigned short)(strlen(interface.ifr_name) + 1));
    if (target >= 0) add_attribute(&request.header, IFLA_TARGET_NETNSID, &target, sizeof target);
    struct netlink_reply reply;
    int result = netlink_exchange(socket_fd, &request.header, &reply);
    close(socket_fd);
    if (result < 0) return result;
    if (reply.header.nlmsg_type != RTM_NEWLINK) return -EPROTO;
    int remaining = (int)reply.header.nlmsg_len - (int)NLMSG_LENGTH(sizeof(struct ifinfomsg));
    struct rtattr *attribute = IFLA_RTA((struct ifinfomsg *)NLMSG_DATA(&reply.header));
    for (; RTA_OK(attribute, remaining); attribute = RTA_NEXT(attribute, remaining)) {
        if (attribute->rta_type == IFLA_MTU && RTA_PAYLOAD(attribute) >= sizeof(unsigned int)) {
            unsigned int mtu;
            memcpy(&mtu, RTA_DATA(attribute), sizeof mtu);
            return mtu > 0x7fffffff ? -EPROTO : (int)mtu;
        }
    }
    return -ENOENT;
}
