#include "CTestNet.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <time.h>

struct job {
    const char *netns_path, *interface;
    const uint8_t *frame;
    size_t length;
    int times, result;
};

static void *run(void *argument) {
    struct job *job = argument;
    int handle = open(job->netns_path, O_RDONLY | O_CLOEXEC);
    if (handle < 0 || setns(handle, CLONE_NEWNET) < 0) {
        job->result = -errno;
        if (handle >= 0) close(handle);
        return NULL;
    }
    close(handle);
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        job->result = -errno;
        return NULL;
    }
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_ifindex = (int)if_nametoindex(job->interface);
    if (address.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        job->result = address.sll_ifindex == 0 ? -ENODEV : -errno;
        close(fd);
        return NULL;
    }
    for (int i = 0; i < job->times; i++) {
        if (send(fd, job->frame, job->length, 0) < 0) job->result = -errno;
        usleep(50000);
    }
    close(fd);
    return NULL;
}

int testnet_send_raw(const char *netns_path, const char *interface, const uint8_t *frame, size_t length, int times) {
    struct job job = { netns_path, interface, frame, length, times, 0 };
    pthread_t thread;
    int error = pthread_create(&thread, NULL, run, &job);
    if (error != 0) return -error;
    pthread_join(thread, NULL);
    return job.result;
}

static int enter(const char *netns_path) {
    int handle = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (handle < 0) return -errno;
    int result = setns(handle, CLONE_NEWNET) < 0 ? -errno : 0;
    close(handle);
    return result;
}

static unsigned char stream_byte(unsigned int *state) {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return (unsigned char)(*state >> 11);
}

struct transfer {
    const char *client_netns, *server_netns, *address;
    int port, seconds;
    long bytes;
    unsigned int seed;
    int listening;           /* set by the server once it listens (or fails) */
    pthread_mutex_t lock;
    pthread_cond_t ready;
    long received;
    int error;
};

static void set_timeouts(int fd, int seconds) {
    struct timeval timeout = { seconds, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
}

static void announce(struct transfer *job, int state) {
    pthread_mutex_lock(&job->lock);
    job->listening = state;
    pthread_cond_signal(&job->ready);
    pthread_mutex_unlock(&job->lock);
}

static void *serve(void *argument) {
    struct transfer *job = argument;
    int error = enter(job->server_netns);
    int listener = error < 0 ? -1 : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)job->port);
    inet_pton(AF_INET, job->address, &address.sin_addr);
    int one = 1;
    if (listener >= 0) setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 1) < 0) {
        job->error = error < 0 ? error : -errno;
        if (listener >= 0) close(listener);
        announce(job, -1);
        return NULL;
    }
    set_timeouts(listener, job->seconds);
    announce(job, 1);
    int connection = accept(listener, NULL, NULL);
    close(listener);
    if (connection < 0) {
        job->error = -errno;
        return NULL;
    }
    set_timeouts(connection, job->seconds);
    unsigned int state = job->seed ? job->seed : 1;
    unsigned char buffer[65536];
    long good = 0;
    for (;;) {
        ssize_t count = read(connection, buffer, sizeof buffer);
        if (count <= 0) break;
        for (ssize_t i = 0; i < count; i++) {
            if (buffer[i] != stream_byte(&state)) {
                job->received = good;
                close(connection);
                return NULL;
            }
            good++;
        }
    }
    job->received = good;
    close(connection);
    return NULL;
}

static void *send_stream(void *argument) {
    struct transfer *job = argument;
    if (enter(job->client_netns) < 0) return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    set_timeouts(fd, job->seconds);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)job->port);
    inet_pton(AF_INET, job->address, &address.sin_addr);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        close(fd);
        return NULL;
    }
    unsigned int state = job->seed ? job->seed : 1;
    unsigned char buffer[65536];
    long left = job->bytes;
    while (left > 0) {
        size_t chunk = left < (long)sizeof buffer ? (size_t)left : sizeof buffer;
        for (size_t i = 0; i < chunk; i++) buffer[i] = stream_byte(&state);
        size_t sent = 0;
        while (sent < chunk) {
            ssize_t count = send(fd, buffer + sent, chunk - sent, MSG_NOSIGNAL);
            if (count <= 0) {
                close(fd);
                return NULL;
            }
            sent += (size_t)count;
        }
        left -= (long)chunk;
    }
    shutdown(fd, SHUT_WR);
    char byte;
    while (read(fd, &byte, 1) > 0) {}
    close(fd);
    return NULL;
}

