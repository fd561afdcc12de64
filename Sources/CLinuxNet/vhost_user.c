#include "vnetd_vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define VNETD_CONTROL_FDS 16

long vnetd_recv_with_fds(int fd, void *buffer, size_t size, int *fds, int max_fds, int *fd_count) {
    char control[CMSG_SPACE(sizeof(int) * VNETD_CONTROL_FDS)];
    struct iovec vector = { .iov_base = buffer, .iov_len = size };
    struct msghdr message = { 0 };
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    *fd_count = 0;
    ssize_t count = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (count < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *received = (int *)CMSG_DATA(c);
        for (int i = 0; i < n; i++) {
            int one;
            memcpy(&one, received + i, sizeof(int));
            if (*fd_count < max_fds) fds[*fd_count] = one; else close(one);
            (*fd_count)++;
        }
    }
    if (message.msg_flags & MSG_CTRUNC) {
        for (int i = 0; i < *fd_count && i < max_fds; i++) close(fds[i]);
        *fd_count = 0;
        return -EBADMSG;
    }
    return count;
}

long vnetd_send_all(int fd, const void *buffer, size_t size) {
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send(fd, (const char *)buffer + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) { sent += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            if (poll(&p, 1, 100) > 0) continue;
            return -EAGAIN;
        }
        return n < 0 ? -errno : -EPIPE;
    }
    return (long)sent;
}

int vnetd_map_region(int fd, uint64_t offset, uint64_t size, void **base, void **mapping, size_t *mapping_length) {
    // Sealed first, so the size checked next is the size for good (a file that is no memfd
    // has no seals: EINVAL).
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) return VNETD_MAP_NOT_SEALED;
    struct stat info;
    if (fstat(fd, &info) < 0) return -errno;
    if (size == 0 || offset > UINT64_MAX - size || (uint64_t)info.st_size < offset + size) return -EINVAL;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t aligned = offset & ~((uint64_t)page - 1);
    uint64_t length = size + (offset - aligned);
    if (length > (uint64_t)SIZE_MAX) return -EINVAL;
    void *p = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, (off_t)aligned);
    if (p == MAP_FAILED) return -errno;
    *mapping = p;
    *mapping_length = (size_t)length;
    *base = (char *)p + (offset - aligned);
    return 0;
}

int vnetd_unmap(void *mapping, size_t length) {
    return munmap(mapping, length) < 0 ? -errno : 0;
}

int vnetd_peer_hung_up(int fd) {
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    int ready;
    do ready = poll(&p, 1, 0); while (ready < 0 && errno == EINTR);
    return ready > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) != 0;
}

int vnetd_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -errno;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno : 0;
}

int vnetd_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof(one));
        if (n == sizeof(one)) return 0;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? -errno : -EIO;
    }
}

void vnetd_eventfd_drain(int fd) {
    uint64_t value[8];
    for (int i = 0; i < 4; i++) {
        ssize_t n = read(fd, value, sizeof(value));
        if (n < (ssize_t)sizeof(value)) return;
    }
}
