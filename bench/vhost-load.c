// Forwarding-cost load generator for bench/vhost.sh: plays two guests' virtio-net drivers.
//
//   vhost-load vhost  SOCKET_A SOCKET_B SIZE SECONDS MAC_A MAC_B [tso]
//   vhost-load stream SOCKET_A SOCKET_B SIZE SECONDS MAC_A MAC_B
//
// vhost: two vhost-user front ends (what QEMU is to a back end): guest memory in one memfd,
// split rings with EVENT_IDX and mergeable receive buffers. Front end A transmits frames of SIZE
// bytes from MAC_A to MAC_B as fast as the back end takes them (kicking only when the back end
// asked, by avail_event); front end B polls its receive ring and counts what arrives (it asks for
// no interrupts). One thread does both, so the generator costs one core and the switch under test
// gets the other. With `tso`, A hands over 64,054-byte TCP segments (gso_size 1,448) and both
// negotiate checksum and TSO offloads. stream: the same over QEMU's -netdev stream framing (a
// 4-byte big-endian length per frame). Prints "frames_per_second gbit_per_second" over SECONDS
// after a one-second warm-up. Bounded: gives up after SECONDS + 10 s whatever happens.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RING 256
#define RXBUF 2048
#define TXSLOT (12 + 65536 + 64)
#define MEMSIZE (64u << 20)
#define TX_BASE (1u << 20)
#define RX_BASE (48u << 20)

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };

struct frontend {
    int sock, memfd, kick[2], call[2];
    uint8_t *mem;
    uint64_t features;
    uint16_t avail_idx[2], used_seen[2];
    int rx_left;  // merged buffers still to come for the current frame
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) { fprintf(stderr, "vhost-load: %s: %s\n", what, strerror(errno)); exit(1); }

static int connect_unix(const char *path) {
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) return fd;
        close(fd);
        usleep(50000);
    }
    die(path);
    return -1;
}

