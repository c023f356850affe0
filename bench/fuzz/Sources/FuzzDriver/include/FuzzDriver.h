// libFuzzer's driver, as a function: SwiftPM gives every executable a `main` of its own (on Linux it renames the
// module's entry point and points `main` at it), so the targets cannot use the `main` libFuzzer brings and call
// this one instead, with their test function.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*test_one_input)(const uint8_t *data, size_t size));
