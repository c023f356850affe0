#define _GNU_SOURCE
#include "albatross_support.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

/// The namespaces and root a child joins (`join_pid`): descriptors opened by the parent before the fork.
struct joined_sandbox {
    int pid, ipc, uts, mnt, root, user;
    /// The caller's own user namespace.
    int own_user;
};

/// What the report pipe carries from the children to the parent: the errno of the step that failed, or (from the
/// joiner, see `join`) the pid of the process it started. One write of 8 bytes each: atomic on a pipe.
struct report_message {
    int kind;
    int value;
};
enum { report_errno = 0, report_pid = 1 };

static void send_report(int report, int kind, int value) {
    struct report_message message = {kind, value};
    while (write(report, &message, sizeof message) < 0 && errno == EINTR) {}
}

/// Whether descriptors `a` and `b` name the same namespace (compared by inode). Async-signal-safe.
static int same_namespace(int a, int b) {
    struct stat first, second;
    return fstat(a, &first) == 0 && fstat(b, &second) == 0 && first.st_ino == second.st_ino
        && first.st_dev == second.st_dev;
}

/// Joins the sandbox's namespaces and root, in the forked child (the "joiner"), and returns in a process started
/// inside them. A server without privileges can do this too: bubblewrap made its namespaces in a user namespace
/// of the server's user, where that user has every capability once it joins it. So the joiner first enters the
/// user namespace that owns the PID namespace (bubblewrap's outer one), where it may join the PID, IPC, UTS and
/// mount namespaces; then the init's own user namespace (bubblewrap nests a second one when it maps the sandbox's
/// user), so that what runs sees the same users as the init. For root, both are its own namespace and nothing
/// changes. A PID namespace takes effect for children only: the joiner starts the process that will run, with
/// CLONE_PARENT, so that it is the server's own child (reaped, signalled and waited for as any other), reports its
/// pid and exits. Returns 0 in that process; -1 (errno set) in the joiner on failure; never in the joiner on
/// success. Async-signal-safe.
static int join(const struct joined_sandbox *sandbox, int report) {
    int owner = ioctl(sandbox->pid, NS_GET_USERNS);
    if (owner < 0) return -1;
    int entered = same_namespace(owner, sandbox->own_user) ? 0 : setns(owner, CLONE_NEWUSER);
    int saved = errno;
    // Now in `owner` either way.
    int nested = !same_namespace(owner, sandbox->user);
    close(owner);
    errno = saved;
    if (entered != 0) return -1;
    if (setns(sandbox->pid, CLONE_NEWPID) != 0) return -1;
    if (setns(sandbox->ipc, CLONE_NEWIPC) != 0 || setns(sandbox->uts, CLONE_NEWUTS) != 0) return -1;
    if (setns(sandbox->mnt, CLONE_NEWNS) != 0) return -1;
    if (fchdir(sandbox->root) != 0 || chroot(".") != 0) return -1;
    if (nested && setns(sandbox->user, CLONE_NEWUSER) != 0) return -1;
    long started = syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0L, 0L, 0L, 0L);
    if (started < 0) return -1;
    if (started == 0) return 0;
    send_report(report, report_pid, (int)started);
    _exit(0);
}