static void msg(struct frontend *f, uint32_t request, const void *payload, uint32_t size, const int *fds, int nfds) {
    uint8_t buffer[12 + 512];
    uint32_t header[3] = { request, 1, size };
    memcpy(buffer, header, 12);
    if (size) memcpy(buffer + 12, payload, size);
    struct iovec v = { buffer, 12 + size };
    char control[CMSG_SPACE(sizeof(int) * 8)];
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
    if (nfds) {
        memset(control, 0, sizeof(control));
        m.msg_control = control;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    if (sendmsg(f->sock, &m, MSG_NOSIGNAL) < 0) die("sendmsg");
}

static uint64_t reply_u64(struct frontend *f) {
    uint8_t buffer[20];
    size_t got = 0;
    while (got < 20) {
        struct pollfd p = { f->sock, POLLIN, 0 };
        if (poll(&p, 1, 5000) <= 0) { fprintf(stderr, "vhost-load: no reply\n"); exit(1); }
        ssize_t n = recv(f->sock, buffer + got, 20 - got, 0);
        if (n <= 0) die("recv reply");
        got += n;
    }
    uint64_t v;
    memcpy(&v, buffer + 12, 8);
    return v;
}

static struct desc *desc_of(struct frontend *f, int q) { return (struct desc *)(f->mem + q * 0x8000); }
static volatile uint16_t *avail_of(struct frontend *f, int q) { return (volatile uint16_t *)(f->mem + q * 0x8000 + 0x2000); }
static volatile uint8_t *used_of(struct frontend *f, int q) { return f->mem + q * 0x8000 + 0x4000; }

static void setup(struct frontend *f, const char *path, uint64_t wanted) {
    memset(f, 0, sizeof(*f));
    f->sock = connect_unix(path);
    // Sealed against resizing, as QEMU's memory-backend-memfd is (vnetd refuses memory it
    // could see shrink under it).
    f->memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (f->memfd < 0 || ftruncate(f->memfd, MEMSIZE) < 0) die("memfd");
    if (fcntl(f->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) die("memfd seals");
    f->mem = mmap(NULL, MEMSIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, f->memfd, 0);
    if (f->mem == MAP_FAILED) die("mmap");
    for (int q = 0; q < 2; q++) {
        f->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        f->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    }
    msg(f, 3, NULL, 0, NULL, 0);  // SET_OWNER
    msg(f, 1, NULL, 0, NULL, 0);  // GET_FEATURES
    uint64_t offered = reply_u64(f);
    f->features = offered & wanted;
    if (offered & (1ull << 30)) {
        msg(f, 15, NULL, 0, NULL, 0);
        (void)reply_u64(f);
        uint64_t none = 0;
        msg(f, 16, &none, 8, NULL, 0);
    }
    msg(f, 2, &f->features, 8, NULL, 0);
    struct { uint32_t n, pad; uint64_t gpa, size, uva, off; } table = { 1, 0, 0, MEMSIZE, (uint64_t)(uintptr_t)f->mem, 0 };
    msg(f, 5, &table, sizeof(table), &f->memfd, 1);
    for (uint32_t q = 0; q < 2; q++) {
        uint32_t state[2] = { q, RING };
        msg(f, 8, state, 8, NULL, 0);
        state[1] = 0;
        msg(f, 10, state, 8, NULL, 0);
        uint64_t base = (uint64_t)(uintptr_t)(f->mem + q * 0x8000);
        struct { uint32_t index, flags; uint64_t desc, used, avail, log; } addr = { q, 0, base, base + 0x4000, base + 0x2000, 0 };
        msg(f, 9, &addr, sizeof(addr), NULL, 0);
        uint64_t index = q;
        msg(f, 12, &index, 8, &f->kick[q], 1);
        msg(f, 13, &index, 8, &f->call[q], 1);
        if (offered & (1ull << 30)) {
            uint32_t enable[2] = { q, 1 };
            msg(f, 18, enable, 8, NULL, 0);
        }
    }
    msg(f, 1, NULL, 0, NULL, 0);  // a round trip: everything before it was applied
    (void)reply_u64(f);
}

static int header_size(struct frontend *f) { return (f->features & ((1ull << 32) | (1ull << 15))) ? 12 : 10; }

static void post_rx(struct frontend *f, uint16_t id) {
    struct desc *d = desc_of(f, 0);
    d[id] = (struct desc){ RX_BASE + (uint64_t)id * RXBUF, RXBUF, 2, 0 };
    volatile uint16_t *avail = avail_of(f, 0);
    avail[2 + (f->avail_idx[0] % RING)] = id;
    f->avail_idx[0]++;
}

static void publish(struct frontend *f, int q) {
    __atomic_thread_fence(__ATOMIC_RELEASE);
    avail_of(f, q)[1] = f->avail_idx[q];
}

// Kicks queue q if the back end asked for it (EVENT_IDX) or always without EVENT_IDX.
static void kick_if_needed(struct frontend *f, int q, uint16_t old) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t event = *(volatile uint16_t *)(used_of(f, q) + 4 + 8 * RING);
    uint16_t new = f->avail_idx[q];
    int need = (f->features & (1ull << 29)) ? (uint16_t)(new - event - 1) < (uint16_t)(new - old) : 1;
    if (need) { uint64_t one = 1; if (write(f->kick[q], &one, 8) < 0) {} }
}

static uint8_t frame[65600];
static size_t frame_len;
static uint8_t vhdr[12];

static void build_frame(const uint8_t *dst, const uint8_t *src, size_t size, int tso) {
    memcpy(frame, dst, 6);
    memcpy(frame + 6, src, 6);
    memset(vhdr, 0, sizeof(vhdr));
    if (!tso) {
        frame[12] = 0x88; frame[13] = 0xB5;
        for (size_t i = 14; i < size; i++) frame[i] = (uint8_t)i;
        frame_len = size;
        return;
    }
    size_t payload = 64000;
    frame[12] = 0x08; frame[13] = 0x00;
    uint8_t *ip = frame + 14;
    memset(ip, 0, 40);
    ip[0] = 0x45; ip[2] = (uint8_t)((40 + payload) >> 8); ip[3] = (uint8_t)(40 + payload); ip[6] = 0x40; ip[8] = 64; ip[9] = 6;
    ip[12] = 10; ip[15] = 1; ip[16] = 10; ip[19] = 2;
    uint8_t *tcp = ip + 20;
    tcp[0] = 0x30; tcp[1] = 0x39; tcp[3] = 80; tcp[12] = 0x50; tcp[13] = 0x10; tcp[14] = 0xFF; tcp[15] = 0xFF;
    for (size_t i = 0; i < payload; i++) tcp[20 + i] = (uint8_t)i;
    frame_len = 14 + 40 + payload;
    uint8_t h[12] = { 1, 1, 54, 0, 1448 & 0xFF, 1448 >> 8, 34, 0, 16, 0, 0, 0 };
    memcpy(vhdr, h, 12);
}

static int parse_mac(const char *text, uint8_t *mac) {
    unsigned v[6];
    if (sscanf(text, "%x%*c%x%*c%x%*c%x%*c%x%*c%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
    for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
    return 0;
}

struct window { double start, end; uint64_t frames0, bytes0, frames, bytes; int started; };

static void account(struct window *w, double t, uint64_t frames, uint64_t bytes) {
    if (!w->started && t >= w->start) { w->started = 1; w->frames0 = frames; w->bytes0 = bytes; }
    if (w->started) { w->frames = frames - w->frames0; w->bytes = bytes - w->bytes0; }
}

static void report(struct window *w, double seconds) {
    printf("%.0f %.3f\n", w->frames / seconds, w->bytes * 8.0 / seconds / 1e9);
}

static void run_vhost(const char *pa, const char *pb, size_t size, double seconds, int tso, const uint8_t *ma, const uint8_t *mb) {
    uint64_t wanted = (1ull << 32) | (1ull << 29) | (1ull << 15) | (1ull << 30);
    if (tso) wanted |= (1ull << 0) | (1ull << 1) | (1ull << 7) | (1ull << 8) | (1ull << 9) | (1ull << 11) | (1ull << 12) | (1ull << 13);
    static struct frontend a, b;
    setup(&a, pa, wanted);
    setup(&b, pb, wanted);
    int ha = header_size(&a), hb = header_size(&b);
    int mergeable = (b.features >> 15) & 1;
    // B's receive buffers; neither side wants interrupts (both poll).
    for (uint16_t i = 0; i < RING; i++) post_rx(&b, i);
    publish(&b, 0);
    avail_of(&b, 0)[0] = 1;
    avail_of(&a, 1)[0] = 1;
    // B announces its MAC once, so the switch learns where it is.
    build_frame((const uint8_t *)"\xff\xff\xff\xff\xff\xff", mb, 60, 0);
    memcpy(b.mem + TX_BASE, vhdr, 12);
    memcpy(b.mem + TX_BASE + hb, frame, frame_len);
    desc_of(&b, 1)[0] = (struct desc){ TX_BASE, (uint32_t)(hb + frame_len), 0, 0 };
    avail_of(&b, 1)[2] = 0;
    b.avail_idx[1] = 1;
    publish(&b, 1);
    { uint64_t one = 1; if (write(b.kick[1], &one, 8) < 0) {} }
    usleep(200000);
    // A's transmit slots, all the same frame: descriptor i holds slot i, header then frame.
    build_frame(mb, ma, size, tso);
    struct desc *d = desc_of(&a, 1);
    for (int i = 0; i < RING; i++) {
        uint8_t *slot = a.mem + TX_BASE + (size_t)i * TXSLOT;
        memcpy(slot, vhdr, ha);
        memcpy(slot + ha, frame, frame_len);
        d[i] = (struct desc){ TX_BASE + (uint64_t)i * TXSLOT, (uint32_t)(ha + frame_len), 0, 0 };
    }
    volatile uint16_t *a_avail = avail_of(&a, 1), *b_avail = avail_of(&b, 0);
    volatile uint8_t *a_used = used_of(&a, 1), *b_used = used_of(&b, 0);
    uint64_t frames = 0, bytes = 0;
    double t0 = now();
    struct window w = { t0 + 1, t0 + 1 + seconds, 0, 0, 0, 0, 0 };
    while (1) {
        double t = now();
        if (t >= w.end) break;
        account(&w, t, frames, bytes);
        // Transmit: fill every free slot, kick if the back end asked.
        uint16_t used = *(volatile uint16_t *)(a_used + 2);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint16_t old = a.avail_idx[1];
        while ((uint16_t)(a.avail_idx[1] - used) < RING) {
            a_avail[2 + (a.avail_idx[1] % RING)] = a.avail_idx[1] % RING;
            a.avail_idx[1]++;
        }
        a_avail[2 + RING] = (uint16_t)(used + 0x7FFF);
        if (a.avail_idx[1] != old) { publish(&a, 1); kick_if_needed(&a, 1, old); }
        // Receive: count frames (the first buffer of each says how many buffers it spans).
        uint16_t index = *(volatile uint16_t *)(b_used + 2);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (index == b.used_seen[0]) continue;
        while (b.used_seen[0] != index) {
            volatile uint8_t *element = b_used + 4 + 8 * (b.used_seen[0] % RING);
            uint32_t id = *(volatile uint32_t *)element, len = *(volatile uint32_t *)(element + 4);
            if (id >= RING) { fprintf(stderr, "vhost-load: bad used id %u\n", id); exit(1); }
            if (b.rx_left == 0) {
                uint8_t *buffer = b.mem + RX_BASE + (size_t)id * RXBUF;
                int count = mergeable ? (buffer[10] | buffer[11] << 8) : 1;
                frames++;
                bytes += len > (uint32_t)hb ? len - hb : 0;
                b.rx_left = count > 0 ? count - 1 : 0;
            } else {
                bytes += len;
                b.rx_left--;
            }
            post_rx(&b, (uint16_t)id);
            b.used_seen[0]++;
        }
        b_avail[2 + RING] = (uint16_t)(b.used_seen[0] + 0x7FFF);
        publish(&b, 0);
    }
    report(&w, seconds);
}

static void run_stream(const char *pa, const char *pb, size_t size, double seconds, const uint8_t *ma, const uint8_t *mb) {
    int a = connect_unix(pa), b = connect_unix(pb);
    build_frame((const uint8_t *)"\xff\xff\xff\xff\xff\xff", mb, 60, 0);
    uint8_t announce[64 + 4] = { 0, 0, 0, (uint8_t)frame_len };
    memcpy(announce + 4, frame, frame_len);
    if (send(b, announce, 4 + frame_len, MSG_NOSIGNAL) < 0) die("send");
    usleep(200000);
    build_frame(mb, ma, size, 0);
    size_t one = 4 + frame_len, count = (256 << 10) / one;
    uint8_t *batch = malloc(one * count), *in = malloc(1 << 20);
    for (size_t i = 0; i < count; i++) {
        uint8_t *p = batch + i * one;
        p[0] = 0; p[1] = 0; p[2] = (uint8_t)(frame_len >> 8); p[3] = (uint8_t)frame_len;
        memcpy(p + 4, frame, frame_len);
    }
    size_t offset = 0, have = 0;
    uint64_t frames = 0, bytes = 0;
    double t0 = now();
    struct window w = { t0 + 1, t0 + 1 + seconds, 0, 0, 0, 0, 0 };
    while (1) {
        double t = now();
        if (t >= w.end) break;
        account(&w, t, frames, bytes);
        ssize_t n = send(a, batch + offset, one * count - offset, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) offset = (offset + n) % (one * count);
        ssize_t r = recv(b, in + have, (1 << 20) - have, MSG_DONTWAIT);
        if (r > 0) {
            have += r;
            size_t at = 0;
            while (have - at >= 4) {
                size_t length = (size_t)in[at] << 24 | (size_t)in[at + 1] << 16 | (size_t)in[at + 2] << 8 | in[at + 3];
                if (have - at < 4 + length) break;
                frames++;
                bytes += length;
                at += 4 + length;
            }
            memmove(in, in + at, have - at);
            have -= at;
        }
    }
    report(&w, seconds);
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: vhost-load vhost|stream SOCKET_A SOCKET_B SIZE SECONDS MAC_A MAC_B [tso]\n");
        return 2;
    }
    uint8_t ma[6], mb[6];
    if (parse_mac(argv[6], ma) || parse_mac(argv[7], mb)) { fprintf(stderr, "vhost-load: bad MAC\n"); return 2; }
    size_t size = (size_t)atoi(argv[4]);
    double seconds = atof(argv[5]);
    if (size < 60 || size > 1514 || seconds <= 0 || seconds > 120) { fprintf(stderr, "vhost-load: SIZE 60..1514, SECONDS 0..120\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)seconds + 10);
    if (strcmp(argv[1], "stream") == 0) run_stream(argv[2], argv[3], size, seconds, ma, mb);
    else run_vhost(argv[2], argv[3], size, seconds, argc > 8 && strcmp(argv[8], "tso") == 0, ma, mb);
    return 0;
}
