import Atomics
import CZlib
import Foundation
import LambdaModel
import NIOCore
import NIOHTTP1
import NIOPosix

/// The OTLP/HTTP trace receiver functions reach through `OTEL_EXPORTER_OTLP_ENDPOINT`: `POST /v1/traces` on
/// loopback, as the collector of AWS's OpenTelemetry Lambda layer listens on `localhost:4318` inside the sandbox.
///
/// It has a listener and an event loop of its own (like ``XRayDaemon``) rather than a route on the admin
/// listener: it must run whenever tracing does, with or without an `admin:` section, its bodies are binary and
/// up to ``Limits/maximumBodyBytes`` (the admin listener takes small text requests), and an exporter's burst then
/// competes with serving for CPU only, never for a loop. Each accepted span becomes an X-Ray document
/// (``OTLPSpan/segmentDocument()``) in the same ``TraceStore`` as the daemon's and the platform's, so a span
/// whose parent is the `Parent` of `_X_AMZN_TRACE_ID` hangs under the platform's `Invocation` subsegment.
///
/// Answers follow the OTLP/HTTP specification: 200 with an `ExportTraceServiceResponse` (its `partial_success`
/// counts the spans refused), 400 for a body that cannot be read, 413 beyond the size limit, 415 for another
/// `Content-Type` or `Content-Encoding`; error bodies are a `google.rpc.Status`, in the request's encoding.
public final class OTLPReceiver: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Largest request body, before and after decompression.
        public var maximumBodyBytes: Int
        /// Seconds without traffic after which a connection is closed.
        public var idleTimeoutSeconds: Int
        /// Connections open at once at most (`tracing.otlpMaxConnections`); one more is accepted and closed at
        /// once, before anything is read, and counted (``Counts/refusedConnections``). Exporters keep one
        /// connection each, so this bounds what many functions (or one misbehaving) can hold open.
        public var maximumConnections: Int

        public static let defaultMaximumConnections = 64

        public init(
            maximumBodyBytes: Int = 4 * 1024 * 1024, idleTimeoutSeconds: Int = 60,
            maximumConnections: Int = Self.defaultMaximumConnections
        ) {
            self.maximumBodyBytes = maximumBodyBytes
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.maximumConnections = max(1, maximumConnections)
        }
    }

    /// What happened to the requests and spans received so far.
    public struct Counts: Sendable, Hashable {
        public var acceptedSpans = 0
        public var rejectedSpans = 0
        /// Requests answered with a 4xx.
        public var refusedRequests = 0
        /// Connections closed at once because ``Limits/maximumConnections`` were open.
        public var refusedConnections = 0

        public init(
            acceptedSpans: Int = 0, rejectedSpans: Int = 0, refusedRequests: Int = 0, refusedConnections: Int = 0
        ) {
            self.acceptedSpans = acceptedSpans
            self.rejectedSpans = rejectedSpans
            self.refusedRequests = refusedRequests
            self.refusedConnections = refusedConnections
        }
    }

    /// The path of the traces signal (OTLP/HTTP's default; the SDKs append it to `OTEL_EXPORTER_OTLP_ENDPOINT`).
    public static let tracesPath = "/v1/traces"

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let counters: OTLPCounters
    public let port: Int
    /// `http://127.0.0.1:<port>`: what runtimes get as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    public let endpoint: String

    /// Binds `127.0.0.1:port` (0: a free port). Blocking: call it before serving starts, off any event loop.
    public init(port: Int = 0, limits: Limits = Limits(), store: TraceStore) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let counters = OTLPCounters()
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .childChannelInitializer { channel in
                    // Over the bound: closed at once (the bootstrap closes a channel whose initializer fails). One
                    // event loop runs every connection, so the count needs no more than an atomic.
                    guard counters.admit(limit: limits.maximumConnections) else {
                        return channel.eventLoop.makeFailedFuture(ConnectionRefused())
                    }
                    channel.closeFuture.whenComplete { _ in counters.release() }
                    return channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(IdleStateHandler(allTimeout: .seconds(Int64(limits.idleTimeoutSeconds))))
                        try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                        try sync.addHandler(OTLPHTTPHandler(limits: limits, counters: counters, store: store))
                    }
                }
                .childChannelOption(.allowRemoteHalfClosure, value: false)
                .bind(host: "127.0.0.1", port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
        self.counters = counters
        self.port = channel.localAddress?.port ?? port
        self.endpoint = "http://127.0.0.1:\(self.port)"
    }

    public var counts: Counts {
        Counts(
            acceptedSpans: counters.accepted.load(ordering: .relaxed),
            rejectedSpans: counters.rejected.load(ordering: .relaxed),
            refusedRequests: counters.refused.load(ordering: .relaxed),
            refusedConnections: counters.refusedConnections.load(ordering: .relaxed))
    }

    /// Connections open now.
    public var openConnections: Int { counters.open.load(ordering: .relaxed) }

    /// Closes the listener and its event loop (open connections with it).
    public func close() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    /// ``close()`` for a caller that cannot wait asynchronously (start-up failing). Blocking: not on a loop.
    public func closeNow() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

