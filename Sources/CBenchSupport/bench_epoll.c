#include "bench_support.h"

#include <errno.h>
#include <stddef.h>
#include <time.h>

int albatross_epoll_wait_ns(int epfd, struct epoll_event *events, int max_events, long long timeout_ns) {
    struct timespec timeout = {.tv_sec = 0, .tv_nsec = 0};
    if (timeout_ns >= 0) {
        timeout.tv_sec = timeout_ns / 1000000000LL;
        timeout.tv_nsec = timeout_ns % 1000000000LL;
    }
    int result = epoll_pwait2(epfd, events, max_events, timeout_ns < 0 ? NULL : &timeout, NULL);
    if (result >= 0 || errno != ENOSYS) return result;
    // Kernels before 5.11 (or a seccomp filter without epoll_pwait2): milliseconds, rounded up so that an open
    // loop's send is never early, only up to a millisecond late.
    long long milliseconds = timeout_ns < 0 ? -1 : (timeout_ns + 999999LL) / 1000000LL;
    if (milliseconds > 2147483647LL) milliseconds = 2147483647LL;
    return epoll_wait(epfd, events, max_events, (int)milliseconds);
}
