import Foundation
public import InvocationModel
import LambdaModel
import NIOConcurrencyHelpers
import NIOCore

/// Writes function logs into CloudWatch-style log groups and streams under the data directory, from the
/// invocation event stream: it is one subscriber of ``InvocationEventBus``, so all of its formatting and file I/O
/// happens on its subscription's thread, never on an event loop.
///
/// An environment's stream says which format its platform records take (``LogStreamName/format``): AWS's text
/// lines, or with `JSON` the `platform.*` records of runtime-api.md §4.3. The function's own output is written as
/// it comes either way (its runtime formats it, told by `AWS_LAMBDA_LOG_FORMAT`).
///
/// Lines of one stream stay in the order their events were emitted. Each line in a stream file is
/// `<ISO-8601 UTC timestamp> <message>`; the platform lines are AWS's (runtime-api.md §4): `INIT_START`,
/// `START`, `END`, `REPORT`, `INIT_REPORT`, the timeout and runtime-exit lines.
public final class LogSink: InvocationEventSubscriber {
    private struct Writer {
        var files: [Int: Int32] = [:]
        var memory: [Int: MemorySample] = [:]
        var pendingBytes: [Int32: [UInt8]] = [:]
        var clock = TimestampFormatter()
        /// The last REPORT lines by request id, for callers that asked for theirs (bounded).
        var reports: [String: String] = [:]
        var reportOrder: [String] = []
        /// The lines of the invoke each environment is running (by stream id), from its START line, bounded.
        var capture: [Int: [UInt8]] = [:]
        /// The log text of recent invokes that asked for their REPORT line, by request id (with `reports`).
        var tails: [String: [UInt8]] = [:]
        var closed = false
    }

    public let dataDirectory: String
    public let interests: InvocationEvent.Kinds = .logs
    private let mirror: (@Sendable (String) -> Void)?
    private let writer = NIOLockedValueBox(Writer())
    private let subscription = BusAttachment()
    static let rememberedReports = 256

    /// - Parameters:
    ///   - dataDirectory: the root of `aws/lambda/<function>/…`.
    ///   - mirror: also receives every line as `[<function>] <message>` (e.g. to print it on standard output).
    public init(dataDirectory: String, mirror: (@Sendable (String) -> Void)? = nil) {
        self.dataDirectory = dataDirectory
        self.mirror = mirror
    }

    /// Subscribes to `bus`: from now on, log events emitted there are written.
    public func attach(to bus: InvocationEventBus) {
        subscription.attach(self, to: bus, name: "logs", capacity: 1_000_000)
    }

    /// Events the writer dropped because it fell too far behind (0 unless the disk stalls).
    public var droppedEvents: Int { subscription.droppedEvents }

    /// Blocks until every event emitted so far is written. Not for event loops.
    public func flush() {
        subscription.flushBlocking()
    }

    /// Waits until every event emitted so far is written.
    public func flushed() async {
        await subscription.flush()
    }

    /// Writes what is pending, unsubscribes and closes every file.
    public func shutdown() {
        subscription.detach()
        writer.withLockedValue { writer in
            for fd in writer.files.values { Glibc.close(fd) }
            writer.files = [:]
            writer.closed = true
        }
    }

    /// The REPORT line of a recent invoke that asked for it (`wantsReport`; one of the last 256), once its events
    /// have been written.
    public func reportLine(requestID: String) -> String? {
        writer.withLockedValue { $0.reports[requestID] }
    }

    /// The log text of a recent invoke that asked for its REPORT line, as AWS's `LogType: Tail` returns it: the
    /// lines from START to REPORT without timestamps, at most the last ``tailBytes`` bytes.
    public func invocationLog(requestID: String) -> [UInt8]? {
        writer.withLockedValue { $0.tails[requestID] }
    }

    /// What `LogType: Tail` returns at most: the last 4 KB.
    public static let tailBytes = 4096

    /// The file that holds a stream.
    public func path(of stream: LogStreamName) -> String {
        LogGroupPaths.directory(dataDirectory: dataDirectory, groupName: stream.groupName) + "/" + stream.streamName
    }

    // MARK: the subscriber