final class OTLPCounters: Sendable {
    let accepted = ManagedAtomic(0)
    let rejected = ManagedAtomic(0)
    let refused = ManagedAtomic(0)
    let open = ManagedAtomic(0)
    let refusedConnections = ManagedAtomic(0)

    /// Counts a new connection unless `limit` are open (then counts it as refused).
    func admit(limit: Int) -> Bool {
        if open.loadThenWrappingIncrement(ordering: .relaxed) < limit { return true }
        open.wrappingDecrement(ordering: .relaxed)
        refusedConnections.wrappingIncrement(ordering: .relaxed)
        return false
    }

    func release() {
        open.wrappingDecrement(ordering: .relaxed)
    }
}

/// The initializer's failure for a connection over ``OTLPReceiver/Limits/maximumConnections``.
struct ConnectionRefused: Error {}

/// What one export request asks for, and the answers the receiver gives (pure, for tests).
enum OTLPExport {
    enum Encoding { case protobuf, json }

    struct Answer: Equatable {
        var status: HTTPResponseStatus
        var encoding: Encoding
        var body: [UInt8]
        var headers: [(String, String)] = []

        static func == (lhs: Answer, rhs: Answer) -> Bool {
            lhs.status == rhs.status && lhs.encoding == rhs.encoding && lhs.body == rhs.body
        }

        var contentType: String { encoding == .json ? "application/json" : "application/x-protobuf" }
    }

    /// `google.rpc.Status { int32 code = 1; string message = 2; }` (code 3: INVALID_ARGUMENT).
    static func failure(_ status: HTTPResponseStatus, _ message: String, _ encoding: Encoding) -> Answer {
        let code: UInt64
        switch status {
        case .badRequest: code = 3  // INVALID_ARGUMENT
        case .payloadTooLarge: code = 11  // OUT_OF_RANGE
        case .notFound: code = 5  // NOT_FOUND
        default: code = 12  // UNIMPLEMENTED (415, 405)
        }
        switch encoding {
        case .json:
            var text = "{\"code\":\(code),\"message\":"
            JSONText.appendQuoted(message, to: &text)
            text += "}"
            return Answer(status: status, encoding: .json, body: Array(text.utf8))
        case .protobuf:
            var writer = ProtobufWriter()
            writer.varint(1, code)
            writer.string(2, message)
            return Answer(status: status, encoding: .protobuf, body: writer.bytes)
        }
    }

