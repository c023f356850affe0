import Environments
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import UnixSignals

/// SIGINT and SIGTERM: the first starts the graceful shutdown of the whole group; a second one, while that is
/// under way, exits at once with status 128 + the signal number (130 for SIGINT, 143 for SIGTERM) after
/// SIGKILLing every runtime's process group, so that nothing is left behind.
///
/// It is the first service of the group, so the last one shut down: it listens for the second signal during the
/// whole shutdown.
struct ShutdownSignalService: Service {
    let traps: SignalTraps
    let trigger: ShutdownTrigger
    let logger: Logger
    /// Where frozen runtimes are, which a SIGKILL alone does not end.
    var controlGroups: ControlGroups? = nil

    func run() async throws {
        var shuttingDown = false
        for await signal in await traps.install().shutdown.cancelOnGracefulShutdown() {
            if !shuttingDown {
                shuttingDown = true
                logger.info("received \(signal), shutting down")
                await trigger.requestShutdown()
            } else {
                logger.notice("received \(signal) again, exiting at once")
                ChildProcesses.killAll()
                // Everything in the environments' groups, even what left its process group; frozen ones are
                // thawed so that they die now.
                controlGroups?.killEverything()
                _exit(128 + signal.rawValue)
            }
        }
    }
}

/// Starts the graceful shutdown of a ``ServiceGroup`` made after the services that need to start it.
final class ShutdownTrigger: Sendable {
    private let group = NIOLockedValueBox<ServiceGroup?>(nil)

    func attach(_ serviceGroup: ServiceGroup) { group.withLockedValue { $0 = serviceGroup } }

    /// Forgets the group (it holds this trigger through its services).
    func detach() { group.withLockedValue { $0 = nil } }

    func requestShutdown() async {
        guard let serviceGroup = group.withLockedValue({ $0 }) else { return }
        await serviceGroup.triggerGracefulShutdown()
    }
}

/// The processes this one started (runtimes), found through /proc.
enum ChildProcesses {
    /// SIGKILLs every child and its process group (each runtime leads its own). Blocking; for the emergency exit.
    static func killAll() {
        let me = getpid()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for entry in entries {
            guard let pid = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // The fields after the command name (in parentheses, possibly with spaces): state, ppid, pgrp.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == me else { continue }
            if Int32(fields[2]) == pid { kill(-pid, SIGKILL) }
            kill(pid, SIGKILL)
        }
    }
}