    public func receive(_ events: [InvocationEvent]) {
        let nowMs = WallClock.epochMilliseconds()
        writer.withLockedValue { writer in
            guard !writer.closed else { return }
            for event in events {
                // The event's wall-clock time: its monotonic offset from now.
                let ageMs = Int64((NIODeadlineDistance.nanoseconds(since: event.at)) / 1_000_000)
                let epochMs = nowMs - max(0, ageMs)
                write(event, epochMs: epochMs, into: &writer)
            }
            flushFiles(&writer)
        }
    }

    private func write(_ event: InvocationEvent, epochMs: Int64, into writer: inout Writer) {
        if case .output(let output) = event.detail {
            append(output.line, epochMs: epochMs, stream: output.environment, writer: &writer)
            return
        }
        guard let stream = Self.environment(of: event) else { return }
        if case .invokeStarted(let started) = event.detail {
            // Only an invoke that asked for its log tail has its lines kept.
            writer.capture[stream.id] = started.reportRequested ? [] : nil
        }
        if stream.format == .json {
            writeJSON(event, stream: stream, epochMs: epochMs, into: &writer)
        } else {
            writeText(event, stream: stream, epochMs: epochMs, into: &writer)
        }
        if case .invokeFinished(let finished) = event.detail {
            var sample = writer.memory[stream.id] ?? MemorySample()
            sample.refresh(
                pid: finished.pid, peakFile: finished.memoryPeakFile, knownMB: finished.memoryPeakMB, nowMs: epochMs)
            writer.memory[stream.id] = sample
            let fields = Self.reportFields(event.requestID, finished)
            if stream.format == .text {
                append(epochMs: epochMs, stream: stream, writer: &writer) { bytes in
                    fields.write(maxMemoryUsedMB: sample.peakMB, into: &bytes)
                }
            }
            // Kept only for callers that will ask for it (the CLI's `invoke --log`).
            if finished.reportRequested {
                remember(fields.line(maxMemoryUsedMB: sample.peakMB), for: event.requestID, in: &writer)
            }
            if let captured = writer.capture.removeValue(forKey: stream.id), finished.reportRequested {
                writer.tails[event.requestID] = Array(captured.suffix(Self.tailBytes))
            }
        }
        if case .environmentStopped = event.detail {
            flushFiles(&writer)
            if let fd = writer.files.removeValue(forKey: stream.id) { Glibc.close(fd) }
            writer.memory[stream.id] = nil
            writer.capture[stream.id] = nil
        }
    }

    private static func environment(of event: InvocationEvent) -> LogStreamName? {
        switch event.detail {
        case .output(let output): return output.environment
        case .initStarted(let started): return started.environment
        case .initFinished(let finished): return finished.environment
        case .invokeStarted(let started): return started.environment
        case .invokeFinished(let finished): return finished.environment
        case .environmentStopped(let stopped): return stopped.environment
        case .received, .resolved, .placed, .responseWritten, .runtimeNext, .async, .freeze: return nil
        }
    }

    private static func reportFields(_ requestID: String, _ finished: InvocationEvent.InvokeFinished) -> ReportFields {
        ReportFields(
            requestID: requestID, durationMs: finished.durationMs, billedDurationMs: finished.billedDurationMs,
            memorySizeMB: finished.memorySizeMB, initDurationMs: finished.initDurationMs, status: finished.status,
            pid: finished.pid)
    }