    /// `ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1 { int64 rejected_spans = 1;
    /// string error_message = 2; } }`; empty (all accepted) when nothing was refused.
    static func success(rejected: Int, message: String?, _ encoding: Encoding) -> Answer {
        switch encoding {
        case .json:
            var text = "{}"
            if rejected > 0 {
                text = "{\"partialSuccess\":{\"rejectedSpans\":\"\(rejected)\",\"errorMessage\":"
                JSONText.appendQuoted(message ?? "", to: &text)
                text += "}}"
            }
            return Answer(status: .ok, encoding: .json, body: Array(text.utf8))
        case .protobuf:
            var writer = ProtobufWriter()
            if rejected > 0 {
                writer.message(1) { partial in
                    partial.varint(1, UInt64(rejected))
                    if let message, !message.isEmpty { partial.string(2, message) }
                }
            }
            return Answer(status: .ok, encoding: .protobuf, body: writer.bytes)
        }
    }

    /// The encoding a `Content-Type` names (parameters such as `charset` ignored), nil for any other.
    static func encoding(contentType: String?) -> Encoding? {
        guard let contentType else { return nil }
        let media = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        switch media {
        case "application/x-protobuf": return .protobuf
        case "application/json": return .json
        default: return nil
        }
    }

    /// Decodes, converts and stores one request's spans; the answer to send.
    static func handle(
        method: HTTPMethod, path: Substring, contentType: String?, contentEncoding: String?, body: [UInt8],
        limit: Int, store: TraceStore, counters: OTLPCounters
    ) -> Answer {
        let requestEncoding = Self.encoding(contentType: contentType)
        let answerEncoding =
            requestEncoding ?? (contentType?.lowercased().contains("json") == true ? .json : .protobuf)
        func refuse(_ status: HTTPResponseStatus, _ message: String) -> Answer {
            counters.refused.wrappingIncrement(ordering: .relaxed)
            return failure(status, message, answerEncoding)
        }
        guard path == OTLPReceiver.tracesPath else {
            return refuse(.notFound, "only \(OTLPReceiver.tracesPath) is served here")
        }
        guard method == .POST else {
            var answer = refuse(.methodNotAllowed, "\(OTLPReceiver.tracesPath) takes POST")
            answer.headers = [("Allow", "POST")]
            return answer
        }
        guard let encoding = requestEncoding else {
            return refuse(
                .unsupportedMediaType,
                "Content-Type must be application/x-protobuf or application/json, not \(contentType ?? "none")")
        }
        var plain = body
        switch contentEncoding?.trimmingCharacters(in: .whitespaces).lowercased() {
        case nil, ""?, "identity"?:
            break
        case "gzip"?, "deflate"?:
            switch Inflater.inflate(body, limit: limit) {
            case .success(let inflated): plain = inflated
            case .failure(.tooLarge):
                return refuse(.payloadTooLarge, "the decompressed body is larger than \(limit) bytes")
            case .failure(.corrupt):
                return refuse(.badRequest, "the body is not valid \(contentEncoding ?? "") data")
            }
        case let other?:
            return refuse(.unsupportedMediaType, "Content-Encoding \(other) is not supported (gzip, deflate)")
        }
        let decoded: OTLPTraceDecoder.Decoded
        do {
            decoded = try OTLPTraceDecoder.decode(plain, json: encoding == .json)
        } catch {
            return refuse(.badRequest, "cannot decode ExportTraceServiceRequest: \(error)")
        }
        var rejected = decoded.rejected
        var message = decoded.firstRejection
        var documents: [SegmentDocument] = []
        documents.reserveCapacity(decoded.spans.count)
        for span in decoded.spans {
            switch span.segmentDocument() {
            case .success(let document): documents.append(document)
            case .failure(let problem):
                rejected += 1
                if message == nil { message = "a span is not a valid X-Ray document: \(problem)" }
            }
        }
        let stored = store.append(documents)
        if stored < documents.count {
            rejected += documents.count - stored
            if message == nil { message = "the trace store is full; \(documents.count - stored) spans dropped" }
        }
        counters.accepted.wrappingIncrement(by: stored, ordering: .relaxed)
        counters.rejected.wrappingIncrement(by: rejected, ordering: .relaxed)
        return success(rejected: rejected, message: message, encoding)
    }
}

