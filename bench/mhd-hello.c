/* Baseline for bench/http.sh: the smallest libmicrohttpd server with the same threading flags
 * as vnetd (internal polling thread, epoll, a pool of one thread per core), answering every
 * request with the bytes of one file read at start. */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *page;
static size_t page_size;
static const char *content_type;

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls) {
    (void)cls; (void)url; (void)method; (void)version; (void)upload_data; (void)upload_data_size;
    static int first;
    if (*req_cls == NULL) { *req_cls = &first; return MHD_YES; }
    struct MHD_Response *response = MHD_create_response_from_buffer(page_size, page, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(response, "Content-Type", content_type);
    enum MHD_Result result = MHD_queue_response(connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return result;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s PORT FILE CONTENT-TYPE\n", argv[0]); return 2; }
    FILE *file = fopen(argv[2], "rb");
    if (file == NULL) { perror("fopen"); return 1; }
    fseek(file, 0, SEEK_END);
    page_size = (size_t)ftell(file);
    rewind(file);
    page = malloc(page_size);
    if (fread(page, 1, page_size, file) != page_size) { perror("fread"); return 1; }
    fclose(file);
    content_type = argv[3];
    unsigned int threads = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)atoi(argv[1]),
        NULL, NULL, answer, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0,
        MHD_OPTION_CONNECTION_LIMIT, 1024u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_END);
    if (daemon == NULL) { fprintf(stderr, "MHD_start_daemon failed\n"); return 1; }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int received;
    sigwait(&set, &received);
    MHD_stop_daemon(daemon);
    return 0;
}
