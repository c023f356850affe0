import ALBEvents
import Foundation
import NIOConcurrencyHelpers

/// Sends every stored trace document (the platform's segments, the X-Ray SDK's and the OTLP receiver's) to a
/// collector the user names (`tracing.export.url`: Jaeger, Tempo, an OpenTelemetry Collector) as OTLP/HTTP
/// protobuf, so that a local trace can be looked at in the tools used for the deployed one.
///
/// The trace store hands it each batch it wrote (``TraceStore/observeWrites(_:)``); documents wait in a bounded
/// queue (beyond ``Settings/queueCapacity`` new ones are dropped and counted) for a thread of its own, which
/// converts up to ``Settings/batchSize`` of them at a time (``OTLPSpanEncoder``) and POSTs them with blocking
/// socket I/O and timeouts, retrying what OTLP calls retryable (no connection, 429, 502, 503, 504) with
/// exponential back-off, and dropping a batch (counted) once the retries are spent or the collector refuses it.
/// Nothing of this runs on an event loop or the store's writer.
public final class OTLPExporter: Sendable {
    public struct Settings: Sendable, Hashable {
        public var host: String
        public var port: Int
        public var path: String
        public var queueCapacity: Int
        public var batchSize: Int
        /// Attempts per batch (the first and its retries).
        public var attempts: Int
        /// The first retry's delay; each next one doubles, up to ``maximumBackoff``.
        public var initialBackoff: Double
        public var maximumBackoff: Double
        /// Connect, send and receive limit of one attempt.
        public var timeout: Double

        public init(
            host: String, port: Int, path: String = "/v1/traces", queueCapacity: Int = 10_000, batchSize: Int = 512,
            attempts: Int = 6, initialBackoff: Double = 0.5, maximumBackoff: Double = 8, timeout: Double = 10
        ) {
            self.host = host
            self.port = port
            self.path = path
            self.queueCapacity = queueCapacity
            self.batchSize = batchSize
            self.attempts = attempts
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.timeout = timeout
        }
    }

    /// Spans by what became of them, since start.
    public struct Counts: Sendable, Hashable {
        public var exported = 0
        /// Dropped because the queue was full.
        public var droppedQueueFull = 0
        /// Dropped after the last attempt failed, or refused by the collector (a non-retryable answer or its
        /// partial success).
        public var droppedFailed = 0
        /// Attempts that were retried.
        public var retries = 0

        public init() {}
    }

    private struct State {
        var queue: [SegmentDocument] = []
        var counts = Counts()
        var stopped = false
        /// Documents taken by the thread and not yet finished with.
        var sending = 0
    }

    public let settings: Settings
    private let state = NIOLockedValueBox(State())
    private let signal = ConditionLock<Int>(value: 0)
    private let finished = ConditionLock<Bool>(value: false)

    public init(settings: Settings) {
        self.settings = settings
        let thread = Thread { [self] in self.run() }
        thread.name = "albatross-otlp-export"
        thread.start()
    }

    public var counts: Counts { state.withLockedValue { $0.counts } }

    /// Queues documents; never blocks on I/O.
    public func enqueue(_ documents: [SegmentDocument]) {
        guard !documents.isEmpty else { return }
        let wake = state.withLockedValue { state -> Bool in
            if state.stopped { return false }
            let room = max(0, settings.queueCapacity - state.queue.count)
            if documents.count > room {
                // A dropped document's spans are not known without parsing it; count the nested ones too.
                for document in documents.dropFirst(room) {
                    state.counts.droppedQueueFull += OTLPSpanEncoder.spanCount(document)
                }
            }
            state.queue.append(contentsOf: documents.prefix(room))
            return true
        }
        if wake { poke() }
    }

