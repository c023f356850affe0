import Foundation
import NIOConcurrencyHelpers

/// The runtimes a server has running, one file each in `<data>/run/`, so that a later server on the same data
/// directory can end what this one left when it was killed (issue 8, item 7).
///
/// A runtime gets SIGKILL when the server dies (a parent-death signal, see ``ProcessLauncher``), but that reaches
/// only the runtime itself: what it started in its process group (a `sleep 600 &`, a helper) lives on. Each
/// record names the process group, the runtime's start time (so that a reused pid is never taken for it) and the
/// server that started it (so that a server still running is left alone). A record is written when the runtime
/// starts and removed when its environment has ended and its group was killed; ``cleanUpLeftovers()`` runs at
/// start-up, before anything else is started.
public struct EnvironmentRunRecords: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// What `/proc/<pid>/stat` says of a process.
    struct ProcessStat: Equatable {
        var pid: pid_t
        var state: Character
        var processGroup: pid_t
        var session: pid_t
        /// Clock ticks after boot (field 22): with the pid, identifies one process across pid reuse.
        var startTime: UInt64
    }

    static func stat(of pid: pid_t) -> ProcessStat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return parseStat(text, pid: pid)
    }

    /// Parses a `/proc/<pid>/stat` line; the command name (field 2) is in parentheses and may contain anything.
    static func parseStat(_ text: String, pid: pid_t) -> ProcessStat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        // Fields 3 (state) onwards.
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 19, let state = fields[0].first, let group = pid_t(fields[2]),
            let session = pid_t(fields[3]), let start = UInt64(fields[19])
        else { return nil }
        return ProcessStat(pid: pid, state: state, processGroup: group, session: session, startTime: start)
    }

    /// One record: `<pid> <process group> <session> <start time> <server pid> <server start time>`.
    struct Record: Equatable {
        var process: ProcessStat
        var serverPID: pid_t
        var serverStartTime: UInt64

        var line: String {
            "\(process.pid) \(process.processGroup) \(process.session) \(process.startTime) \(serverPID) "
                + "\(serverStartTime)\n"
        }

        init(process: ProcessStat, serverPID: pid_t, serverStartTime: UInt64) {
            self.process = process
            self.serverPID = serverPID
            self.serverStartTime = serverStartTime
        }

        init?(line: String) {
            let parts = line.split(whereSeparator: \.isWhitespace)
            guard parts.count == 6, let pid = pid_t(parts[0]), let group = pid_t(parts[1]),
                let session = pid_t(parts[2]), let start = UInt64(parts[3]), let server = pid_t(parts[4]),
                let serverStart = UInt64(parts[5])
            else { return nil }
            process = ProcessStat(pid: pid, state: "?", processGroup: group, session: session, startTime: start)
            serverPID = server
            serverStartTime = serverStart
        }
    }

    private static let server: ProcessStat? = stat(of: getpid())

    private func path(of pid: pid_t) -> String { "\(directory)/\(pid)" }

    /// Records a runtime that was just started (its group set). Blocking: call off the event loops.
    func record(_ pid: pid_t) {
        guard let process = Self.stat(of: pid), let server = Self.server else { return }
        let record = Record(process: process, serverPID: server.pid, serverStartTime: server.startTime)
        let path = path(of: pid)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(record.line.utf8).write(to: URL(fileURLWithPath: path + ".new"))
            _ = rename(path + ".new", path)
        } catch {
            // Best effort: without the record only the clean-up after a crash of the server misses this one.
        }
    }

    /// The environment of `pid` has ended and its group was killed. Blocking: call off the event loops.
    func remove(_ pid: pid_t) {
        _ = unlink(path(of: pid))
    }

    /// The record of one runtime, written and removed on pool threads in either order: a removal that comes
    /// first means the record is never written (so none is left behind by a runtime that ended at once).
    final class Entry: Sendable {
        let records: EnvironmentRunRecords
        let pid: pid_t
        private let state = NIOLockedValueBox((written: false, removed: false))

        init(records: EnvironmentRunRecords, pid: pid_t) {
            self.records = records
            self.pid = pid
        }

        func write() {
            state.withLockedValue { state in
                guard !state.removed else { return }
                records.record(pid)
                state.written = true
            }
        }

        func remove() {
            state.withLockedValue { state in
                if state.written { records.remove(pid) }
                state.removed = true
            }
        }
    }

    /// What ``cleanUpLeftovers()`` found of one record.
    public struct Leftover: Sendable, Equatable {
        /// The runtime's pid, which is also its process group.
        public var processGroup: Int32
        /// The processes that were still in the group and got SIGKILL (the runtime itself among them if it was
        /// still there); empty when nothing was left.
        public var killed: [Int32]
    }

    /// Ends what servers that are no longer running left: for each record, SIGKILL to its process group when a
    /// process of it is still there (in the recorded session, started no earlier than the runtime; the runtime
    /// itself only with its recorded start time). Removes those records. Blocking; run at start-up.
    public func cleanUpLeftovers() -> [Leftover] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var records: [(name: String, record: Record?)] = []
        for name in names {
            let text = try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)
            records.append((name, text.flatMap { Record(line: $0) }))
        }
        var leftovers: [Leftover] = []
        var processes: [ProcessStat]? = nil
        for (name, record) in records {
            if let record {
                if let server = Self.stat(of: record.serverPID), server.startTime == record.serverStartTime {
                    continue  // its server is still running (another instance on this data directory)
                }
                let all = processes ?? Self.allProcesses()
                processes = all
                let members = Self.members(of: record, in: all)
                if !members.isEmpty { _ = kill(-record.process.processGroup, SIGKILL) }
                leftovers.append(Leftover(processGroup: record.process.processGroup, killed: members))
            }
            _ = unlink("\(directory)/\(name)")
        }
        return leftovers
    }

    /// The live processes of `record`'s group; none when its pid is now someone else's (a pid or group id cannot
    /// be reused while a process of the group is left, so members that outlived the runtime are its own).
    static func members(of record: Record, in processes: [ProcessStat]) -> [pid_t] {
        let group = record.process.processGroup
        if let leader = processes.first(where: { $0.pid == group }), leader.startTime != record.process.startTime {
            return []
        }
        return processes.filter {
            $0.processGroup == group && $0.session == record.process.session
                && $0.startTime >= record.process.startTime && $0.state != "Z"
        }.map(\.pid).sorted()
    }

    static func allProcesses() -> [ProcessStat] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry in pid_t(entry).flatMap { stat(of: $0) } }
    }
}