long testnet_tcp_transfer(const char *client_netns, const char *server_netns, const char *address, int port,
                          long bytes, unsigned int seed, int seconds) {
    struct transfer job;
    memset(&job, 0, sizeof job);
    job.client_netns = client_netns;
    job.server_netns = server_netns;
    job.address = address;
    job.port = port;
    job.bytes = bytes;
    job.seed = seed;
    job.seconds = seconds;
    pthread_mutex_init(&job.lock, NULL);
    pthread_cond_init(&job.ready, NULL);
    pthread_t server, client;
    if (pthread_create(&server, NULL, serve, &job) != 0) return -EAGAIN;
    pthread_mutex_lock(&job.lock);
    while (job.listening == 0) pthread_cond_wait(&job.ready, &job.lock);
    pthread_mutex_unlock(&job.lock);
    if (job.listening < 0) {
        pthread_join(server, NULL);
        return job.error;
    }
    if (pthread_create(&client, NULL, send_stream, &job) != 0) {
        pthread_join(server, NULL);
        return -EAGAIN;
    }
    pthread_join(client, NULL);
    pthread_join(server, NULL);
    pthread_mutex_destroy(&job.lock);
    pthread_cond_destroy(&job.ready);
    return job.error < 0 ? job.error : job.received;
}

static long microseconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000000L + now.tv_nsec / 1000;
}

static int bound_packet_socket(const char *netns_path, const char *interface, uint16_t protocol) {
    int entered = enter(netns_path);
    if (entered < 0) return entered;
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(protocol));
    if (fd < 0) return -errno;
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(protocol);
    address.sll_ifindex = (int)if_nametoindex(interface);
    if (address.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        int error = address.sll_ifindex == 0 ? -ENODEV : -errno;
        close(fd);
        return error;
    }
    return fd;
}

struct paced {
    const char *netns_path, *interface;
    const uint8_t *frames;
    size_t length;
    int kinds;
    long count, per_second, result;
};

static void *send_paced(void *argument) {
    struct paced *job = argument;
    int fd = bound_packet_socket(job->netns_path, job->interface, 0);
    if (fd < 0) {
        job->result = fd;
        return NULL;
    }
    long started = microseconds_now();
    for (long i = 0; i < job->count; i++) {
        long due = started + i * 1000000L / job->per_second;
        long now;
        while ((now = microseconds_now()) < due) {
            if (due - now > 200) usleep((useconds_t)(due - now - 100));
        }
        const uint8_t *frame = job->frames + (size_t)(i % job->kinds) * job->length;
        while (send(fd, frame, job->length, 0) < 0) {
            if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
                job->result = -errno;
                close(fd);
                return NULL;
            }
            usleep(50);
        }
    }
    job->result = microseconds_now() - started;
    close(fd);
    return NULL;
}

long testnet_send_paced(const char *netns_path, const char *interface, const uint8_t *frames, size_t length, int kinds,
                        long count, long per_second) {
    if (kinds < 1 || per_second < 1) return -EINVAL;
    struct paced job = { netns_path, interface, frames, length, kinds, count, per_second, 0 };
    pthread_t thread;
    int error = pthread_create(&thread, NULL, send_paced, &job);
    if (error != 0) return -error;
    pthread_join(thread, NULL);
    return job.result;
}

struct counting {
    const char *netns_path, *interface;
    uint16_t ethertype;
    int milliseconds, result;
    long *counts;
};

static void *count_raw(void *argument) {
    struct counting *job = argument;
    int fd = bound_packet_socket(job->netns_path, job->interface, job->ethertype);
    if (fd < 0) {
        job->result = fd;
        return NULL;
    }
    int size = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    struct timeval tick = { 0, 100000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    long deadline = microseconds_now() + (long)job->milliseconds * 1000L;
    uint8_t frame[2048];
    while (microseconds_now() < deadline) {
        struct sockaddr_ll from;
        socklen_t length = sizeof from;
        ssize_t count = recvfrom(fd, frame, sizeof frame, 0, (struct sockaddr *)&from, &length);
        if (count < 15 || from.sll_pkttype == PACKET_OUTGOING) continue;
        job->counts[frame[14]]++;
    }
    close(fd);
    return NULL;
}

int testnet_count_raw(const char *netns_path, const char *interface, uint16_t ethertype, int milliseconds, long *counts) {
    struct counting job = { netns_path, interface, ethertype, milliseconds, 0, counts };
    pthread_t thread;
    int error = pthread_create(&thread, NULL, count_raw, &job);
    if (error != 0) return -error;
    pthread_join(thread, NULL);
    return job.result;
}