    /// Blocks until the queue is empty and nothing is in flight, or `seconds` passed; whether it emptied. For
    /// tests and shutdown; not for event loops.
    @discardableResult
    public func drain(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if state.withLockedValue({ $0.queue.isEmpty && $0.sending == 0 }) { return true }
            usleep(10_000)
        }
        return false
    }

    /// Stops the thread after its current attempt; what is still queued is dropped (and counted).
    public func shutdown() {
        let wasStopped = state.withLockedValue { state -> Bool in
            defer { state.stopped = true }
            return state.stopped
        }
        guard !wasStopped else { return }
        poke()
        finished.lock(whenValue: true)
        finished.unlock()
    }

    private func poke() {
        signal.lock()
        signal.unlock(withValue: 1)
    }

    private func run() {
        while true {
            let (batch, stopped) = state.withLockedValue { state -> ([SegmentDocument], Bool) in
                let batch = Array(state.queue.prefix(settings.batchSize))
                state.queue.removeFirst(batch.count)
                state.sending = batch.count
                return (batch, state.stopped)
            }
            if stopped {
                state.withLockedValue { state in
                    for document in batch + state.queue {
                        state.counts.droppedFailed += OTLPSpanEncoder.spanCount(document)
                    }
                    state.queue.removeAll()
                    state.sending = 0
                }
                finished.lock()
                finished.unlock(withValue: true)
                return
            }
            if batch.isEmpty {
                // Wait for the next enqueue (or a second, to notice a stop that raced with the check above).
                if signal.lock(whenValue: 1, timeoutSeconds: 1) { signal.unlock(withValue: 0) }
                continue
            }
            let (body, spans) = OTLPSpanEncoder.request(batch)
            let outcome = spans == 0 ? .sent(rejected: 0) : send(body)
            state.withLockedValue { state in
                switch outcome {
                case .sent(let rejected):
                    state.counts.exported += spans - min(spans, rejected)
                    state.counts.droppedFailed += min(spans, rejected)
                case .failed:
                    state.counts.droppedFailed += spans
                }
                state.sending = 0
            }
        }
    }

    private enum Outcome {
        case sent(rejected: Int)
        case failed
    }

    /// One batch: attempts with back-off until it is answered 2xx, refused for good, or the attempts run out.
    private func send(_ body: [UInt8]) -> Outcome {
        var delay = settings.initialBackoff
        for attempt in 1...max(1, settings.attempts) {
            if attempt > 1 {
                state.withLockedValue { $0.counts.retries += 1 }
                // Back-off, cut short by a stop.
                let until = Date().addingTimeInterval(delay)
                while Date() < until {
                    if state.withLockedValue({ $0.stopped }) { return .failed }
                    usleep(UInt32(min(50_000, max(1_000, until.timeIntervalSinceNow * 1e6))))
                }
                delay = min(settings.maximumBackoff, delay * 2)
            }
            switch HTTPPost.send(
                host: settings.host, port: settings.port, path: settings.path, body: body, timeout: settings.timeout)
            {
            case .answered(let status, let responseBody) where (200..<300).contains(status):
                return .sent(rejected: OTLPSpanEncoder.rejectedSpans(inResponse: responseBody))
            case .answered(let status, _) where [429, 502, 503, 504].contains(status):
                continue
            case .answered:
                return .failed
            case .unreachable:
                continue
            }
        }
        return .failed
    }
}

/// X-Ray documents as OTLP spans (`ExportTraceServiceRequest`, opentelemetry-proto's `trace/v1`), the inverse
/// of ``OTLPSpan/segmentDocument()``: a segment is a `SERVER` span, its nested and standalone subsegments are
/// spans under their parent (`CLIENT` for `namespace` `remote`/`aws`), `fault`/`error` is `STATUS_CODE_ERROR` with
/// the cause's first message, and a span that came in over OTLP gets its own name, kind and attributes back
/// from `metadata.otel`. Spans are grouped into one resource per service: the segment's name, or for a
/// standalone subsegment its `metadata.otel` `service.name` (else `albatross`).
public enum OTLPSpanEncoder {
    struct Span {
        var traceID: [UInt8]
        var spanID: [UInt8]
        var parentID: [UInt8]
        var name: String
        var kind: UInt64
        var start: UInt64
        var end: UInt64
        var attributes: [(String, String)]
        var error: Bool
        var message: String
    }

    /// The request body and how many spans it holds.
    public static func request(_ documents: [SegmentDocument]) -> (body: [UInt8], spans: Int) {
        var byService: [String: [Span]] = [:]
        var order: [String] = []
        for document in documents {
            guard case .object(let object) = try? JSONParser.parse(document.json) else { continue }
            let service: String
            if object["type"] == .string("subsegment") {
                service = otelString(object, "service.name") ?? "albatross"
            } else {
                service = string(object["name"]) ?? "albatross"
            }
            var spans: [Span] = []
            collect(object, parent: string(object["parent_id"]), traceID: document.traceID, into: &spans)
            if spans.isEmpty { continue }
            if byService[service] == nil { order.append(service) }
            byService[service, default: []].append(contentsOf: spans)
        }
        var writer = ProtobufWriter()
        var total = 0
        for service in order {
            let spans = byService[service] ?? []
            total += spans.count
            writer.message(1) { resourceSpans in
                resourceSpans.message(1) { resource in
                    resource.message(1) { keyValue(&$0, "service.name", service) }
                }
                resourceSpans.message(2) { scopeSpans in
                    scopeSpans.message(1) { scope in scope.string(1, "albatross") }
                    for span in spans { scopeSpans.message(2) { encode(span, into: &$0) } }
                }
            }
        }
        return (writer.bytes, total)
    }

