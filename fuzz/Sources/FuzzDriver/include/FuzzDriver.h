#ifndef VNETD_FUZZ_DRIVER_H
#define VNETD_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

typedef int (*vnetd_fuzz_callback)(const uint8_t *data, size_t size);

/// Runs libFuzzer's driver (with its usual command line) on `callback`.
int vnetd_run_fuzzer(int argc, char **argv, vnetd_fuzz_callback callback);

#endif