    /// AWS's text lines (runtime-api.md §4.2). The REPORT line is written by the caller.
    private func writeText(_ event: InvocationEvent, stream: LogStreamName, epochMs: Int64, into writer: inout Writer) {
        switch event.detail {
        case .initStarted(let started):
            append(
                "INIT_START Runtime Version: \(started.runtimeVersion)", epochMs: epochMs, stream: stream,
                writer: &writer)
        case .initFinished(let finished):
            let duration = formatMilliseconds(finished.durationMs)
            switch finished.result {
            case .failed(let errorType, let message):
                append(
                    "INIT_REPORT Init Duration: \(duration) ms\tPhase: \(finished.phase)\tStatus: error\tError Type: \(errorType)",
                    epochMs: epochMs, stream: stream, writer: &writer)
                if let message { append(message, epochMs: epochMs, stream: stream, writer: &writer) }
            case .timedOut:
                append(
                    "INIT_REPORT Init Duration: \(duration) ms\tPhase: \(finished.phase)\tStatus: timeout",
                    epochMs: epochMs, stream: stream, writer: &writer)
            case .ready, .suppressed:
                break
            }
        case .invokeStarted(let started):
            append(epochMs: epochMs, stream: stream, writer: &writer) { bytes in
                bytes.appendUTF8("START RequestId: ")
                bytes.appendUTF8(event.requestID)
                bytes.appendUTF8(" Version: ")
                bytes.appendUTF8(started.version)
            }
        case .invokeFinished(let finished):
            switch finished.errorType {
            case "Sandbox.Timedout":
                let seconds = formatMilliseconds(Double(finished.timeoutSeconds))
                append(
                    "\(CivilDate.iso8601(epochMilliseconds: epochMs)) \(event.requestID) Task timed out after \(seconds) seconds",
                    epochMs: epochMs, stream: stream, writer: &writer)
            case "Runtime.ExitError":
                if let message = finished.errorMessage {
                    append(message, epochMs: epochMs, stream: stream, writer: &writer)
                }
                append("Runtime.ExitError", epochMs: epochMs, stream: stream, writer: &writer)
            default:
                break
            }
            append(epochMs: epochMs, stream: stream, writer: &writer) { bytes in
                bytes.appendUTF8("END RequestId: ")
                bytes.appendUTF8(event.requestID)
            }
        case .environmentStopped(let stopped):
            if case .noNextAfterResponse = stopped.reason {
                append(
                    "RequestId: \(event.requestID) Error: runtime did not ask for the next event before the timeout; resetting the environment",
                    epochMs: epochMs, stream: stream, writer: &writer)
            }
        case .output, .received, .resolved, .placed, .responseWritten, .runtimeNext, .async, .freeze:
            break
        }
    }

    /// The `platform.*` records (runtime-api.md §4.3). All of them are INFO-level system logs on AWS, so
    /// `SystemLogLevel: WARN` leaves none.
    private func writeJSON(_ event: InvocationEvent, stream: LogStreamName, epochMs: Int64, into writer: inout Writer) {
        if stream.systemLogLevel == .warn { return }
        let time = CivilDate.iso8601(epochMilliseconds: epochMs)
        var records: [String] = []
        switch event.detail {
        case .initStarted(let started):
            records.append(
                PlatformRecord.initStart(
                    time: time, runtimeVersion: started.runtimeVersion,
                    initializationType: started.initializationType.rawValue,
                    phase: started.suppressed ? "invoke" : "init"))
        case .initFinished(let finished):
            switch finished.result {
            case .failed(let errorType, _):
                records += PlatformRecord.initFailed(
                    time: time, durationMs: finished.durationMs, errorType: errorType, phase: finished.phase)
            case .timedOut:
                records += PlatformRecord.initFailed(
                    time: time, durationMs: finished.durationMs, errorType: nil, phase: finished.phase)
            case .ready, .suppressed:
                return
            }
        case .invokeStarted(let started):
            records.append(PlatformRecord.start(time: time, requestID: event.requestID, version: started.version))
        case .invokeFinished(let finished):
            var sample = writer.memory[stream.id] ?? MemorySample()
            sample.refresh(
                pid: finished.pid, peakFile: finished.memoryPeakFile, knownMB: finished.memoryPeakMB, nowMs: epochMs)
            writer.memory[stream.id] = sample
            records.append(
                PlatformRecord.runtimeDone(
                    time: time, requestID: event.requestID, status: finished.status ?? "success",
                    errorType: finished.errorType, durationMs: finished.durationMs))
            records.append(
                PlatformRecord.report(
                    time: time, fields: Self.reportFields(event.requestID, finished), errorType: finished.errorType,
                    maxMemoryUsedMB: sample.peakMB))
        case .environmentStopped, .output, .received, .resolved, .placed, .responseWritten, .runtimeNext, .async,
            .freeze:
            break
        }
        for record in records { append(record, epochMs: epochMs, stream: stream, writer: &writer) }
    }

    private func remember(_ line: String, for requestID: String, in writer: inout Writer) {
        writer.reports[requestID] = line
        writer.reportOrder.append(requestID)
        if writer.reportOrder.count > Self.rememberedReports {
            let oldest = writer.reportOrder.removeFirst()
            writer.reports[oldest] = nil
            writer.tails[oldest] = nil
        }
    }

    /// Lines are gathered per file and written with one write(2) per file and batch.
    private func flushFiles(_ writer: inout Writer) {
        for (fd, bytes) in writer.pendingBytes where !bytes.isEmpty { Self.writeAll(fd, bytes) }
        writer.pendingBytes.removeAll(keepingCapacity: true)
    }