    /// Spans in one document (the segment and every nested subsegment), for the drop counts.
    static func spanCount(_ document: SegmentDocument) -> Int {
        guard case .object(let object) = try? JSONParser.parse(document.json) else { return 0 }
        var spans: [Span] = []
        collect(object, parent: nil, traceID: document.traceID, into: &spans)
        return spans.count
    }

    /// `ExportTraceServiceResponse.partial_success.rejected_spans` of a protobuf answer (0 when absent).
    static func rejectedSpans(inResponse body: [UInt8]) -> Int {
        var reader = ProtobufReader(body[...])
        while let field = try? reader.next() {
            guard field.number == 1, case .bytes(let partial) = field.value else { continue }
            var inner = ProtobufReader(partial)
            while let part = try? inner.next() {
                if part.number == 1, case .varint(let count) = part.value { return Int(clamping: count) }
            }
        }
        return 0
    }

    private static func collect(
        _ object: JSONObject, parent: String?, traceID: String, into spans: inout [Span]
    ) {
        guard let id = string(object["id"]), let spanID = bytes(hex: id), spanID.count == 8,
            let traceBytes = bytes(hex: traceID.split(separator: "-").dropFirst().joined()), traceBytes.count == 16,
            let start = nanos(object["start_time"])
        else { return }
        // In-progress documents are sent again complete; only the complete one is exported.
        guard let end = nanos(object["end_time"]) else { return }
        let isSubsegment = object["type"] == .string("subsegment") || parent != nil && object["origin"] == nil
        var name = string(object["name"]) ?? "unnamed"
        var kind: UInt64 = isSubsegment ? 1 : 2  // INTERNAL, SERVER
        if case .string(let namespace) = object["namespace"], namespace == "remote" || namespace == "aws" {
            kind = 3  // CLIENT
        }
        var attributes: [(String, String)] = []
        if let origin = string(object["origin"]) { attributes.append(("aws.xray.origin", origin)) }
        if case .object(let aws) = object["aws"], let requestID = string(aws["request_id"]) {
            attributes.append(("aws.request_id", requestID))
        }
        if let arn = string(object["resource_arn"]) { attributes.append(("cloud.resource_id", arn)) }
        if case .object(let http) = object["http"], case .object(let response) = http["response"],
            case .number(let status) = response["status"]
        {
            attributes.append(("http.response.status_code", status.text))
        }
        if object["throttle"] == .bool(true) { attributes.append(("aws.xray.throttle", "true")) }
        if case .object(let metadata) = object["metadata"], case .object(let otel) = metadata["otel"] {
            if let spanName = string(otel["span_name"]) { name = spanName }
            switch string(otel["kind"]) {
            case "INTERNAL": kind = 1
            case "SERVER": kind = 2
            case "CLIENT": kind = 3
            case "PRODUCER": kind = 4
            case "CONSUMER": kind = 5
            default: break
            }
            if case .object(let given) = otel["attributes"] {
                for (key, value) in given.members {
                    if let text = string(value) { attributes.append((key, text)) }
                }
            }
        }
        let failed = object["fault"] == .bool(true) || object["error"] == .bool(true)
        var message = ""
        if case .object(let otel)? = otelObject(object), let status = string(otel["status_message"]) {
            message = status
        } else if case .object(let cause) = object["cause"], case .array(let exceptions) = cause["exceptions"],
            case .object(let first) = exceptions.first, let text = string(first["message"])
        {
            message = text
        }
        spans.append(
            Span(
                traceID: traceBytes, spanID: spanID, parentID: parent.flatMap { bytes(hex: $0) } ?? [], name: name,
                kind: kind, start: start, end: max(end, start), attributes: attributes, error: failed,
                message: failed ? message : ""))
        if case .array(let children) = object["subsegments"] {
            for child in children {
                if case .object(let childObject) = child {
                    collect(childObject, parent: id, traceID: traceID, into: &spans)
                }
            }
        }
    }

