// SwiftPM renames an executable's entry point to <Module>_main and points `main` at it, which
// hides libFuzzer's own main; each target's <Module>_main hands over to libFuzzer here instead.
// Built without -sanitize=fuzzer (as CI does, to keep the package compiling), libFuzzer is absent:
// the target then runs each file named on its command line once, like libFuzzer's replay mode.
#include "FuzzDriver.h"
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size)) __attribute__((weak));

static int replay(const char *path, vnetd_fuzz_callback callback) {
    FILE *file = fopen(path, "rb");
    if (!file) { perror(path); return 1; }
    size_t capacity = 4096, size = 0;
    uint8_t *data = malloc(capacity);
    size_t count;
    while (data && (count = fread(data + size, 1, capacity - size, file)) > 0) {
        size += count;
        if (size == capacity) { capacity *= 2; data = realloc(data, capacity); }
    }
    fclose(file);
    if (!data) return 1;
    callback(data, size);
    free(data);
    fprintf(stderr, "%s: ran %zu bytes\n", path, size);
    return 0;
}

int vnetd_run_fuzzer(int argc, char **argv, vnetd_fuzz_callback callback) {
    if (LLVMFuzzerRunDriver) return LLVMFuzzerRunDriver(&argc, &argv, callback);
    int status = 0;
    for (int index = 1; index < argc; index++) {
        if (argv[index][0] == '-') continue;  // libFuzzer options mean nothing here
        status |= replay(argv[index], callback);
    }
    return status;
}
