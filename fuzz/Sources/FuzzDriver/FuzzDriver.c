// SwiftPM renames an executable's entry point to <Module>_main and points `main` at it, which
// hides libFuzzer's own main; each target's <Module>_main hands over to libFuzzer here instead.
#include "FuzzDriver.h"

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));

int vnetd_run_fuzzer(int argc, char **argv, vnetd_fuzz_callback callback) {
    return LLVMFuzzerRunDriver(&argc, &argv, callback);
}
