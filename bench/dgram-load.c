// Load generator for the datagram row of bench/switch.sh: plays two QEMU -netdev dgram peers.
//
//   dgram-load vnetd  VNETD_PATH_A VNETD_PATH_B SIZE SECONDS MAC_A MAC_B
//   dgram-load direct SIZE SECONDS
//
// vnetd: peer A binds a path of its own and sends SIZE-byte frames from MAC_A to MAC_B into
// vnetd's socket of NIC A, in batches of 32 (sendmmsg, blocking: the kernel's queue paces it);
// peer B, after one frame that makes the switch learn MAC_B and vnetd learn B's address, counts
// what arrives on its own path (recvmmsg). direct: A sends straight to B's socket, no switch
// (the kernel's ceiling, measured in the same run). Prints "frames_per_second" received over
// SECONDS after a half-second warm-up. Bounded: gives up after SECONDS + 10 s whatever happens.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { batch = 32 };
static volatile int stopping;
static long size;
static struct sockaddr_un to_a, to_b, own_a, own_b;
static int fd_a, fd_b;
static unsigned char frame_ab[65536], hello_b[64];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void address(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strncpy(a->sun_path, path, sizeof a->sun_path - 1);
}

static int bound(struct sockaddr_un *a) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    unlink(a->sun_path);
    if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof *a) < 0) { perror("bind"); exit(1); }
    int buffer = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    return fd;
}

static int mac(const char *text, unsigned char *out) {
    return sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &out[0], &out[1], &out[2], &out[3], &out[4], &out[5]) == 6 ? 0 : -1;
}

static void *sender(void *unused) {
    (void)unused;
    struct mmsghdr headers[batch];
    struct iovec vector = { frame_ab, (size_t)size };
    for (int i = 0; i < batch; i++) {
        memset(&headers[i], 0, sizeof headers[i]);
        headers[i].msg_hdr.msg_iov = &vector;
        headers[i].msg_hdr.msg_iovlen = 1;
        headers[i].msg_hdr.msg_name = &to_a;
        headers[i].msg_hdr.msg_namelen = sizeof to_a;
    }
    struct timeval patience = { 0, 200000 };
    setsockopt(fd_a, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
    while (!stopping) {
        if (sendmmsg(fd_a, headers, batch, 0) < 0 && errno != EAGAIN && errno != EINTR && errno != ENOBUFS) usleep(1000);
    }
    return NULL;
}

static void give_up(int signal) {
    (void)signal;
    _exit(2);
}

int main(int argc, char **argv) {
    int direct = argc == 4 && strcmp(argv[1], "direct") == 0;
    if (!direct && !(argc == 8 && strcmp(argv[1], "vnetd") == 0)) {
        fprintf(stderr, "usage: dgram-load vnetd PATH_A PATH_B SIZE SECONDS MAC_A MAC_B | dgram-load direct SIZE SECONDS\n");
        return 1;
    }
    size = atol(argv[direct ? 2 : 4]);
    double seconds = atof(argv[direct ? 3 : 5]);
    if (size < 60 || size > 65535 || seconds <= 0 || seconds > 600) return 1;
    signal(SIGALRM, give_up);
    alarm((unsigned)seconds + 10);
    unsigned char a[6] = { 2, 0, 0, 0, 0, 0xa }, b[6] = { 2, 0, 0, 0, 0, 0xb };
    if (!direct && (mac(argv[6], a) < 0 || mac(argv[7], b) < 0)) return 1;
    char path[108];
    snprintf(path, sizeof path, "/tmp/dgram-load-%d-a", getpid()); address(&own_a, path);
    snprintf(path, sizeof path, "/tmp/dgram-load-%d-b", getpid()); address(&own_b, path);
    fd_a = bound(&own_a);
    fd_b = bound(&own_b);
    if (direct) {
        to_a = own_b;  // A's frames go straight to B
    } else {
        address(&to_a, argv[2]);
        address(&to_b, argv[3]);
    }
    memcpy(frame_ab, b, 6); memcpy(frame_ab + 6, a, 6); frame_ab[12] = 0x88; frame_ab[13] = 0xB5;
    memset(frame_ab + 14, 0x5A, (size_t)size - 14);
    if (!direct) {
        // B speaks first: the switch learns MAC_B on B's port and vnetd answers to B's path.
        memset(hello_b, 0xFF, 6); memcpy(hello_b + 6, b, 6); hello_b[12] = 0x88; hello_b[13] = 0xB5;
        for (int i = 0; i < 3; i++) { sendto(fd_b, hello_b, sizeof hello_b, 0, (struct sockaddr *)&to_b, sizeof to_b); usleep(100000); }
    }
    pthread_t thread;
    pthread_create(&thread, NULL, sender, NULL);
    struct mmsghdr headers[batch];
    static unsigned char slots[batch][2048];
    struct iovec vectors[batch];
    for (int i = 0; i < batch; i++) {
        vectors[i].iov_base = slots[i]; vectors[i].iov_len = sizeof slots[i];
        memset(&headers[i], 0, sizeof headers[i]);
        headers[i].msg_hdr.msg_iov = &vectors[i]; headers[i].msg_hdr.msg_iovlen = 1;
    }
    struct timeval tick = { 0, 100000 };
    setsockopt(fd_b, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    double start = now(), counting = start + 0.5, end = counting + seconds;
    long counted = 0;
    for (double t = now(); t < end; t = now()) {
        int received = recvmmsg(fd_b, headers, batch, MSG_WAITFORONE, NULL);
        if (received <= 0 || t < counting) continue;
        for (int i = 0; i < received; i++) if (headers[i].msg_len == (unsigned)size && slots[i][12] == 0x88) counted++;
    }
    stopping = 1;
    pthread_join(thread, NULL);
    unlink(own_a.sun_path); unlink(own_b.sun_path);
    printf("%.0f\n", counted / seconds);
    return 0;
}
