#include "testnet_vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int testnet_memfd(const char *name, size_t size, int sealed, void **mapping) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -errno;
    if (ftruncate(fd, (off_t)size) < 0) { int e = errno; close(fd); return -e; }
    if (sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) { int e = errno; close(fd); return -e; }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { int e = errno; close(fd); return -e; }
    memset(p, 0, size);
    *mapping = p;
    return fd;
}

int testnet_unix_connect(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    strncpy(address.sun_path, path, sizeof(address.sun_path) - 1);
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0) { int e = errno; close(fd); return -e; }
    return fd;
}

long testnet_send_with_fds(int fd, const void *buffer, size_t length, const int *fds, int count) {
    char control[CMSG_SPACE(sizeof(int) * 32)];
    if (count > 32) return -EINVAL;
    struct iovec vector = { .iov_base = (void *)buffer, .iov_len = length };
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1 };
    if (count > 0) {
        memset(control, 0, sizeof(control));
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *c = CMSG_FIRSTHDR(&message);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
    }
    ssize_t n = sendmsg(fd, &message, MSG_NOSIGNAL);
    return n < 0 ? -errno : n;
}

long testnet_recv_exact(int fd, void *buffer, size_t length, int milliseconds) {
    size_t got = 0;
    while (got < length) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int ready = poll(&p, 1, milliseconds);
        if (ready == 0) return -ETIMEDOUT;
        if (ready < 0) { if (errno == EINTR) continue; return -errno; }
        ssize_t n = recv(fd, (char *)buffer + got, length - got, 0);
        if (n == 0) return 0;
        if (n < 0) { if (errno == EINTR) continue; return -errno; }
        got += (size_t)n;
    }
    return (long)got;
}

int testnet_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

uint64_t testnet_eventfd_take(int fd) {
    uint64_t value = 0;
    if (read(fd, &value, sizeof(value)) != sizeof(value)) return 0;
    return value;
}

int testnet_eventfd_kick(int fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}
