// Nothing here: LLVMFuzzerRunDriver is defined by libFuzzer, which `-sanitize=fuzzer` links in.
#include "FuzzDriver.h"
