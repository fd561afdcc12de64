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
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/crypto.h>
#include <microhttpd.h>
#include "tls_reload.h"

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

/// TLS protocol versions and ciphers offered: GnuTLS's secure defaults, TLS 1.2 and 1.3 only.
#define VNETD_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/// Starts a daemon on an already listening socket, with libmicrohttpd's own
/// polling thread on epoll and a pool of `thread_pool_size` threads (one thread: no pool).
/// `per_ip_connection_limit` caps the connections of one client address (0: no cap).
/// With `tls_key_pem` and `tls_cert_pem` (PEM text, kept alive by the caller while the daemon
/// runs) it speaks only HTTPS; with `tls_callback` instead it speaks HTTPS with the certificate
/// that callback gives at each handshake (replaceable while it runs).
/// Returns NULL when libmicrohttpd refuses the configuration.
static inline struct MHD_Daemon *vnetd_mhd_start(
    int listen_fd,
    unsigned int thread_pool_size,
    unsigned int connection_limit,
    unsigned int per_ip_connection_limit,
    unsigned int connection_timeout_seconds,
    size_t connection_memory_limit,
    const char *tls_key_pem,
    const char *tls_cert_pem,
    gnutls_certificate_retrieve_function2 *tls_callback,
    MHD_AccessHandlerCallback access_handler,
    void *access_context,
    MHD_RequestCompletedCallback completed_handler,
    void *completed_context,
    struct vnetd_mhd_log_target *log_target)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    int tls = tls_key_pem != NULL && tls_cert_pem != NULL;
    int tls_by_callback = tls_callback != NULL;
    if (tls || tls_by_callback) flags |= MHD_USE_TLS;
    // MHD_OPTION_ARRAY: one list, ended before the TLS options unless serving HTTPS. `value` carries
    // integers and the first pointer of two-pointer options; `ptr_value` single pointers and the
    // second of two.
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)vnetd_mhd_format_log, log_target},
        {MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL},
        {MHD_OPTION_THREAD_POOL_SIZE, thread_pool_size > 1 ? thread_pool_size : 0, NULL},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)vnetd_mhd_unescape, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, connection_limit, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip_connection_limit, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout_seconds, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)connection_memory_limit, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed_handler, completed_context},
        // With the callback, its entry takes the key's place and the priorities the certificate's.
        // (The callback goes in both fields: libmicrohttpd's array reads pointer options from either.)
        {tls_by_callback ? MHD_OPTION_HTTPS_CERT_CALLBACK : tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END,
         tls_by_callback ? (intptr_t)tls_callback : 0, tls_by_callback ? (void *)tls_callback : (void *)tls_key_pem},
        {tls_by_callback ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_HTTPS_MEM_CERT,
         0, tls_by_callback ? (void *)VNETD_TLS_PRIORITIES : (void *)tls_cert_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)VNETD_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(
        flags, 0, NULL, NULL, access_handler, access_context,
        MHD_OPTION_ARRAY, options,
        MHD_OPTION_END);
}

