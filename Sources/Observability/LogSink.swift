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

    static func nowMilliseconds() -> Int64 { WallClock.epochMilliseconds() }

    // MARK: writer thread

    private func run() {
        var files: [Int: Int32] = [:]
        var memory: [Int: MemorySample] = [:]
        var pendingBytes: [Int32: [UInt8]] = [:]
        var clock = TimestampFormatter()
        while true {
            queue.lock(whenValue: 1)
            let (batch, stopped) = pending.withLockedValue { state -> ([Operation], Bool) in
                let batch = state.operations
                state.operations.removeAll(keepingCapacity: true)
                return (batch, state.stopped)
            }
            queue.unlock(withValue: 0)
            // Lines are gathered per file and written with one write(2) per file and batch.
            func flushFiles() {
                for (fd, bytes) in pendingBytes where !bytes.isEmpty { Self.writeAll(fd, bytes) }
                pendingBytes.removeAll(keepingCapacity: true)
            }
            for operation in batch {
                switch operation {
                case .line(let stream, let epochMs, let text):
                    append(text, epochMs: epochMs, stream: stream, files: &files, into: &pendingBytes, clock: &clock)
                case .report(let stream, let epochMs, let fields, let done):
                    var sample = memory[stream.id] ?? MemorySample()
                    if let pid = fields.pid { sample.refresh(pid: pid, nowMs: epochMs) }
                    memory[stream.id] = sample
                    let line = fields.line(maxMemoryUsedMB: sample.peakMB)
                    append(line, epochMs: epochMs, stream: stream, files: &files, into: &pendingBytes, clock: &clock)
                    if let done {
                        flushFiles()
                        done(line)
                    }
                case .close(let stream):
                    flushFiles()
                    if let fd = files.removeValue(forKey: stream.id) { Glibc.close(fd) }
                    memory[stream.id] = nil
                case .barrier(let body):
                    flushFiles()
                    body()
                }
            }
            flushFiles()
            if stopped {
                for fd in files.values { Glibc.close(fd) }
                return
            }
            // Under load, waking for every line costs a context switch per line; a short pause lets lines
            // accumulate into larger batches (logs reach the files at most a couple of milliseconds later).
            if batch.count < 256 { usleep(2000) }
        }
    }

    private func append(
        _ text: String, epochMs: Int64, stream: LogStreamName, files: inout [Int: Int32],
        into pendingBytes: inout [Int32: [UInt8]], clock: inout TimestampFormatter
    ) {
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
        clock.append(epochMilliseconds: epochMs, to: &pendingBytes[fd, default: []])
        pendingBytes[fd, default: []].append(UInt8(ascii: " "))
        pendingBytes[fd, default: []].append(contentsOf: text.utf8)
        pendingBytes[fd, default: []].append(UInt8(ascii: "\n"))
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// VmHWM of a live process in MB (rounded up), or nil when it is gone. Parses the bytes of
    /// `/proc/<pid>/status` without building strings.
    static func peakResidentMB(pid: Int32) -> Int? {
        let fd = Glibc.open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let key = Array("VmHWM:".utf8)
        var index = 0
        while index + key.count < count {
            if buffer[index] == key[0] && Array(buffer[index..<(index + key.count)]) == key {
                var kb = 0
                var position = index + key.count
                while position < count && buffer[position] != UInt8(ascii: "\n") {
                    let byte = buffer[position]
                    if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { kb = kb * 10 + Int(byte - 48) }
                    position += 1
                }
                return (kb + 1023) / 1024
            }
            // Skip to the next line.
            while index < count && buffer[index] != UInt8(ascii: "\n") { index += 1 }
            index += 1
        }
        return nil
    }
}

/// The peak memory of one environment's runtime, read from /proc at most every 250 ms: `Max Memory Used` is a
/// maximum over the environment's life, so a slightly older sample is still a true lower bound, and under load
/// reading /proc for every REPORT line would cost more than the invoke.
struct MemorySample {
    var peakMB = 0
    var lastReadMs: Int64?

    mutating func refresh(pid: Int32, nowMs: Int64) {
        if let lastReadMs, nowMs - lastReadMs < 250 { return }
        lastReadMs = nowMs
        if let rss = LogSink.peakResidentMB(pid: pid) { peakMB = max(peakMB, rss) }
    }
}

/// `2026-11-28T15:30:00.123Z`, with the part up to the seconds cached per second.
struct TimestampFormatter {
    private var second: Int64 = .min
    private var prefix: [UInt8] = []

    mutating func append(epochMilliseconds: Int64, to bytes: inout [UInt8]) {
        let seconds = epochMilliseconds / 1000
        if seconds != second {
            second = seconds
            let text = CivilDate.iso8601(epochMilliseconds: seconds * 1000)
            prefix = Array(text.utf8.dropLast(5))  // without ".000Z"
        }
        let millis = Int(epochMilliseconds % 1000)
        bytes.append(contentsOf: prefix)
        bytes.append(UInt8(ascii: "."))
        bytes.append(UInt8(48 + millis / 100))
        bytes.append(UInt8(48 + millis / 10 % 10))
        bytes.append(UInt8(48 + millis % 10))
        bytes.append(UInt8(ascii: "Z"))
    }
}

func hex32(_ a: UInt64, _ b: UInt64) -> String {
    func hex16(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
    return hex16(a) + hex16(b)
}
