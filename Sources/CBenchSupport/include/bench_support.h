#ifndef ALBATROSS_BENCH_SUPPORT_H
#define ALBATROSS_BENCH_SUPPORT_H

#include <sys/epoll.h>

/// epoll_pwait2 with a timeout in nanoseconds (negative: none), for `bench`'s client (Sources/Bench,
/// `BenchSocketClient`): an open loop's sends need a finer timeout than epoll_wait's milliseconds, and Swift's Glibc
/// module does not bring <sys/epoll.h>. Returns what epoll_pwait2 returns (errno set on -1); where the kernel has no
/// epoll_pwait2 (ENOSYS), epoll_wait with the timeout rounded up to milliseconds.
int albatross_epoll_wait_ns(int epfd, struct epoll_event *events, int max_events, long long timeout_ns);

#endif
