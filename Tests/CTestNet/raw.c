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
