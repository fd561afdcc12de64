// The one place where libmicrohttpd's C API meets Swift.
//
// Swift cannot call C variadic functions, so the daemon is started through
// `vnetd_mhd_start`, which spells out exactly the options vnetd uses. Log
// lines that libmicrohttpd formats with a va_list are turned into plain
// strings here and handed to a Swift callback.
#ifndef VNETD_CMICROHTTPD_SHIM_H
#define VNETD_CMICROHTTPD_SHIM_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <microhttpd.h>

/// Receives one formatted libmicrohttpd log line.
typedef void (*vnetd_mhd_log_sink)(void *context, const char *line);

struct vnetd_mhd_log_target {
    vnetd_mhd_log_sink sink;
    void *context;
};

static void vnetd_mhd_format_log(void *cls, const char *format, va_list arguments) {
    struct vnetd_mhd_log_target *target = (struct vnetd_mhd_log_target *)cls;
    char line[512];
    vsnprintf(line, sizeof line, format, arguments);
    if (target != NULL && target->sink != NULL) {
        target->sink(target->context, line);
    }
}

static int vnetd_hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// Percent-decodes a URL path or query value in place, except `%00`: a decoded NUL would cut the
/// C string short (`file.css%00.png` would become `file.css`), so it stays as the three characters.
static size_t vnetd_mhd_unescape(void *cls, struct MHD_Connection *connection, char *text) {
    (void)cls; (void)connection;
    char *read = text, *write = text;
    while (*read != '\0') {
        if (read[0] == '%' && vnetd_hex_value(read[1]) >= 0 && vnetd_hex_value(read[2]) >= 0) {
            char decoded = (char)(vnetd_hex_value(read[1]) * 16 + vnetd_hex_value(read[2]));
            if (decoded != '\0') {
                *write++ = decoded;
                read += 3;
                continue;
            }
        }
        *write++ = *read++;
    }
    *write = '\0';
    return (size_t)(write - text);
}

/// Starts a daemon on an already listening socket, with libmicrohttpd's own
/// polling thread on epoll and a pool of `thread_pool_size` threads (one thread: no pool).
/// Returns NULL when libmicrohttpd refuses the configuration.
static inline struct MHD_Daemon *vnetd_mhd_start(
    int listen_fd,
    unsigned int thread_pool_size,
    unsigned int connection_limit,
    unsigned int connection_timeout_seconds,
    size_t connection_memory_limit,
    MHD_AccessHandlerCallback access_handler,
    void *access_context,
    MHD_RequestCompletedCallback completed_handler,
    void *completed_context,
    struct vnetd_mhd_log_target *log_target)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, access_handler, access_context,
        MHD_OPTION_EXTERNAL_LOGGER, vnetd_mhd_format_log, (void *)log_target,
        MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, thread_pool_size > 1 ? thread_pool_size : 0,
        MHD_OPTION_UNESCAPE_CALLBACK, vnetd_mhd_unescape, NULL,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, connection_memory_limit,
        MHD_OPTION_NOTIFY_COMPLETED, completed_handler, completed_context,
        MHD_OPTION_END);
}

/// The peer address of a connection, or NULL when libmicrohttpd has none.
static inline const struct sockaddr *vnetd_mhd_client_address(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info == NULL ? NULL : info->client_addr;
}

#endif
