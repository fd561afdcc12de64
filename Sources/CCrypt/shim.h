// The one place where libxcrypt (the library behind /etc/shadow) meets Swift.
//
// Passwords are hashed with yescrypt, libxcrypt's default and Debian's choice for system
// accounts: salted, deliberately slow and memory-hard. The salt comes from the kernel's
// random source through crypt_gensalt_rn. The result is one self-describing string
// ("$y$j9T$salt$hash") that names its method and cost, so the cost can be raised later
// without breaking stored hashes.
#ifndef VNETD_CCRYPT_SHIM_H
#define VNETD_CCRYPT_SHIM_H

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

enum { VNETD_PASSWORD_HASH_SIZE = CRYPT_OUTPUT_SIZE };

/// Hashes `password` with a fresh salt into `out` (VNETD_PASSWORD_HASH_SIZE bytes).
/// Returns 0, or -1 when libxcrypt cannot (no entropy, no memory).
static inline int vnetd_password_hash(const char *password, char *out) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, (int)sizeof setting) == NULL) return -1;
    struct crypt_data *data = calloc(1, sizeof *data);
    if (data == NULL) return -1;
    const char *result = crypt_rn(password, setting, data, (int)sizeof *data);
    int status = -1;
    if (result != NULL && result[0] != '*' && strlen(result) < VNETD_PASSWORD_HASH_SIZE) {
        strcpy(out, result);
        status = 0;
    }
    explicit_bzero(data, sizeof *data);
    free(data);
    return status;
}

/// 1 when `password` hashes to `hash` under the method, cost and salt `hash` names; else 0.
/// The final comparison takes the same time wherever the strings differ.
static inline int vnetd_password_verify(const char *password, const char *hash) {
    struct crypt_data *data = calloc(1, sizeof *data);
    if (data == NULL) return 0;
    const char *result = crypt_rn(password, hash, data, (int)sizeof *data);
    int matches = 0;
    if (result != NULL && result[0] != '*') {
        size_t length = strlen(hash);
        if (strlen(result) == length) {
            unsigned char difference = 0;
            for (size_t i = 0; i < length; i++) difference |= (unsigned char)(result[i] ^ hash[i]);
            matches = difference == 0;
        }
    }
    explicit_bzero(data, sizeof *data);
    free(data);
    return matches;
}

#endif