/// One connection: reads a request up to the body limit, answers it, keeps the connection for the next.
final class OTLPHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let limits: OTLPReceiver.Limits
    private let counters: OTLPCounters
    private let store: TraceStore
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// The request was answered early (too large); the rest of its body is read and dropped (closing with
    /// unread bytes would reset the connection and could lose the answer), then the connection closes.
    private var answeredEarly = false
    private var discarded = 0

    init(limits: OTLPReceiver.Limits, counters: OTLPCounters, store: TraceStore) {
        self.limits = limits
        self.counters = counters
        self.store = store
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body.removeAll(keepingCapacity: false)
            answeredEarly = false
            discarded = 0
            if let length = requestHead.headers.first(name: "content-length").flatMap({ Int($0) }),
                length > limits.maximumBodyBytes
            {
                tooLarge(context: context)
            }
        case .body(let part):
            guard !answeredEarly else {
                discarded += part.readableBytes
                // Not forever: past 16 times the limit the client is not listening to the answer.
                if discarded > 16 * limits.maximumBodyBytes { context.close(promise: nil) }
                return
            }
            guard body.count + part.readableBytes <= limits.maximumBodyBytes else {
                tooLarge(context: context)
                return
            }
            body.append(contentsOf: part.readableBytesView)
        case .end:
            guard !answeredEarly else {
                context.close(promise: nil)
                return
            }
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let answer = OTLPExport.handle(
                method: head.method, path: path, contentType: head.headers.first(name: "content-type"),
                contentEncoding: head.headers.first(name: "content-encoding"), body: body,
                limit: limits.maximumBodyBytes, store: store, counters: counters)
            body = []
            write(context: context, answer, keepAlive: head.isKeepAlive)
        }
    }

    private func tooLarge(context: ChannelHandlerContext) {
        answeredEarly = true
        body = []
        counters.refused.wrappingIncrement(ordering: .relaxed)
        let encoding = OTLPExport.encoding(contentType: head?.headers.first(name: "content-type")) ?? .protobuf
        let answer = OTLPExport.failure(
            .payloadTooLarge, "the body is larger than \(limits.maximumBodyBytes) bytes", encoding)
        write(context: context, answer, keepAlive: false, closeAfter: false)
    }

    private func write(
        context: ChannelHandlerContext, _ answer: OTLPExport.Answer, keepAlive: Bool, closeAfter: Bool = true
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        for (name, value) in answer.headers { headers.add(name: name, value: value) }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: answer.status, headers: headers))),
            promise: nil)
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive && closeAfter {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension OTLPHTTPHandler: Sendable {}

/// Bounded decompression of a `gzip` or `deflate` (zlib) body: zlib detects which from the header.
enum Inflater {
    enum Failure: Error { case tooLarge, corrupt }

    static func inflate(_ input: [UInt8], limit: Int) -> Result<[UInt8], Failure> {
        var stream = z_stream()
        guard albatross_inflate_init_auto(&stream) == Z_OK else { return .failure(.corrupt) }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        return input.withUnsafeMutableBufferPointer { inputBuffer -> Result<[UInt8], Failure> in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = uInt(inputBuffer.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { chunkBuffer -> (Int32, Int) in
                    stream.next_out = chunkBuffer.baseAddress
                    stream.avail_out = uInt(chunkBuffer.count)
                    let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return (status, chunkBuffer.count - Int(stream.avail_out))
                }
                guard output.count + produced <= limit else { return .failure(.tooLarge) }
                output.append(contentsOf: chunk.prefix(produced))
                switch status {
                case Z_STREAM_END:
                    return .success(output)
                case Z_OK:
                    // No progress with input left means the stream is cut short.
                    if produced == 0 && stream.avail_in == 0 { return .failure(.corrupt) }
                case Z_BUF_ERROR where stream.avail_in == 0:
                    return .failure(.corrupt)
                default:
                    return .failure(.corrupt)
                }
            }
        }
    }
}
