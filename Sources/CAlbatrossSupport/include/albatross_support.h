#ifndef ALBATROSS_SUPPORT_H
#define ALBATROSS_SUPPORT_H

#include <sys/types.h>

/// What the child applies to itself before exec.
struct albatross_spawn_limits {
    /// NULL-terminated paths of `cgroup.procs` files the child writes "0" to (joins), in order; NULL: none.
    const char *const *group_files;
    /// RLIMIT_AS (soft and hard) in bytes; 0: unchanged.
    unsigned long long address_space_bytes;
    /// Non-zero: no parent-death signal (a process meant to act after the server is gone).
    int outlives_parent;
    /// Non-zero: a new session (setsid) instead of only a new process group: the child has no controlling
    /// terminal, so nothing it runs can open `/dev/tty` (or push input into it with TIOCSTI). Its pid is still the
    /// process group id.
    int new_session;
    /// Non-zero: the child runs under SCHED_BATCH (a CPU-bound, non-interactive task to the scheduler: it does not
    /// preempt the task that woke it), inherited by everything it starts.
    int batch_scheduling;
    /// Non-zero: the host pid of a sandbox's init (a bubblewrap sandbox's pid 1, see `Sandbox`) whose PID, IPC,
    /// UTS, mount and user namespaces and root directory the child joins after the control groups (see `join` in
    /// spawn.c: a forked joiner enters them and starts the process that runs, still the caller's own child, with
    /// CLONE_PARENT). That process then drops every capability (bounding, ambient, effective, permitted,
    /// inheritable) and sets PR_SET_NO_NEW_PRIVS, as bubblewrap does for what it runs. `cwd` and a `path` with a
    /// slash are paths inside the sandbox; a `path` without one is looked up in the `PATH` of `envp`. Works
    /// without privileges when bubblewrap made the namespaces in a user namespace of the caller's user.
    pid_t join_pid;
    /// With `join_pid`: a pidfd of that process. Its namespaces are used only if it still runs once they are open,
    /// so that a reused pid can never send the child into another process's namespaces.
    int join_pidfd;
    /// With `join_pid`, >= 0: the user the process becomes (setresuid) with `run_as_gid` its group and only group,
    /// as it drops its capabilities; -1: it stays the caller's user.
    long run_as_uid;
    long run_as_gid;
};

/// Starts `path` in a new process group (its pid is the group id) with working directory `cwd`,
/// standard input from `stdin_fd`, standard output and error both to `output_fd`, every other
/// descriptor closed, default signal dispositions and an empty signal mask. The child gets SIGKILL
/// when the thread that called this exits (PR_SET_PDEATHSIG): call it from a thread that lives as
/// long as the server. fork + exec rather than posix_spawn, which cannot set a parent-death signal.
/// `limits` (may be NULL): control groups joined and an address-space limit set in the child before exec.
/// Returns 0 and sets `*pid`, or the errno value of the step that failed (joining a group, chdir, dup2, exec).
int albatross_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                    const char *cwd, int stdin_fd, int output_fd, const struct albatross_spawn_limits *limits);

/// pidfd_open(2): a descriptor (close-on-exec) that names `pid` for as long as it is open, even once its number is
/// reused; -1 (errno set) on failure.
int albatross_pidfd_open(pid_t pid);

/// pidfd_send_signal(2) with no siginfo; 0, or -1 with errno set.
int albatross_pidfd_signal(int pidfd, int signal);

/// pipe2(O_CLOEXEC); returns 0 or errno.
int albatross_pipe_cloexec(int fds[2]);

#endif
