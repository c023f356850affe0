// Preloaded into `albatross serve` under valgrind by bench/callgrind.sh, and nowhere else.
//
// libdispatch's signal thread (the main thread of a Swift program with an async main) calls sigsuspend() with a
// `static const` mask, which lies in read-only memory. valgrind 3.19 edits the mask it is given in place before
// passing it to the kernel, faults on the read-only page and aborts ("VALGRIND INTERNAL ERROR ... signal 11").
// This sigsuspend() passes a writable copy instead; the system call is the same.
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
