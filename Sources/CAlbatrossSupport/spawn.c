#define _GNU_SOURCE
#include "albatross_support.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

int albatross_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                    const char *cwd, int stdin_fd, int output_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return result;
    }
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if ((result = posix_spawn_file_actions_addchdir_np(&actions, cwd)) != 0) goto done;
    if ((result = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0)) != 0) goto done;
    if ((result = posix_spawn_file_actions_adddup2(&actions, output_fd, 1)) != 0) goto done;
    if ((result = posix_spawn_file_actions_adddup2(&actions, output_fd, 2)) != 0) goto done;
    if ((result = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) != 0) goto done;
    if ((result = posix_spawnattr_setpgroup(&attributes, 0)) != 0) goto done;
    if ((result = posix_spawnattr_setsigdefault(&attributes, &all)) != 0) goto done;
    if ((result = posix_spawnattr_setsigmask(&attributes, &none)) != 0) goto done;
    if ((result = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                            POSIX_SPAWN_SETSIGMASK)) != 0)
        goto done;
    result = posix_spawn(pid, path, &actions, &attributes, argv, envp);
done:
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}

int albatross_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}