/// What bubblewrap does for the process it runs with `--cap-drop ALL`: no capability left in any set, none to be
/// regained by exec (the bounding set is empty, so not even root's exec gets any back), and no new privileges
/// (setuid bits and file capabilities are ignored). With `uid` >= 0, the process also becomes that user, with `gid`
/// its only group, after the bounding set is emptied (which needs CAP_SETPCAP) and before the other sets are.
/// Async-signal-safe.
static int drop_privileges(long uid, long gid) {
    for (int cap = 0; cap < 64; cap++) {
        // EINVAL: beyond the kernel's last capability.
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    }
    // Older kernels have no ambient set (EINVAL): nothing to clear then.
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    if (uid >= 0) {
        gid_t group = (gid_t)gid;
        // The raw system calls: glibc's wrappers would signal every thread it believes the process has, and it
        // does not know that one started by a raw clone (`join`) has only one.
        if (syscall(SYS_setgroups, 1, &group) != 0) return -1;
        if (syscall(SYS_setresgid, group, group, group) != 0) return -1;
        if (syscall(SYS_setresuid, (uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    return (int)syscall(SYS_capset, &header, data);
}

/// execve, or for a name without a slash each directory of the `PATH` in `envp` in turn (execvp's search, done
/// here because the PATH is the sandbox's, not the server's). Returns only on failure, with errno set. Uses only
/// the stack: async-signal-safe.
static void exec_searching(const char *path, char *const argv[], char *const envp[]) {
    if (strchr(path, '/') != NULL) {
        execve(path, argv, envp);
        return;
    }
    const char *search = "/usr/local/bin:/usr/bin:/bin";
    for (char *const *entry = envp; *entry != NULL; entry++) {
        if (strncmp(*entry, "PATH=", 5) == 0) search = *entry + 5;
    }
    size_t length = strlen(path);
    int denied = 0;
    for (const char *start = search;; start++) {
        const char *end = strchrnul(start, ':');
        size_t directory = (size_t)(end - start);
        char candidate[4096];
        if (directory + 1 + length < sizeof candidate) {
            // An empty entry is the working directory, as for execvp.
            if (directory == 0) {
                candidate[0] = '.';
                directory = 1;
            } else {
                memcpy(candidate, start, directory);
            }
            candidate[directory] = '/';
            memcpy(candidate + directory + 1, path, length + 1);
            execve(candidate, argv, envp);
            if (errno == EACCES) denied = 1;
        }
        if (*end == '\0') break;
        start = end;
    }
    errno = denied ? EACCES : ENOENT;
}

static void child(pid_t parent, const char *path, char *const argv[], char *const envp[], const char *cwd,
                  int stdin_fd, int output_fd, const struct albatross_spawn_limits *limits, int report,
                  long fd_limit, const sigset_t *none, const struct joined_sandbox *sandbox) {
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
    // Into the sandbox, after the control groups (whose files are not in its mount namespace): from here on, in
    // the process `join` started there (the joiner reports its pid and exits). The root is the sandbox init's,
    // opened before the mount namespace changed.
    if (sandbox != NULL && join(sandbox, report) != 0) goto fail;
    // Its own process group, as the parent also sets (whichever runs first; the parent kills the group). Or its
    // own session, which makes it the leader of a new group as well (the parent then leaves the group alone:
    // setsid fails for a process that already leads one).
    if (limits != NULL && limits->new_session) {
        if (setsid() < 0) goto fail;
    } else {
        setpgid(0, 0);
    }
    // Ends with the thread that forked it (a long-lived one, see ProcessLauncher). If the parent was already
    // gone before this was set, nothing would send the signal: check, and give up.
    if (limits == NULL || !limits->outlives_parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) goto fail;
        // In a sandbox's PID namespace the parent (the server, by CLONE_PARENT) is outside it: 0 while it lives,
        // the sandbox's init once not.
        if (getppid() != (sandbox != NULL ? 0 : parent)) _exit(127);
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
    if (sandbox != NULL && drop_privileges(limits->run_as_uid, limits->run_as_gid) != 0) goto fail;
    // The pipe and /dev/null are >= 3 (0-2 are open in the server); dup2 clears their close-on-exec flag.
    if (dup2(stdin_fd, 0) < 0 || dup2(output_fd, 1) < 0 || dup2(output_fd, 2) < 0) goto fail;
    close_from(3, report, fd_limit);
    if (sigprocmask(SIG_SETMASK, none, NULL) != 0) goto fail;
    if (sandbox != NULL) {
        exec_searching(path, argv, envp);
    } else {
        execve(path, argv, envp);
    }
fail:
    send_report(report, report_errno, errno);
    _exit(127);
}

/// Opens `/proc/<pid>/<name>` (close-on-exec); -1 on failure.
static int open_proc(pid_t pid, const char *name, int flags) {
    char file[64];
    snprintf(file, sizeof file, "/proc/%d/%s", (int)pid, name);
    return open(file, O_RDONLY | O_CLOEXEC | flags);
}

static void close_sandbox(struct joined_sandbox *sandbox) {
    int fds[] = {sandbox->pid, sandbox->ipc,  sandbox->uts,
                 sandbox->mnt, sandbox->root, sandbox->user, sandbox->own_user};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (fds[i] >= 0) close(fds[i]);
    }
}

static void reap(pid_t child) {
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
}

int albatross_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                    const char *cwd, int stdin_fd, int output_fd, const struct albatross_spawn_limits *limits) {
    struct joined_sandbox sandbox = {-1, -1, -1, -1, -1, -1, -1};
    int joining = limits != NULL && limits->join_pid > 0;
    if (joining) {
        pid_t init = limits->join_pid;
        sandbox.pid = open_proc(init, "ns/pid", 0);
        sandbox.ipc = open_proc(init, "ns/ipc", 0);
        sandbox.uts = open_proc(init, "ns/uts", 0);
        sandbox.mnt = open_proc(init, "ns/mnt", 0);
        sandbox.root = open_proc(init, "root", O_DIRECTORY);
        sandbox.user = open_proc(init, "ns/user", 0);
        // Here, not in the child: once it has changed its root, /proc is the sandbox's.
        sandbox.own_user = open("/proc/thread-self/ns/user", O_RDONLY | O_CLOEXEC);
        if (sandbox.pid < 0 || sandbox.ipc < 0 || sandbox.uts < 0 || sandbox.mnt < 0 || sandbox.root < 0
            || sandbox.user < 0 || sandbox.own_user < 0) {
            int saved = errno;
            close_sandbox(&sandbox);
            return saved;
        }
        // Still the same process (alive now, so it has held the pid since its pidfd was opened): the descriptors
        // are its namespaces, not those of a process that got its pid after it died.
        if (syscall(SYS_pidfd_send_signal, limits->join_pidfd, 0, NULL, 0) != 0) {
            close_sandbox(&sandbox);
            return ESRCH;
        }
    }
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        int saved = errno;
        close_sandbox(&sandbox);
        return saved;
    }
    sigset_t all, none, previous;
    sigfillset(&all);
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t parent = getpid();
    long fd_limit = sysconf(_SC_OPEN_MAX);
    if (fd_limit < 0 || fd_limit > 1 << 20) fd_limit = 1 << 20;
    pid_t forked = fork();
    if (forked == 0) {
        child(parent, path, argv, envp, cwd, stdin_fd, output_fd, limits, report[1], fd_limit, &none,
              joining ? &sandbox : NULL);
    }
    int saved = errno;
    close_sandbox(&sandbox);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    if (forked < 0) {
        close(report[0]);
        return saved;
    }
    // Before the parent may signal the group (fails harmlessly once the child has exec'd or set it itself).
    if (!joining && (limits == NULL || !limits->new_session)) (void)setpgid(forked, forked);
    // Until EOF: every write end is close-on-exec, so EOF comes once the child has exec'd (and, joining, the joiner
    // has exited). On the way: the errno of a step that failed, and the pid of the process the joiner started.
    int error = 0;
    pid_t started = joining ? 0 : forked;
    for (;;) {
        struct report_message message;
        ssize_t got = read(report[0], &message, sizeof message);
        if (got < 0 && errno == EINTR) continue;
        if (got != (ssize_t)sizeof message) break;
        if (message.kind == report_pid) {
            started = message.value;
            if (limits == NULL || !limits->new_session) (void)setpgid(started, started);
        } else {
            error = message.value != 0 ? message.value : ECHILD;
        }
    }
    close(report[0]);
    if (joining) reap(forked);
    if (started <= 0) return error != 0 ? error : ECHILD;
    if (error != 0) {
        reap(started);
        return error;
    }
    *pid = started;
    return 0;
}

int albatross_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}

int albatross_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int albatross_pidfd_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}