    private static func encode(_ span: Span, into writer: inout ProtobufWriter) {
        writer.bytes(1, span.traceID)
        writer.bytes(2, span.spanID)
        if !span.parentID.isEmpty { writer.bytes(4, span.parentID) }
        writer.string(5, span.name)
        writer.varint(6, span.kind)
        writer.fixed64(7, span.start)
        writer.fixed64(8, span.end)
        for (key, value) in span.attributes { writer.message(9) { keyValue(&$0, key, value) } }
        if span.error {
            writer.message(15) { status in
                if !span.message.isEmpty { status.string(2, span.message) }
                status.varint(3, 2)  // STATUS_CODE_ERROR
            }
        }
    }

    /// `KeyValue { key = 1; AnyValue value = 2 { string_value = 1 } }`.
    private static func keyValue(_ writer: inout ProtobufWriter, _ key: String, _ value: String) {
        writer.string(1, key)
        writer.message(2) { $0.string(1, value) }
    }

    private static func otelObject(_ object: JSONObject) -> JSONValue? {
        guard case .object(let metadata) = object["metadata"] else { return nil }
        return metadata["otel"]
    }

    private static func otelString(_ object: JSONObject, _ key: String) -> String? {
        guard case .object(let otel)? = otelObject(object) else { return nil }
        return string(otel[key])
    }

    private static func string(_ value: JSONValue?) -> String? {
        if case .string(let text)? = value { return text }
        return nil
    }

    /// Epoch seconds as X-Ray writes them (a decimal number) → nanoseconds, exactly from the digits.
    static func nanos(_ value: JSONValue?) -> UInt64? {
        guard case .number(let number)? = value else { return nil }
        let text = number.text
        if text.contains("e") || text.contains("E") {
            guard let seconds = Double(text), seconds >= 0 else { return nil }
            return UInt64(seconds * 1e9)
        }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = UInt64(parts[0]) else { return nil }
        var fraction: UInt64 = 0
        if parts.count == 2 {
            let digits = String(parts[1].prefix(9))
            guard let value = UInt64(digits.isEmpty ? "0" : digits) else { return nil }
            fraction = value
            for _ in digits.count..<9 { fraction *= 10 }
        }
        return whole * 1_000_000_000 + fraction
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

/// One blocking HTTP/1.1 POST of a protobuf body over a new TCP connection (`Connection: close`), with a limit
/// on connecting, sending and receiving. Only plain HTTP: there is no TLS library here.
enum HTTPPost {
    enum Result {
        case answered(status: Int, body: [UInt8])
        /// No connection, a timeout, or no readable answer: worth retrying.
        case unreachable
    }

    static func send(host: String, port: Int, path: String, body: [UInt8], timeout: Double) -> Result {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else { return .unreachable }
        defer { freeaddrinfo(first) }
        var fd: Int32 = -1
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            let attempt = socket(
                address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if attempt >= 0 {
                if connectBounded(attempt, address.pointee.ai_addr, address.pointee.ai_addrlen, timeout: timeout) {
                    fd = attempt
                    break
                }
                close(attempt)
            }
            candidate = address.pointee.ai_next
        }
        guard fd >= 0 else { return .unreachable }
        defer { close(fd) }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let head =
            "POST \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: albatross\r\n"
            + "Content-Type: application/x-protobuf\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let request = Array(head.utf8) + body
        var offset = 0
        while offset < request.count {
            let written = request.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, request.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { return .unreachable }
            offset += written
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while response.count < 1024 * 1024 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response.append(contentsOf: buffer.prefix(count))
        }
        return parse(response)
    }

    /// The status and body of a complete (or closed) response; `.unreachable` when there is no status line.
    static func parse(_ response: [UInt8]) -> Result {
        guard let end = response.firstRange(of: [13, 10, 13, 10]) else { return .unreachable }
        let head = String(decoding: response[..<end.lowerBound], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n", maxSplits: 1).first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { return .unreachable }
        var body = Array(response[end.upperBound...])
        for line in head.split(separator: "\r\n").dropFirst() {
            let pair = line.split(separator: ":", maxSplits: 1)
            guard pair.count == 2, pair[0].lowercased() == "content-length",
                let length = Int(pair[1].trimmingCharacters(in: .whitespaces))
            else { continue }
            body = Array(body.prefix(length))
        }
        return .answered(status: status, body: body)
    }

    /// A non-blocking connect bounded by `timeout`, then back to blocking.
    private static func connectBounded(
        _ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: socklen_t, timeout: Double
    )
        -> Bool
    {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if Glibc.connect(fd, address, length) == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return false }
        var failure: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size)
        return failure == 0
    }
}
