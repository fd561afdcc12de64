// The way back to the host's own stack for frames the VMs of an external network send to the host
// (see vnetd_host_injector_open in CLinuxNet.h). Traffic control is set up over rtnetlink with
// libnl-3 and libnl-route-3.
#include "CLinuxNet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>
#include <sys/uio.h>

static int errno_of(int nl_error) {
    switch (nl_error < 0 ? -nl_error : nl_error) {
    case NLE_PERM: case NLE_NOACCESS: return EPERM;
    case NLE_EXIST: return EEXIST;
    case NLE_NOMEM: return ENOMEM;
    case NLE_OBJ_NOTFOUND: return ENOENT;
    case NLE_NODEV: return ENODEV;
    case NLE_OPNOTSUPP: case NLE_MSGTYPE_NOSUPPORT: return EOPNOTSUPP;
    case NLE_BUSY: return EBUSY;
    case NLE_INVAL: return EINVAL;
    default: return EPROTO;
    }
}

/// The filter: u32 matching every frame (matchall is missing from some kernels), whose action
/// (mirred, "ingress redirect") hands the frame to the ingress of `adapter`. libnl-route 3.7's
/// mirred supports egress only, so this message is built with libnl's attribute calls.
static int add_redirect_filter(struct nl_sock *socket, int tap, int adapter) {
    struct nl_msg *message = nlmsg_alloc_simple(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL);
    if (message == NULL) return -NLE_NOMEM;
    struct tcmsg header = {
        .tcm_family = AF_UNSPEC,
        .tcm_ifindex = tap,
        .tcm_parent = TC_HANDLE(0xFFFF, 0),
        .tcm_info = TC_H_MAKE(1 << 16, htons(ETH_P_ALL)),  // priority 1, every protocol
    };
    struct {
        struct tc_u32_sel selector;
        struct tc_u32_key key;  // value 0 under mask 0: every frame
    } match = { .selector = { .flags = TC_U32_TERMINAL, .nkeys = 1 } };
    struct tc_mirred redirect = { .action = TC_ACT_STOLEN, .eaction = TCA_INGRESS_REDIR, .ifindex = (uint32_t)adapter };
    struct nlattr *options, *actions, *first, *parameters;
    int error = -NLE_NOMEM;
    if (nlmsg_append(message, &header, sizeof header, NLMSG_ALIGNTO) < 0 ||
        nla_put_string(message, TCA_KIND, "u32") < 0 ||
        (options = nla_nest_start(message, TCA_OPTIONS)) == NULL ||
        nla_put(message, TCA_U32_SEL, sizeof match, &match) < 0 ||
        (actions = nla_nest_start(message, TCA_U32_ACT)) == NULL ||
        (first = nla_nest_start(message, 1)) == NULL ||
        nla_put_string(message, TCA_ACT_KIND, "mirred") < 0 ||
        (parameters = nla_nest_start(message, TCA_ACT_OPTIONS)) == NULL ||
        nla_put(message, TCA_MIRRED_PARMS, sizeof redirect, &redirect) < 0) {
        nlmsg_free(message);
        return error;
    }
    nla_nest_end(message, parameters);
    nla_nest_end(message, first);
    nla_nest_end(message, actions);
    nla_nest_end(message, options);
    return nl_send_sync(socket, message);  // frees the message; waits for the kernel's answer
}

/// An ingress qdisc on `tap` with the redirect filter. Whatever was there before (a TAP of the
/// same name kept by someone) is replaced.
static int redirect_ingress(int tap, int adapter) {
    struct nl_sock *socket = nl_socket_alloc();
    if (socket == NULL) return -ENOMEM;
    struct rtnl_qdisc *qdisc = rtnl_qdisc_alloc();
    int error = 0;
    if (qdisc == NULL) {
        error = -NLE_NOMEM;
        goto done;
    }
    if ((error = nl_connect(socket, NETLINK_ROUTE)) < 0) goto done;
    rtnl_tc_set_ifindex(TC_CAST(qdisc), tap);
    rtnl_tc_set_parent(TC_CAST(qdisc), TC_H_INGRESS);
    rtnl_tc_set_handle(TC_CAST(qdisc), TC_HANDLE(0xFFFF, 0));
    if ((error = rtnl_tc_set_kind(TC_CAST(qdisc), "ingress")) < 0) goto done;
    rtnl_qdisc_delete(socket, qdisc);  // none there is the usual case
    if ((error = rtnl_qdisc_add(socket, qdisc, NLM_F_CREATE | NLM_F_EXCL)) < 0) goto done;
    error = add_redirect_filter(socket, tap, adapter);
done:
    if (qdisc != NULL) rtnl_qdisc_put(qdisc);
    nl_socket_free(socket);
    return error < 0 ? -errno_of(error) : 0;
}

int vnetd_host_injector_open(const char *adapter, const uint8_t *mac, char *name, size_t name_size) {
    int adapter_index = vnetd_interface_index(adapter);
    if (adapter_index < 0) return adapter_index;
    if (name_size < 16) return -EINVAL;
    snprintf(name, name_size, "vndh%d", adapter_index);
    int fd = vnetd_tap_open(name, 1);
    if (fd < 0) return fd;
    // The adapter's own address, so that a unicast frame for the host is "for this host"
    // (PACKET_HOST) when the TAP receives it: the redirect keeps that verdict, and the host's
    // stack drops frames for other hosts.
    int result = mac != NULL ? vnetd_tap_set_mac(fd, mac) : 0;
    if (result == 0) {
        // No IPv6 link-local address, so the TAP itself never speaks.
        char path[96];
        snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
        int sysctl = open(path, O_WRONLY | O_CLOEXEC);
        if (sysctl >= 0) {
            (void)!write(sysctl, "1", 1);
            close(sysctl);
        }
        result = vnetd_interface_up(name);
    }
    int tap_index = result == 0 ? vnetd_interface_index(name) : result;
    result = tap_index < 0 ? tap_index : redirect_ingress(tap_index, adapter_index);
    if (result < 0) {
        close(fd);  // the TAP is not persistent: it goes with its descriptor
        return result;
    }
    return fd;
}

long vnetd_tap_send(int fd, const uint8_t *header, const uint8_t *frame, size_t length) {
    static const uint8_t plain[10] = {0};
    struct iovec vectors[2] = { { (void *)(header ? header : plain), 10 }, { (void *)frame, length } };
    ssize_t written = writev(fd, vectors, 2);
    return written < 0 ? -errno : (long)written;
}
