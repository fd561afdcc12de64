// Certificates that can be replaced while the daemon runs (SIGHUP after a renewal).
//
// libmicrohttpd asks a callback for the certificate at every handshake (MHD_OPTION_HTTPS_CERT_CALLBACK,
// GnuTLS's retrieve function), written in Swift (`TLSCredentialStore`), which keeps the one
// table of credentials: state kept here would be copied into every Swift file including this
// header. A handshake under way keeps the credentials it was given, which therefore stay
// allocated until the server stops.
#ifndef VNETD_CMICROHTTPD_TLS_RELOAD_H
#define VNETD_CMICROHTTPD_TLS_RELOAD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

#define VNETD_TLS_MAX_CHAIN 16

/// A parsed certificate chain and its private key, ready for handshakes.
struct vnetd_tls_credentials {
    gnutls_pcert_st certificates[VNETD_TLS_MAX_CHAIN];
    unsigned int count;
    gnutls_privkey_t key;
};

static inline void vnetd_tls_credentials_free(struct vnetd_tls_credentials *credentials) {
    if (credentials == NULL) return;
    for (unsigned int index = 0; index < credentials->count; index++) gnutls_pcert_deinit(&credentials->certificates[index]);
    if (credentials->key != NULL) gnutls_privkey_deinit(credentials->key);
    free(credentials);
}

/// Parses PEM text into credentials, checking that the key belongs to the first certificate.
/// Returns NULL with a reason in `error` when the pair cannot serve.
static inline struct vnetd_tls_credentials *vnetd_tls_credentials_load(
    const char *certificate_pem, const char *key_pem, char *error, size_t error_size)
{
    struct vnetd_tls_credentials *credentials = calloc(1, sizeof *credentials);
    if (credentials == NULL) { snprintf(error, error_size, "out of memory"); return NULL; }
    gnutls_datum_t certificate = {(unsigned char *)certificate_pem, (unsigned int)strlen(certificate_pem)};
    gnutls_datum_t key = {(unsigned char *)key_pem, (unsigned int)strlen(key_pem)};
    unsigned int count = VNETD_TLS_MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_raw(credentials->certificates, &count, &certificate, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || count == 0) {
        snprintf(error, error_size, "the certificate cannot be read: %s", rc < 0 ? gnutls_strerror(rc) : "no certificate");
        free(credentials);
        return NULL;
    }
    credentials->count = count;
    if ((rc = gnutls_privkey_init(&credentials->key)) < 0
        || (rc = gnutls_privkey_import_x509_raw(credentials->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(error, error_size, "the key cannot be read: %s", gnutls_strerror(rc));
        vnetd_tls_credentials_free(credentials);
        return NULL;
    }
    unsigned char certificate_id[64], key_id[64];
    size_t certificate_id_size = sizeof certificate_id, key_id_size = sizeof key_id;
    gnutls_pubkey_t public_key = NULL;
    int matches = gnutls_pubkey_get_key_id(credentials->certificates[0].pubkey, GNUTLS_KEYID_USE_SHA256, certificate_id, &certificate_id_size) >= 0
        && gnutls_pubkey_init(&public_key) >= 0
        && gnutls_pubkey_import_privkey(public_key, credentials->key, 0, 0) >= 0
        && gnutls_pubkey_get_key_id(public_key, GNUTLS_KEYID_USE_SHA256, key_id, &key_id_size) >= 0
        && key_id_size == certificate_id_size
        && memcmp(key_id, certificate_id, key_id_size) == 0;
    if (public_key != NULL) gnutls_pubkey_deinit(public_key);
    if (!matches) {
        snprintf(error, error_size, "the key is not the certificate's");
        vnetd_tls_credentials_free(credentials);
        return NULL;
    }
    return credentials;
}

/// The local port of a TLS session's socket (libmicrohttpd gives GnuTLS the socket itself as its
/// transport), or 0. GnuTLS's retrieve function has no context pointer: this is how the Swift
/// callback (`TLSCredentialStore`) finds which server a handshake is for.
static inline unsigned int vnetd_tls_session_local_port(gnutls_session_t session) {
    struct sockaddr_storage local;
    socklen_t length = sizeof local;
    if (getsockname(gnutls_transport_get_int(session), (struct sockaddr *)&local, &length) != 0) return 0;
    if (local.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&local)->sin_port);
    if (local.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&local)->sin6_port);
    return 0;
}

/// Hands `credentials` to a handshake (the out-parameters of GnuTLS's retrieve function).
static inline int vnetd_tls_present(
    struct vnetd_tls_credentials *credentials,
    gnutls_pcert_st **certificates, unsigned int *certificate_count, gnutls_privkey_t *key)
{
    if (credentials == NULL) return -1;
    *certificates = credentials->certificates;
    *certificate_count = credentials->count;
    *key = credentials->key;
    return 0;
}

#endif