/// 1 when this libmicrohttpd was built with TLS.
static inline int vnetd_mhd_supports_tls(void) {
    return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

/// A self-signed certificate and its key, as PEM text, made by GnuTLS (libmicrohttpd's TLS library).
struct vnetd_tls_identity {
    char *certificate_pem;
    char *key_pem;
    /// SHA-256 of the certificate's DER form, as lower-case hex.
    char fingerprint_sha256[65];
    /// Why generation failed, when it did.
    char error[160];
};

static inline int vnetd_tls_fail(struct vnetd_tls_identity *identity, const char *step, int code) {
    snprintf(identity->error, sizeof identity->error, "%s: %s", step, gnutls_strerror(code));
    return -1;
}

static inline char *vnetd_tls_copy(const gnutls_datum_t *datum) {
    char *text = malloc(datum->size + 1);
    if (text == NULL) return NULL;
    memcpy(text, datum->data, datum->size);
    text[datum->size] = '\0';
    return text;
}

/// Generates an ECDSA P-256 key and a certificate for a TLS server, signed by that key, valid
/// from an hour ago for `days` days. `names` is a comma-separated list: entries that parse as
/// IPv4 or IPv6 addresses become IP subject alternative names, the rest DNS names; the first
/// is also the common name. Returns 0 (free the PEM strings with `vnetd_tls_identity_free`) or -1.
static inline int vnetd_tls_generate_self_signed(const char *names, unsigned int days, struct vnetd_tls_identity *identity) {
    memset(identity, 0, sizeof *identity);
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t cert_pem = {NULL, 0}, key_pem = {NULL, 0};
    int status = -1, rc;

    if ((rc = gnutls_x509_privkey_init(&key)) < 0) { vnetd_tls_fail(identity, "key", rc); goto done; }
    if ((rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0) {
        vnetd_tls_fail(identity, "generating the key", rc); goto done;
    }
    if ((rc = gnutls_x509_crt_init(&crt)) < 0) { vnetd_tls_fail(identity, "certificate", rc); goto done; }
    gnutls_x509_crt_set_version(crt, 3);
    unsigned char serial[16];
    if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial)) < 0) { vnetd_tls_fail(identity, "serial", rc); goto done; }
    serial[0] &= 0x7f;
    gnutls_x509_crt_set_serial(crt, serial, sizeof serial);
    time_t now = time(NULL);
    gnutls_x509_crt_set_activation_time(crt, now - 3600);
    gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400);
    if ((rc = gnutls_x509_crt_set_key(crt, key)) < 0) { vnetd_tls_fail(identity, "setting the key", rc); goto done; }

    char list[1024];
    snprintf(list, sizeof list, "%s", names);
    int first = 1;
    char *saveptr = NULL;
    for (char *name = strtok_r(list, ",", &saveptr); name != NULL; name = strtok_r(NULL, ",", &saveptr)) {
        if (*name == '\0') continue;
        if (first) {
            gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name, (unsigned)strlen(name));
            gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "vnetd", 5);
            first = 0;
        }
        unsigned char address[16];
        if (inet_pton(AF_INET, name, address) == 1) {
            rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, address, 4, GNUTLS_FSAN_APPEND);
        } else if (inet_pton(AF_INET6, name, address) == 1) {
            rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, address, 16, GNUTLS_FSAN_APPEND);
        } else {
            rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, (unsigned)strlen(name), GNUTLS_FSAN_APPEND);
        }
        if (rc < 0) { vnetd_tls_fail(identity, "adding a name", rc); goto done; }
    }
    gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
    unsigned char key_id[64];
    size_t key_id_size = sizeof key_id;
    if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, key_id, &key_id_size) >= 0) {
        gnutls_x509_crt_set_subject_key_id(crt, key_id, key_id_size);
    }
    if ((rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0) { vnetd_tls_fail(identity, "signing", rc); goto done; }

    if ((rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_pem)) < 0) { vnetd_tls_fail(identity, "exporting the certificate", rc); goto done; }
    if ((rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &key_pem)) < 0) {
        vnetd_tls_fail(identity, "exporting the key", rc); goto done;
    }
    unsigned char digest[32];
    size_t digest_size = sizeof digest;
    if ((rc = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, digest, &digest_size)) < 0) {
        vnetd_tls_fail(identity, "fingerprint", rc); goto done;
    }
    for (size_t i = 0; i < digest_size && i < 32; i++) snprintf(identity->fingerprint_sha256 + 2 * i, 3, "%02x", digest[i]);
    identity->certificate_pem = vnetd_tls_copy(&cert_pem);
    identity->key_pem = vnetd_tls_copy(&key_pem);
    if (identity->certificate_pem == NULL || identity->key_pem == NULL) { snprintf(identity->error, sizeof identity->error, "out of memory"); goto done; }
    status = 0;
