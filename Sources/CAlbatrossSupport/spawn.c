#define _GNU_SOURCE
#include "albatross_support.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/// Closes every descriptor from `from` to `limit` except `keep`. Async-signal-safe (runs between fork and exec):
/// close_range(2), or one close(2) per descriptor on kernels before 5.9.
static void close_from(int from, int keep, long limit) {
    long ok = 0;
    if (keep > from) ok |= syscall(SYS_close_range, (unsigned)from, (unsigned)(keep - 1), 0U);
    ok |= syscall(SYS_close_range, (unsigned)(keep + 1), ~0U, 0U);
    if (ok == 0) return;
    for (long fd = from; fd < limit; fd++) {
        if (fd != keep) close((int)fd);
    }
}

/// Between fork and exec: only async-signal-safe calls. On failure, the errno goes to `report` and the child
/// exits 127 (the parent reaps it).
/// Moves the calling process into the control group whose `cgroup.procs` (or v1 `tasks`) file is `file`:
/// "0" names the writer. Async-signal-safe.
static int join_group(const char *file) {
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t written;
    do {
        written = write(fd, "0", 1);
    } while (written < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return written == 1 ? 0 : -1;
}

static void child(pid_t parent, const char *path, char *const argv[], char *const envp[], const char *cwd,
                  int stdin_fd, int output_fd, const struct albatross_spawn_limits *limits, int report,
                  long fd_limit, const sigset_t *none) {
    int error;
    // Its own process group, as the parent also sets (whichever runs first; the parent kills the group). Or its
    // own session, which makes it the leader of a new group as well (the parent then leaves the group alone:
    // setsid fails for a process that already leads one).
    if (limits != NULL && limits->new_session) {
        if (setsid() < 0) goto fail;
    } else {
        setpgid(0, 0);
    }
    // Into the environment's control groups before anything of the runtime runs, so that nothing it starts
    // (even with setsid) is outside them.
    if (limits != NULL && limits->group_files != NULL) {
        for (const char *const *file = limits->group_files; *file != NULL; file++) {
            if (join_group(*file) != 0) goto fail;
        }
    }
    if (limits != NULL && limits->batch_scheduling) {
        struct sched_param param = {0};
        if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) goto fail;
    }
    if (limits != NULL && limits->address_space_bytes > 0) {
        struct rlimit limit = {(rlim_t)limits->address_space_bytes, (rlim_t)limits->address_space_bytes};
        if (setrlimit(RLIMIT_AS, &limit) != 0) goto fail;
    }
    // Ends with the thread that forked it (a long-lived one, see ProcessLauncher). If the parent was already
    // gone before this was set, nothing would send the signal: check, and give up.
    if (limits == NULL || !limits->outlives_parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) goto fail;
        if (getppid() != parent) _exit(127);
    }
    // Default dispositions: exec keeps ignored signals ignored, and signals are blocked until here so that no
    // handler of the parent runs in the child.
    // The raw system call, because glibc's sigaction() refuses the signals it reserves for itself (32, 33),
    // which could otherwise stay ignored. The kernel's struct sigaction: handler, flags, restorer, mask.
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        unsigned long mask;
    } dfl = {SIG_DFL, 0, NULL, 0};
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        (void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    }
    if (chdir(cwd) != 0) goto fail;
    // The pipe and /dev/null are >= 3 (0-2 are open in the server); dup2 clears their close-on-exec flag.
    if (dup2(stdin_fd, 0) < 0 || dup2(output_fd, 1) < 0 || dup2(output_fd, 2) < 0) goto fail;
    close_from(3, report, fd_limit);
    if (sigprocmask(SIG_SETMASK, none, NULL) != 0) goto fail;
    execve(path, argv, envp);
fail:
    error = errno;
    while (write(report, &error, sizeof error) < 0 && errno == EINTR) {}
    _exit(127);
}

int albatross_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                    const char *cwd, int stdin_fd, int output_fd, const struct albatross_spawn_limits *limits) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    sigset_t all, none, previous;
    sigfillset(&all);
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t parent = getpid();
    long fd_limit = sysconf(_SC_OPEN_MAX);
    if (fd_limit < 0 || fd_limit > 1 << 20) fd_limit = 1 << 20;
    pid_t forked = fork();
    if (forked == 0) child(parent, path, argv, envp, cwd, stdin_fd, output_fd, limits, report[1], fd_limit, &none);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    if (forked < 0) {
        close(report[0]);
        return saved;
    }
    // Before the parent may signal the group (fails harmlessly once the child has exec'd or set it itself).
    if (limits == NULL || !limits->new_session) (void)setpgid(forked, forked);
    // EOF: exec succeeded (the write end was close-on-exec); 4 bytes: the errno of the step that failed.
    int error = 0;
    ssize_t got;
    do {
        got = read(report[0], &error, sizeof error);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof error) {
        int status;
        while (waitpid(forked, &status, 0) < 0 && errno == EINTR) {}
        return error != 0 ? error : ECHILD;
    }
    *pid = forked;
    return 0;
}

int albatross_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}
