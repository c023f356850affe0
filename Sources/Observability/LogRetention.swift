import Foundation
public import LambdaModel
import NIOConcurrencyHelpers

/// What the retention sweep enforces: days per log group (CloudWatch's `RetentionInDays`) and a bound on the
/// total size of all stream files.
public struct LogRetentionPolicy: Sendable, Hashable {
    /// Days for groups without their own entry; nil keeps them.
    public var defaultRetentionDays: Int?
    /// Days by group name (`/aws/lambda/f`); these groups are swept even if they are not under `aws/lambda`.
    public var groupRetentionDays: [String: Int]
    /// All stream files together stay at or below this; the least recently written go first. nil: unbounded.
    public var maxTotalBytes: Int64?

    public init(defaultRetentionDays: Int? = nil, groupRetentionDays: [String: Int] = [:], maxTotalBytes: Int64? = nil)
    {
        self.defaultRetentionDays = defaultRetentionDays
        self.groupRetentionDays = groupRetentionDays
        self.maxTotalBytes = maxTotalBytes
    }
}

extension LogRetentionPolicy {
    /// The policy of a set of function configurations (e.g. every function's `$LATEST` and published versions):
    /// each one's log group with its `RetentionInDays`; the longest wins when two name the same group.
    public init(functions: [FunctionConfiguration], defaultRetentionDays: Int?, maxTotalBytes: Int64?) {
        var groups: [String: Int] = [:]
        for function in functions {
            let group = function.logging.logGroupName(functionName: function.name)
            if let days = function.logging.retentionInDays ?? defaultRetentionDays {
                groups[group] = max(groups[group] ?? 0, days)
            } else if function.logging.logGroup != nil {
                groups[group] = groups[group] ?? Int.max / 86_400_000
            }
        }
        self.init(defaultRetentionDays: defaultRetentionDays, groupRetentionDays: groups, maxTotalBytes: maxTotalBytes)
    }
}

/// Removes old log streams. A stream file goes once its last line (its modification time) is older than its
/// group's retention; CloudWatch expires single events, but here a stream is one environment's file, so a stream
/// lives until its newest line expires. Then, while all streams together exceed the size bound, the least
/// recently written are removed. Day directories left empty are removed too.
public enum LogRetention {
    public struct Report: Sendable, Hashable {
        /// Removed stream files, as `<group>/<stream>` paths relative to the data directory.
        public var removedForAge: [String] = []
        public var removedForSize: [String] = []
        public var remainingBytes: Int64 = 0
    }

    /// One sweep. Blocking file I/O: run it off the event loops (``LogRetentionSweeper`` does).
    @discardableResult
    public static func sweep(
        dataDirectory: String, policy: LogRetentionPolicy, nowMs: Int64 = WallClock.epochMilliseconds()
    ) -> Report {
        var report = Report()
        var groups = Set(policy.groupRetentionDays.keys)
        let defaultRoot = "\(dataDirectory)/aws/lambda"
        for function in (try? FileManager.default.contentsOfDirectory(atPath: defaultRoot)) ?? [] {
            groups.insert("/aws/lambda/\(function)")
        }
        struct Stream {
            var path: String
            var relative: String
            var modifiedMs: Int64
            var bytes: Int64
        }
        var kept: [Stream] = []
        for group in groups.sorted() {
            let directory = LogGroupPaths.directory(dataDirectory: dataDirectory, groupName: group)
            let days = policy.groupRetentionDays[group] ?? policy.defaultRetentionDays
            for name in LogGroupReader.streamNames(in: directory) {
                let path = "\(directory)/\(name)"
                var info = stat()
                guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
                let modifiedMs = Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec / 1_000_000)
                let relative = group + "/" + name
                if let days, modifiedMs < nowMs - Int64(days) * 86_400_000 {
                    if unlink(path) == 0 { report.removedForAge.append(relative) }
                    continue
                }
                kept.append(Stream(path: path, relative: relative, modifiedMs: modifiedMs, bytes: Int64(info.st_size)))
            }
        }
        var total = kept.reduce(0) { $0 + $1.bytes }
        if let limit = policy.maxTotalBytes, total > limit {
            for stream in kept.sorted(by: { $0.modifiedMs < $1.modifiedMs }) where total > limit {
                if unlink(stream.path) == 0 {
                    total -= stream.bytes
                    report.removedForSize.append(stream.relative)
                }
            }
        }
        report.remainingBytes = total
        for relative in report.removedForAge + report.removedForSize {
            removeEmptyParents(of: dataDirectory + (relative.hasPrefix("/") ? "" : "/") + relative, levels: 3)
        }
        return report
    }

    /// Removes the day, month and year directories above a removed stream when they are empty (rmdir fails on
    /// the others).
    private static func removeEmptyParents(of path: String, levels: Int) {
        var current = path
        for _ in 0..<levels {
            guard let slash = current.lastIndex(of: "/") else { return }
            current = String(current[..<slash])
            if rmdir(current) != 0 { return }
        }
    }
}

/// Runs ``LogRetention/sweep(dataDirectory:policy:nowMs:)`` at once and then every `interval` on a thread of
/// its own, until ``stop()``: the lead wires `start()` when serving begins and `stop()` at shutdown.
public final class LogRetentionSweeper: Sendable {
    public let dataDirectory: String
    public let policy: LogRetentionPolicy
    public let intervalSeconds: Double
    private let running = NIOLockedValueBox(false)
    private let wake = ConditionLock(value: 0)
    private let sweeps = NIOLockedValueBox(0)

    public init(dataDirectory: String, policy: LogRetentionPolicy, intervalSeconds: Double = 300) {
        self.dataDirectory = dataDirectory
        self.policy = policy
        self.intervalSeconds = intervalSeconds
    }

    /// Sweeps done so far.
    public var completedSweeps: Int { sweeps.withLockedValue { $0 } }

    public func start() {
        let started = running.withLockedValue { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard started else { return }
        let thread = Thread { [self] in
            while running.withLockedValue({ $0 }) {
                LogRetention.sweep(dataDirectory: dataDirectory, policy: policy)
                sweeps.withLockedValue { $0 += 1 }
                // Sleep until the interval passes or stop() signals.
                if wake.lock(whenValue: 1, timeoutSeconds: intervalSeconds) { wake.unlock() }
            }
        }
        thread.name = "log-retention"
        thread.start()
    }

    /// Ends the loop; a sweep in progress finishes first.
    public func stop() {
        running.withLockedValue { $0 = false }
        wake.lock()
        wake.unlock(withValue: 1)
    }
}