    private func append(_ text: String, epochMs: Int64, stream: LogStreamName, writer: inout Writer) {
        append(epochMs: epochMs, stream: stream, writer: &writer) { $0.appendUTF8(text) }
    }

    /// One line of `stream`: its timestamp, a space, what `message` appends, a line feed. The platform's lines are
    /// written straight into the file's pending bytes (no `String` made for them).
    private func append(
        epochMs: Int64, stream: LogStreamName, writer: inout Writer, message: (inout [UInt8]) -> Void
    ) {
        let fd: Int32
        if let open = writer.files[stream.id] {
            fd = open
        } else {
            let path = path(of: stream)
            let directory = String(path[..<path.lastIndex(of: "/")!])
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if fd < 0 {
                var bytes: [UInt8] = []
                message(&bytes)
                keep(bytes[...], stream: stream, writer: &writer)
                return
            }
            writer.files[stream.id] = fd
        }
        let range = Self.appendLine(
            to: &writer.pendingBytes[fd, default: []], epochMs: epochMs, clock: &writer.clock, message: message)
        if mirror != nil || writer.capture[stream.id] != nil {
            keep(writer.pendingBytes[fd]![range], stream: stream, writer: &writer)
        }
    }

    /// Returns where the message is in `bytes`.
    private static func appendLine(
        to bytes: inout [UInt8], epochMs: Int64, clock: inout TimestampFormatter, message: (inout [UInt8]) -> Void
    ) -> Range<Int> {
        clock.append(epochMilliseconds: epochMs, to: &bytes)
        bytes.append(UInt8(ascii: " "))
        let start = bytes.count
        message(&bytes)
        let end = bytes.count
        bytes.append(UInt8(ascii: "\n"))
        return start..<end
    }

    /// The line's message for the mirror and the invoke's captured tail.
    private func keep(_ line: ArraySlice<UInt8>, stream: LogStreamName, writer: inout Writer) {
        if let mirror { mirror("[\(stream.functionName)] \(String(decoding: line, as: UTF8.self))") }
        guard writer.capture[stream.id] != nil else { return }
        writer.capture[stream.id]!.append(contentsOf: line)
        writer.capture[stream.id]!.append(UInt8(ascii: "\n"))
        // Bounded: only the last 4 KB are ever returned.
        if writer.capture[stream.id]!.count > 4 * Self.tailBytes {
            writer.capture[stream.id]!.removeFirst(writer.capture[stream.id]!.count - Self.tailBytes)
        }
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

    /// The number in a one-value kernel file (a control group's peak memory), or nil when it is gone.
    static func counterBytes(_ path: String) -> UInt64? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        var value: UInt64 = 0
        for byte in buffer[..<count] {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { break }
            value = value &* 10 &+ UInt64(byte - 48)
        }
        return value
    }
}

/// Nanoseconds between a monotonic instant and now.
enum NIODeadlineDistance {
    static func nanoseconds(since instant: NIODeadline) -> Int64 {
        (NIODeadline.now() - instant).nanoseconds
    }
}

/// The peak memory of one environment, read at most every 250 ms: `Max Memory Used` is a maximum over the
/// environment's life, so a slightly older sample is still a true lower bound, and under load reading the kernel's
/// files for every REPORT line would cost more than the invoke. The source is the environment's control group
/// (the whole process tree: `memory.peak`, v1 `memory.max_usage_in_bytes`) when it has one, else the summed VmHWM
/// of the runtime and the processes below it (``ProcessTreeMemory``).
struct MemorySample {
    var peakMB = 0
    var lastReadMs: Int64?

    mutating func refresh(pid: Int32?, peakFile: String?, knownMB: Int?, nowMs: Int64) {
        if let knownMB { peakMB = max(peakMB, knownMB) }
        if let lastReadMs, nowMs - lastReadMs < 250 { return }
        lastReadMs = nowMs
        if let peakFile, let bytes = LogSink.counterBytes(peakFile) {
            peakMB = max(peakMB, Int((bytes + 1_048_575) / 1_048_576))
        } else if let pid, let rss = ProcessTreeMemory.peakResidentMB(root: pid) {
            peakMB = max(peakMB, rss)
        }
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
