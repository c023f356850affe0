#include "bench_support.h"

#include <stddef.h>
#include <time.h>

int albatross_epoll_wait_ns(int epfd, struct epoll_event *events, int max_events, long long timeout_ns) {
    if (timeout_ns < 0) {
        return epoll_pwait2(epfd, events, max_events, NULL, NULL);
    }
    struct timespec timeout = {.tv_sec = timeout_ns / 1000000000LL, .tv_nsec = timeout_ns % 1000000000LL};
    return epoll_pwait2(epfd, events, max_events, &timeout, NULL);
}
