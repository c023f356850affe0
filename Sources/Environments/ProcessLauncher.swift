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
    static func launch(
        executable: String, arguments: [String], environment: [String], workingDirectory: String,
        groupFiles: [String] = [], addressSpaceBytes: UInt64 = 0, standardInput: Int32? = nil,
        outlivesParent: Bool = false, newSession: Bool = false, batchScheduling: Bool = false
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
                        batch_scheduling: batchScheduling ? 1 : 0)
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

    /// `signal` to every process of the group `leader` leads except the leader itself (found in `/proc`; reads
    /// files: call off the event loops). For a sandbox, whose leader is bwrap: bwrap dies of a SIGTERM and takes
    /// the sandbox with it at once, while the runtime inside should get the signal and its grace period.
    static func signalGroupSparingLeader(_ leader: pid_t, _ signal: Int32) {
        guard let directory = opendir("/proc") else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = pid_t(name), pid != leader, processGroup(of: pid) == leader else { continue }
            _ = kill(pid, signal)
        }
    }

    /// The process group of `pid` (the fifth field of `/proc/<pid>/stat`, after the parenthesised command name,
    /// which may itself hold spaces and parentheses); nil when it is gone.
    static func processGroup(of pid: pid_t) -> pid_t? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        guard count > 0 else { return nil }
        return parseProcessGroup(stat: buffer[..<count])
    }

    /// The process group in the text of a `/proc/<pid>/stat` file: `pid (comm) state ppid pgrp ...`.
    static func parseProcessGroup<Bytes: BidirectionalCollection<UInt8>>(stat: Bytes) -> pid_t? {
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 2 else { return nil }
        return pid_t(String(decoding: fields[2], as: UTF8.self))
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
