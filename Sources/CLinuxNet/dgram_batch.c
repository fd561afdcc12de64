#define _GNU_SOURCE
#include "CLinuxNet.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

// Batches of datagrams for recvmmsg: slots of one size, their iovecs and headers,
// and room for each sender's address, allocated once.
struct vnetd_dgram_batch {
    int count;
    size_t slot_size;
    unsigned char *data;
    struct mmsghdr *headers;
    struct iovec *vectors;
    struct sockaddr_un *addresses;
    long *lengths;
};

struct vnetd_dgram_batch *vnetd_dgram_batch_new(int count, size_t slot_size) {
    struct vnetd_dgram_batch *batch = calloc(1, sizeof *batch);
    if (batch == NULL) return NULL;
    batch->count = count;
    batch->slot_size = slot_size;
    batch->data = malloc((size_t)count * slot_size);
    batch->headers = calloc((size_t)count, sizeof *batch->headers);
    batch->vectors = calloc((size_t)count, sizeof *batch->vectors);
    batch->addresses = calloc((size_t)count, sizeof *batch->addresses);
    batch->lengths = calloc((size_t)count, sizeof *batch->lengths);
    if (!batch->data || !batch->headers || !batch->vectors || !batch->addresses || !batch->lengths) {
        vnetd_dgram_batch_free(batch);
        return NULL;
    }
    return batch;
}

void vnetd_dgram_batch_free(struct vnetd_dgram_batch *batch) {
    if (batch == NULL) return;
    free(batch->data);
    free(batch->headers);
    free(batch->vectors);
    free(batch->addresses);
    free(batch->lengths);
    free(batch);
}

int vnetd_dgram_batch_receive(int fd, struct vnetd_dgram_batch *batch) {
    for (int i = 0; i < batch->count; i++) {
        batch->vectors[i].iov_base = batch->data + (size_t)i * batch->slot_size;
        batch->vectors[i].iov_len = batch->slot_size;
        memset(&batch->headers[i], 0, sizeof batch->headers[i]);
        batch->headers[i].msg_hdr.msg_iov = &batch->vectors[i];
        batch->headers[i].msg_hdr.msg_iovlen = 1;
        batch->headers[i].msg_hdr.msg_name = &batch->addresses[i];
        batch->headers[i].msg_hdr.msg_namelen = sizeof batch->addresses[i];
    }
    // MSG_TRUNC: each datagram's real size, so one larger than a slot is dropped whole.
    int received = recvmmsg(fd, batch->headers, (unsigned int)batch->count, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (received < 0) return -errno;
    for (int i = 0; i < received; i++) {
        long length = (long)batch->headers[i].msg_len;
        if ((batch->headers[i].msg_hdr.msg_flags & MSG_TRUNC) && length <= (long)batch->slot_size) length = (long)batch->slot_size + 1;
        batch->lengths[i] = length;
    }
    return received;
}

const unsigned char *vnetd_dgram_batch_data(const struct vnetd_dgram_batch *batch, int index) {
    return batch->data + (size_t)index * batch->slot_size;
}

long vnetd_dgram_batch_length(const struct vnetd_dgram_batch *batch, int index) {
    return batch->lengths[index];
}

void vnetd_dgram_batch_peer(const struct vnetd_dgram_batch *batch, int index, char *peer, size_t peer_size) {
    if (peer_size == 0) return;
    peer[0] = '\0';
    const struct sockaddr_un *address = &batch->addresses[index];
    socklen_t length = batch->headers[index].msg_hdr.msg_namelen;
    size_t offset = offsetof(struct sockaddr_un, sun_path);
    if (length <= offset || address->sun_path[0] == '\0') return;
    size_t available = (size_t)length - offset;
    if (available > sizeof address->sun_path) available = sizeof address->sun_path;
    size_t name = strnlen(address->sun_path, available);
    if (name > peer_size - 1) name = peer_size - 1;
    memcpy(peer, address->sun_path, name);
    peer[name] = '\0';
}
