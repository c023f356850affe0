import CAlbatrossSupport
import Foundation
import NIOConcurrencyHelpers

/// A started runtime process: its pid (also its process-group id) and the read end of its output pipe.
struct LaunchedProcess: Sendable {
    var pid: pid_t
    /// stdout and stderr of the runtime, merged in write order.
    var outputFD: Int32
}

/// How a runtime process ended.
enum ProcessExit: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)

    /// RAPID's wording: `exit status 1`, `signal: killed`.
    var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signaled(let signal):
            switch signal {
            case SIGKILL: return "signal: killed"
            case SIGTERM: return "signal: terminated"
            case SIGSEGV: return "signal: segmentation fault"
            case SIGABRT: return "signal: aborted"
            default: return "signal: \(signal)"
            }
        }
    }
}

struct LaunchError: Error, CustomStringConvertible {
    var description: String
}

/// Starts runtime processes and reaps them. Blocking calls (fork/exec, `waitpid`) run on threads, never on an
/// event loop: spawning on the caller's thread-pool thread, reaping on one waiter thread per process.
///
/// Each runtime gets SIGKILL when the server dies, even by SIGKILL (`PR_SET_PDEATHSIG`, set in the child before
/// exec). Linux sends that signal when the *thread* that forked the child exits, so spawning happens only on the
/// threads of the server's `NIOThreadPool` (``EnvironmentSpec/threadPool``): they are started with the pool and
/// each runs its work loop until the pool is shut down, which the application does only after every environment
/// has been stopped and reaped (swift-nio 2.101 `NIOThreadPool.process(identifier:)`; no idle thread exits).
enum ProcessLauncher {
    /// Spawns `executable` with `arguments` in its own process group. Call from a thread of a pool that lives as
    /// long as the runtime should (see the type).
    ///
    /// - Parameters:
    ///   - groupFiles: the `cgroup.procs` files of the control groups the child joins before exec (so that
    ///     nothing it runs is ever outside them).
    ///   - addressSpaceBytes: RLIMIT_AS set in the child before exec; 0: unchanged.
    ///   - standardInput: the child's standard input (default /dev/null).
    ///   - outlivesParent: no parent-death signal (only for a process meant to outlive the server).
    ///   - newSession: a session of its own (no controlling terminal) rather than only a process group.
    ///   - batchScheduling: the child and what it starts run under `SCHED_BATCH`.
    ///   - joining: a sandbox the child runs in (``Sandbox/Holder``): it joins the sandbox's namespaces and root
    ///     after its control groups, drops every capability and becomes the sandbox's user (``Sandbox/Holder/runAs``);
    ///     `executable` (looked up in the `PATH` of
    ///     `environment` when it has no slash) and `workingDirectory` are then paths inside the sandbox.
    static func launch(
        executable: String, arguments: [String], environment: [String], workingDirectory: String,
        groupFiles: [String] = [], addressSpaceBytes: UInt64 = 0, standardInput: Int32? = nil,
        outlivesParent: Bool = false, newSession: Bool = false, batchScheduling: Bool = false,
        joining sandbox: Sandbox.Holder? = nil
    ) throws -> LaunchedProcess {
        var pipe: [Int32] = [-1, -1]
        let pipeResult = pipe.withUnsafeMutableBufferPointer { albatross_pipe_cloexec($0.baseAddress!) }
        guard pipeResult == 0 else { throw LaunchError(description: "cannot create a pipe: \(errnoText(pipeResult))") }
        let devNull = standardInput.map { fcntl($0, F_DUPFD_CLOEXEC, 3) } ?? open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard devNull >= 0 else {
            close(pipe[0])
            close(pipe[1])
            throw LaunchError(description: "cannot open /dev/null: \(errnoText(errno))")
        }
        defer {
            close(devNull)
            close(pipe[1])
        }
        var pid: pid_t = 0
        let argv = [executable] + arguments
        let result = withCStrings(argv) { argvPointer in
            withCStrings(environment) { envPointer in
                withCStrings(groupFiles) { groupPointer -> Int32 in
                    let files: UnsafePointer<UnsafePointer<CChar>?>? =
                        groupFiles.isEmpty
                        ? nil : UnsafeRawPointer(groupPointer).assumingMemoryBound(to: UnsafePointer<CChar>?.self)
                    var limits = albatross_spawn_limits(
                        group_files: files, address_space_bytes: addressSpaceBytes,
                        outlives_parent: outlivesParent ? 1 : 0, new_session: newSession ? 1 : 0,
                        batch_scheduling: batchScheduling ? 1 : 0, join_pid: sandbox?.initPID ?? 0,
                        join_pidfd: sandbox?.initFD ?? -1, run_as_uid: sandbox?.runAs.map { Int($0.uid) } ?? -1,
                        run_as_gid: sandbox?.runAs.map { Int($0.gid) } ?? -1)
                    return albatross_spawn(
                        &pid, executable, argvPointer, envPointer, workingDirectory, devNull, pipe[1], &limits)
                }
            }
        }
        guard result == 0 else {
            close(pipe[0])
            throw LaunchError(description: "cannot start \(executable): \(errnoText(result))")
        }
        return LaunchedProcess(pid: pid, outputFD: pipe[0])
    }

    /// Waits for `pid` on a dedicated thread and calls `onExit` once it has been reaped (so no zombie stays).
    static func reap(_ pid: pid_t, onExit: @escaping @Sendable (ProcessExit) -> Void) {
        let thread = Thread {
            var status: Int32 = 0
            while true {
                let r = waitpid(pid, &status, 0)
                if r == pid { break }
                if r < 0 && errno == EINTR { continue }
                onExit(.exited(-1))
                return
            }
            if status & 0x7f == 0 {
                onExit(.exited((status >> 8) & 0xff))
            } else {
                onExit(.signaled(status & 0x7f))
            }
        }
        thread.name = "albatross-reaper-\(pid)"
        thread.stackSize = 64 * 1024
        thread.start()
    }

    /// SIGKILL to the whole process group: the runtime and everything it started.
    static func killGroup(_ pid: pid_t) {
        signalGroup(pid, SIGKILL)
    }

    /// `signal` to the whole process group.
    static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        _ = kill(-pid, signal)
    }

    private static func withCStrings<R>(
        _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
    ) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
