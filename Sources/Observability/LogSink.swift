import Foundation
import NIOConcurrencyHelpers

/// Writes function logs into CloudWatch-style log groups and streams under the data directory.
///
/// Callers on event loops only enqueue: a dedicated writer thread owns every file, so no file I/O ever
/// happens on a loop. Lines of one stream stay in the order they were enqueued. Each line in a stream
/// file is `<ISO-8601 UTC timestamp> <message>`.
public final class LogSink: Sendable {
    private enum Operation {
        case line(stream: LogStreamName, epochMs: Int64, text: String)
        case report(stream: LogStreamName, epochMs: Int64, fields: ReportFields, done: (@Sendable (String) -> Void)?)
        case close(stream: LogStreamName)
        case barrier(@Sendable () -> Void)
    }

    private struct Queue {
        var operations: [Operation] = []
        var stopped = false
    }

    public let dataDirectory: String
    private let mirror: (@Sendable (String) -> Void)?
    private let queue = ConditionLock<Int>(value: 0)
    private let pending = NIOLockedValueBox(Queue())
    private let nextID = NIOLockedValueBox(0)

    /// - Parameters:
    ///   - dataDirectory: the root of `aws/lambda/<function>/…`.
    ///   - mirror: also receives every line as `[<function>] <message>` (e.g. to print it on standard output).
    public init(dataDirectory: String, mirror: (@Sendable (String) -> Void)? = nil) {
        self.dataDirectory = dataDirectory
        self.mirror = mirror
        let thread = Thread { [self] in self.run() }
        thread.name = "albatross-logs"
        thread.start()
    }

    /// A new stream for an environment of `functionName` running `version`.
    public func makeStream(functionName: String, version: String) -> LogStreamName {
        var generator = SystemRandomNumberGenerator()
        let hex = hex32(generator.next(), generator.next())
        let id = nextID.withLockedValue { value -> Int in
            value += 1
            return value
        }
        return LogStreamName(
            functionName: functionName, version: version, epochSeconds: Int(Self.nowMilliseconds() / 1000), hex: hex,
            id: id)
    }

    /// Appends one line (without its newline).
    public func write(_ text: String, to stream: LogStreamName) {
        enqueue(.line(stream: stream, epochMs: Self.nowMilliseconds(), text: text))
    }

    /// Appends the REPORT line; `Max Memory Used` is read from `/proc` on the writer thread. `done` receives the
    /// line once written.
    public func writeReport(
        _ fields: ReportFields, to stream: LogStreamName, done: (@Sendable (String) -> Void)? = nil
    ) {
        enqueue(.report(stream: stream, epochMs: Self.nowMilliseconds(), fields: fields, done: done))
    }

    /// Closes the stream's file once everything before it is written.
    public func close(_ stream: LogStreamName) {
        enqueue(.close(stream: stream))
    }

    /// Calls `body` once everything enqueued before is written.
    public func afterPendingWrites(_ body: @escaping @Sendable () -> Void) {
        enqueue(.barrier(body))
    }

    /// Blocks until everything enqueued so far is on disk. Not for event loops.
    public func flush() {
        let done = ConditionLock<Bool>(value: false)
        afterPendingWrites {
            done.lock()
            done.unlock(withValue: true)
        }
        done.lock(whenValue: true)
        done.unlock()
    }

    /// Writes what is pending, then stops the writer thread.
    public func shutdown() {
        flush()
        let wasStopped = pending.withLockedValue { state -> Bool in
            defer { state.stopped = true }
            return state.stopped
        }
        guard !wasStopped else { return }
        queue.lock()
        queue.unlock(withValue: 1)
    }

    /// The file that holds a stream.
    public func path(of stream: LogStreamName) -> String {
        "\(dataDirectory)/aws/lambda/\(stream.functionName)/\(stream.streamName)"
    }

    private func enqueue(_ operation: Operation) {
        let accepted = pending.withLockedValue { state -> Bool in
            if state.stopped { return false }
            state.operations.append(operation)
            return true
        }
        guard accepted else {
            // After shutdown nothing is written; barriers still run so that waiters never hang.
            if case .barrier(let body) = operation { body() }
            return
        }
        queue.lock()
        queue.unlock(withValue: 1)
    }

    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    // MARK: writer thread

    private func run() {
        var files: [Int: Int32] = [:]
        var peakMemory: [Int: Int] = [:]
        while true {
            queue.lock(whenValue: 1)
            let (batch, stopped) = pending.withLockedValue { state -> ([Operation], Bool) in
                let batch = state.operations
                state.operations.removeAll(keepingCapacity: true)
                return (batch, state.stopped)
            }
            queue.unlock(withValue: 0)
            for operation in batch {
                switch operation {
                case .line(let stream, let epochMs, let text):
                    append(text, epochMs: epochMs, stream: stream, files: &files)
                case .report(let stream, let epochMs, let fields, let done):
                    var peak = peakMemory[stream.id] ?? 0
                    if let pid = fields.pid, let rss = Self.peakResidentMB(pid: pid) { peak = max(peak, rss) }
                    peakMemory[stream.id] = peak
                    let line = fields.line(maxMemoryUsedMB: peak)
                    append(line, epochMs: epochMs, stream: stream, files: &files)
                    done?(line)
                case .close(let stream):
                    if let fd = files.removeValue(forKey: stream.id) { Glibc.close(fd) }
                    peakMemory[stream.id] = nil
                case .barrier(let body):
                    body()
                }
            }
            if stopped {
                for fd in files.values { Glibc.close(fd) }
                return
            }
        }
    }

    private func append(_ text: String, epochMs: Int64, stream: LogStreamName, files: inout [Int: Int32]) {
        mirror?("[\(stream.functionName)] \(text)")
        let fd: Int32
        if let open = files[stream.id] {
            fd = open
        } else {
            let path = path(of: stream)
            let directory = String(path[..<path.lastIndex(of: "/")!])
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if fd < 0 { return }
            files[stream.id] = fd
        }
        var line = CivilDate.iso8601(epochMilliseconds: epochMs)
        line += " "
        line += text
        line += "\n"
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// VmHWM of a live process in MB (rounded up), or nil when it is gone.
    static func peakResidentMB(pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.dropFirst(6).filter { $0.isNumber }
            if let kb = Int(digits) { return (kb + 1023) / 1024 }
        }
        return nil
    }
}

func hex32(_ a: UInt64, _ b: UInt64) -> String {
    func hex16(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
    return hex16(a) + hex16(b)
}