done:
    if (cert_pem.data != NULL) gnutls_free(cert_pem.data);
    if (key_pem.data != NULL) { gnutls_memset(key_pem.data, 0, key_pem.size); gnutls_free(key_pem.data); }
    if (crt != NULL) gnutls_x509_crt_deinit(crt);
    if (key != NULL) gnutls_x509_privkey_deinit(key);
    if (status != 0) {
        free(identity->certificate_pem);
        free(identity->key_pem);
        identity->certificate_pem = NULL;
        identity->key_pem = NULL;
    }
    return status;
}

static inline void vnetd_tls_identity_free(struct vnetd_tls_identity *identity) {
    free(identity->certificate_pem);
    if (identity->key_pem != NULL) {
        explicit_bzero(identity->key_pem, strlen(identity->key_pem));
        free(identity->key_pem);
    }
    identity->certificate_pem = NULL;
    identity->key_pem = NULL;
}

/// Calls `sink` with each DNS name (subject alternative names, or the common name when there are
/// none) of the first certificate in `pem`. Returns the number of names, or -1 when it cannot be read.
typedef void (*vnetd_tls_name_sink)(void *context, const char *name);

static inline int vnetd_tls_certificate_dns_names(const char *pem, vnetd_tls_name_sink sink, void *context) {
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t datum = {(unsigned char *)pem, (unsigned int)strlen(pem)};
    if (gnutls_x509_crt_init(&crt) < 0) return -1;
    if (gnutls_x509_crt_import(crt, &datum, GNUTLS_X509_FMT_PEM) < 0) { gnutls_x509_crt_deinit(crt); return -1; }
    int count = 0;
    char name[256];
    for (unsigned int index = 0;; index++) {
        size_t size = sizeof name - 1;
        unsigned int critical = 0;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, index, name, &size, &critical);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
        if (type == GNUTLS_SAN_DNSNAME && size < sizeof name) {
            name[size] = '\0';
            sink(context, name);
            count++;
        }
        if (index > 1000) break;
    }
    if (count == 0) {
        size_t size = sizeof name;
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, name, &size) >= 0) {
            sink(context, name);
            count++;
        }
    }
    gnutls_x509_crt_deinit(crt);
    return count;
}

/// When the first certificate in `pem` stops being valid (seconds since 1970), or -1 when it
/// cannot be read.
static inline int64_t vnetd_tls_certificate_expiration(const char *pem) {
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t datum = {(unsigned char *)pem, (unsigned int)strlen(pem)};
    if (gnutls_x509_crt_init(&crt) < 0) return -1;
    int64_t expiration = -1;
    if (gnutls_x509_crt_import(crt, &datum, GNUTLS_X509_FMT_PEM) >= 0) {
        time_t time = gnutls_x509_crt_get_expiration_time(crt);
        if (time != (time_t)-1) expiration = (int64_t)time;
    }
    gnutls_x509_crt_deinit(crt);
    return expiration;
}

/// 1 when the first certificate in `pem` is for `host` (a DNS name, or an IPv4 or IPv6 address
/// matched against its IP address names), as a browser checks it; 0 otherwise.
static inline int vnetd_tls_certificate_covers(const char *pem, const char *host) {
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t datum = {(unsigned char *)pem, (unsigned int)strlen(pem)};
    if (gnutls_x509_crt_init(&crt) < 0) return 0;
    int covers = 0;
    if (gnutls_x509_crt_import(crt, &datum, GNUTLS_X509_FMT_PEM) >= 0) {
        covers = gnutls_x509_crt_check_hostname2(crt, host, 0) != 0;
    }
    gnutls_x509_crt_deinit(crt);
    return covers;
}

/// The peer address of a connection, or NULL when libmicrohttpd has none.
static inline const struct sockaddr *vnetd_mhd_client_address(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info == NULL ? NULL : info->client_addr;
}

#endif
