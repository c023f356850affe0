import ALBEvents
import Foundation
import InvocationModel
import NIOCore
import NIOHTTP1

/// What ``RuntimeAPIHandler`` asks of the environment it serves. ``ExecutionEnvironment`` is the one in the
/// product; the protocol lets the handler be tested on an `EmbeddedChannel` without a runtime process.
/// Called on the environment's event loop.
protocol RuntimeAPIEnvironment: AnyObject {
    /// `GET /next` arrived on `waiter`'s connection; the environment answers it, now or later, with
    /// ``RuntimeAPIHandler/deliver(_:deadlineEpochMs:)`` or ``RuntimeAPIHandler/rejectNext()``.
    func nextRequested(by waiter: RuntimeAPIHandler)
    /// The connection of a parked `/next` closed.
    func waiterGone(_ waiter: RuntimeAPIHandler)
    /// `errorCause`: the `Lambda-Runtime-Function-XRay-Error-Cause` of an `/error` post (for traces).
    func post(
        _ kind: ExecutionEnvironment.Machine.PostKind, requestID: String, body: ByteBuffer, contentType: String?,
        errorType: String?, errorCause: String?
    ) -> RuntimeAPIHandler.PostResult
    /// A result over ``RuntimeAPIHandler/maximumPostSize`` was posted for `requestID`.
    func responseTooLarge(requestID: String)
    /// `POST /init/error`; returns whether it was accepted.
    func initErrorPosted(body: ByteBuffer, errorType: String?) -> Bool
    /// `POST /2020-01-01/extension/register` with `Lambda-Extension-Name` (runtime-api.md §1.9).
    func extensionRegister(name: String?, body: ByteBuffer) -> RuntimeAPIHandler.Reply
    /// `GET /2020-01-01/extension/event/next`; answered, now or later, with
    /// ``RuntimeAPIHandler/deliverExtensionEvent(_:)`` or ``RuntimeAPIHandler/rejectExtensionNext(_:)``.
    func extensionNextRequested(by waiter: RuntimeAPIHandler, identifier: String?)
    /// `POST /2020-01-01/extension/init/error` (`exit`: false) or `…/exit/error`.
    func extensionErrorPosted(
        exit: Bool, identifier: String?, errorType: String?, body: ByteBuffer
    )
        -> RuntimeAPIHandler.Reply
    /// `PUT /2022-07-01/telemetry` (or the older `/2020-08-15/logs`).
    func telemetrySubscribe(identifier: String?, body: ByteBuffer) -> RuntimeAPIHandler.Reply
}

extension RuntimeAPIEnvironment {
    // An environment without extensions (the handler's tests).
    func extensionRegister(name: String?, body: ByteBuffer) -> RuntimeAPIHandler.Reply { .notFound }
    func extensionNextRequested(by waiter: RuntimeAPIHandler, identifier: String?) {
        waiter.rejectExtensionNext(.notFound)
    }
    func extensionErrorPosted(
        exit: Bool, identifier: String?, errorType: String?, body: ByteBuffer
    )
        -> RuntimeAPIHandler.Reply
    { .notFound }
    func telemetrySubscribe(identifier: String?, body: ByteBuffer) -> RuntimeAPIHandler.Reply { .notFound }
}

/// Serves the Lambda Runtime API (runtime-api.md §1) to the runtime of one execution environment.
///
/// Every connection accepted on an environment's private listener belongs to that environment, so identity
/// comes from the connection, never from what the runtime claims. Bodies are read completely (Content-Length
/// or chunked, trailers ignored) before a post is answered, and are bounded at 6 MiB + 100 bytes.
///
/// The handler writes its answers as bytes, right after NIO's request decoder (``addHandlers(to:environment:)``):
/// every answer is one of a few fixed shapes, and NIO's response encoder, pipelining and error handlers with
/// their `HTTPHeaders` cost more per invoke than the rest of the Runtime API together (bench/README.md, "The warm
/// path, change by change"). So this handler also does what those did: requests a runtime pipelines wait until
/// the answer before them is written (and the socket is not read meanwhile), and a request the decoder cannot
/// parse is answered 400 and the connection closed.
final class RuntimeAPIHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The pipeline of one Runtime API connection, as the environment, its tests and the fuzzer build it.
    static func addHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, environment: any RuntimeAPIEnvironment
    ) throws {
        try pipeline.addHandlers([
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)),
            RuntimeAPIHandler(environment: environment),
        ])
    }

    static let maximumPostSize = 6 * 1024 * 1024 + 100

    private enum Route {
        case next
        case response(requestID: String)
        case error(requestID: String)
        case initError
        case extensionRegister
        case extensionNext
        case extensionInitError
        case extensionExitError
        case telemetry
        case ping
        case notFound
        case methodNotAllowed
    }

    private let environment: any RuntimeAPIEnvironment
    private var route: Route = .notFound
    private var keepAlive = true
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var bodyTooLarge = false
    private var context: ChannelHandlerContext?
    /// Set while this connection's `/next` is parked.
    private(set) var isParked = false
    /// From a request's end until its answer is written; parts that arrive meanwhile wait in `waiting`.
    private var answering = false
    /// Request parts not handled yet: a pipelining runtime's next requests.
    private var waiting = CircularBuffer<HTTPServerRequestPart>()
    /// A `read` held back while requests wait, so that a pipelining runtime cannot make them pile up.
    private var readHeld = false
    /// Set inside ``process(context:)``, which answers may re-enter.
    private var processing = false
    /// The connection closes once the answer being written is out (`Connection: close`, or a 400).
    private var closing = false

    init(environment: any RuntimeAPIEnvironment) {
        self.environment = environment
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Also when not parked: the environment may hold this connection as the one its invoke went to.
        isParked = false
        waiting.removeAll()
        environment.waiterGone(self)
        self.context = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if !answering && waiting.isEmpty && !closing {
            handle(part, context: context)
        } else if !closing {
            waiting.append(part)
        }
    }

    func read(context: ChannelHandlerContext) {
        if waiting.isEmpty { context.read() } else { readHeld = true }
    }

    /// A request the decoder refused: 400 when no answer is under way (as NIO's `HTTPServerProtocolErrorHandler`
    /// answered it), then the connection closes.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        waiting.removeAll()
        guard !closing else { return }
        closing = true
        if !answering, error is HTTPParserError {
            context.writeAndFlush(wrapOutboundOut(Self.badRequest)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }

    /// Handles the parts that waited for an answer, until one of them has to wait again.
    private func process(context: ChannelHandlerContext) {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while !answering, !closing, let part = waiting.popFirst() {
            handle(part, context: context)
        }
        if waiting.isEmpty, readHeld {
            readHeld = false
            context.read()
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            self.head = head
            keepAlive = head.isKeepAlive
            route = Self.route(for: head)
            body = nil
            bodyTooLarge = false
            // curl asks before sending large bodies; answering at once saves it a one-second wait.
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                context.writeAndFlush(
                    wrapOutboundOut(head.version.minor == 0 ? Self.continue10 : Self.continue11), promise: nil)
            }
        case .body(var chunk):
            guard !bodyTooLarge else { return }
            let size = (body?.readableBytes ?? 0) + chunk.readableBytes
            if size > Self.maximumPostSize {
                bodyTooLarge = true
                body = nil
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            answering = true
            dispatch(context: context)
        }
    }

    /// Matched on the target's UTF-8 bytes, in place (a native `String`'s storage): every separator is ASCII.
    /// `Character` operations (grapheme breaking on every index step) and generic `Substring.UTF8View` algorithms
    /// cost tens of thousands of instructions a request; this costs a few hundred.
    private static func route(for head: HTTPRequestHead) -> Route {
        var uri = head.uri
        let method = head.method
        return uri.withUTF8 { target in
            var path = target
            if let query = target.firstIndex(of: UInt8(ascii: "?")) {
                path = UnsafeBufferPointer(rebasing: target[..<query])
            }
            return route(path: path, method: method)
        }
    }

    private static func route(path: UnsafeBufferPointer<UInt8>, method: HTTPMethod) -> Route {
        if let rest = path.dropping(prefix: "/2018-06-01/runtime/") {
            if rest.equals("invocation/next") { return method == .GET ? .next : .methodNotAllowed }
            if rest.equals("init/error") { return method == .POST ? .initError : .methodNotAllowed }
            guard let tail = rest.dropping(prefix: "invocation/"),
                let slash = tail.firstIndex(of: UInt8(ascii: "/")), slash != 0
            else { return .notFound }
            let kind = UnsafeBufferPointer(rebasing: tail[(slash + 1)...])
            let isResponse = kind.equals("response")
            guard isResponse || kind.equals("error") else { return .notFound }
            guard method == .POST else { return .methodNotAllowed }
            let requestID = String(decoding: UnsafeBufferPointer(rebasing: tail[..<slash]), as: UTF8.self)
            return isResponse ? .response(requestID: requestID) : .error(requestID: requestID)
        }
        if path.equals("/2018-06-01/ping") { return method == .GET ? .ping : .methodNotAllowed }
        if let rest = path.dropping(prefix: "/2020-01-01/extension/") {
            if rest.equals("register") { return method == .POST ? .extensionRegister : .methodNotAllowed }
            if rest.equals("event/next") { return method == .GET ? .extensionNext : .methodNotAllowed }
            if rest.equals("init/error") { return method == .POST ? .extensionInitError : .methodNotAllowed }
            if rest.equals("exit/error") { return method == .POST ? .extensionExitError : .methodNotAllowed }
            return .notFound
        }
        if path.equals("/2022-07-01/telemetry") || path.equals("/2020-08-15/logs") {
            return method == .PUT ? .telemetry : .methodNotAllowed
        }
        return .notFound
    }

    private func dispatch(context: ChannelHandlerContext) {
        guard let head else { return }
        let payload = body ?? context.channel.allocator.buffer(capacity: 0)
        body = nil
        if bodyTooLarge {
            // An oversized result fails its invoke (Function.ResponseSizeTooLarge); any oversized post gets 413.
            if case .response(let requestID) = route { environment.responseTooLarge(requestID: requestID) }
            respond(
                status: .payloadTooLarge,
                json:
                    #"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#
            )
            return
        }
        switch route {
        case .next:
            isParked = true
            environment.nextRequested(by: self)
        case .response(let requestID):
            if head.headers.first(name: "Lambda-Runtime-Function-Response-Mode").map({ $0.lowercased() != "streaming" })
                ?? false
            {
                respond(
                    status: .badRequest,
                    json:
                        #"{"errorMessage":"Invalid function response mode","errorType":"InvalidFunctionResponseMode"}"#)
                return
            }
            let result = environment.post(
                .response, requestID: requestID, body: payload, contentType: head.headers.first(name: "Content-Type"),
                errorType: nil, errorCause: nil)
            answerPost(result)
        case .error(let requestID):
            let result = environment.post(
                .error, requestID: requestID, body: payload, contentType: head.headers.first(name: "Content-Type"),
                errorType: head.headers.first(name: "Lambda-Runtime-Function-Error-Type"),
                errorCause: head.headers.first(name: "Lambda-Runtime-Function-XRay-Error-Cause"))
            answerPost(result)
        case .initError:
            let accepted = environment.initErrorPosted(
                body: payload, errorType: head.headers.first(name: "Lambda-Runtime-Function-Error-Type"))
            answerPost(accepted ? .accepted : .invalidState)
        case .extensionRegister:
            reply(environment.extensionRegister(name: head.headers.first(name: "Lambda-Extension-Name"), body: payload))
        case .extensionNext:
            isParked = true
            environment.extensionNextRequested(
                by: self, identifier: head.headers.first(name: "Lambda-Extension-Identifier"))
        case .extensionInitError, .extensionExitError:
            reply(
                environment.extensionErrorPosted(
                    exit: { if case .extensionExitError = route { return true } else { return false } }(),
                    identifier: head.headers.first(name: "Lambda-Extension-Identifier"),
                    errorType: head.headers.first(name: "Lambda-Extension-Function-Error-Type"), body: payload))
        case .telemetry:
            reply(
                environment.telemetrySubscribe(
                    identifier: head.headers.first(name: "Lambda-Extension-Identifier"), body: payload))
        case .ping:
            respond(status: .ok, contentType: "text/plain", body: "pong")
        case .notFound:
            respond(
                status: .notFound,
                json: #"{"errorMessage":"Unknown Runtime API path","errorType":"NotFound"}"#)
        case .methodNotAllowed:
            respond(
                status: .methodNotAllowed,
                json: #"{"errorMessage":"Method not allowed","errorType":"MethodNotAllowed"}"#)
        }
    }

    /// An answer of the Extensions or Telemetry API.
    struct Reply {
        var status: HTTPResponseStatus
        var headers: [(String, String)] = []
        var json: String

        static func error(_ status: HTTPResponseStatus, _ type: String, _ message: String) -> Reply {
            var buffer = ByteBuffer()
            buffer.writeStaticString(#"{"errorMessage":"#)
            buffer.writeJSONString(message)
            buffer.writeStaticString(#","errorType":"#)
            buffer.writeJSONString(type)
            buffer.writeStaticString("}")
            return Reply(status: status, json: String(buffer: buffer))
        }

        static var notFound: Reply { .error(.notFound, "NotFound", "Unknown Runtime API path") }
        static var accepted: Reply { Reply(status: .accepted, json: #"{"status":"OK"}"#) }
    }

    private func reply(_ reply: Reply) {
        respond(status: reply.status, contentType: "application/json", body: reply.json, extraHeaders: reply.headers)
    }

    /// Answers the parked `event/next` of an extension with an event (its JSON).
    func deliverExtensionEvent(_ json: String) {
        guard isParked else { return }
        isParked = false
        let eventID = UUID().uuidString.lowercased()
        respond(
            status: .ok, contentType: "application/json", body: json,
            extraHeaders: [("Lambda-Extension-Event-Identifier", eventID)])
    }

    /// Answers the parked `event/next` of an extension with an error.
    func rejectExtensionNext(_ reply: Reply) {
        guard isParked else { return }
        isParked = false
        self.reply(reply)
    }

    enum PostResult {
        case accepted
        case invalidRequestID
        case invalidState
    }

    private func answerPost(_ result: PostResult) {
        switch result {
        case .accepted:
            if keepAlive { send(Self.acceptedAnswer) } else { respond(status: .accepted, json: #"{"status":"OK"}"#) }
        case .invalidRequestID:
            respond(status: .badRequest, json: #"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#)
        case .invalidState:
            respond(
                status: .forbidden,
                json:
                    #"{"errorMessage":"State transition is not allowed for the runtime in its current state","errorType":"InvalidStateTransition"}"#
            )
        }
    }

    /// Answers the parked `/next` with an event.
    func deliver(_ request: InvocationRequest, deadlineEpochMs: Int64) {
        guard let context, isParked else { return }
        isParked = false
        let inline = request.payload.readableBytes <= 4096
        let maximumLength = Self.maximumEventHeadLength(request)
        var head = context.channel.allocator.buffer(
            capacity: maximumLength + (inline ? request.payload.readableBytes : 0))
        head.writeHead(maximumLength: maximumLength) { head in
            head.append("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: ")
            head.appendFieldValue(request.requestID)
            head.append("\r\nLambda-Runtime-Deadline-Ms: ")
            head.appendDecimal(Int(deadlineEpochMs))
            head.append("\r\nLambda-Runtime-Invoked-Function-Arn: ")
            head.appendFieldValue(request.invokedFunctionARN)
            head.append("\r\nLambda-Runtime-Trace-Id: ")
            head.appendFieldValue(request.traceHeader)
            if let clientContext = request.clientContext {
                head.append("\r\nLambda-Runtime-Client-Context: ")
                head.appendFieldValue(clientContext)
            }
            head.append("\r\nContent-Length: ")
            head.appendDecimal(request.payload.readableBytes)
            head.append(keepAlive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n")
        }
        if inline {
            var payload = request.payload
            head.writeBuffer(&payload)
            send(head)
        } else {
            context.write(wrapOutboundOut(head), promise: nil)
            send(request.payload)
        }
    }

    /// Room for the head ``deliver(_:deadlineEpochMs:)`` writes: its fixed text (under 300 bytes with both
    /// decimals at their longest) and the request's strings.
    private static func maximumEventHeadLength(_ request: InvocationRequest) -> Int {
        320 + request.requestID.utf8.count + request.invokedFunctionARN.utf8.count + request.traceHeader.utf8.count
            + (request.clientContext?.utf8.count ?? 0)
    }

    /// Answers the parked `/next` with 403: the environment cannot become ready any more.
    func rejectNext() {
        guard isParked else { return }
        isParked = false
        respond(
            status: .forbidden,
            json:
                #"{"errorMessage":"State transition from Terminated to Ready failed for runtime","errorType":"InvalidStateTransition"}"#
        )
    }

    private func respond(status: HTTPResponseStatus, json: String) {
        respond(status: status, contentType: "application/json", body: json)
    }

    private func respond(
        status: HTTPResponseStatus, contentType: String, body: String, extraHeaders: [(String, String)] = []
    ) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 128 + body.utf8.count)
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeDecimal(Int(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\nContent-Type: ")
        buffer.writeString(contentType)
        for (name, value) in extraHeaders {
            buffer.writeStaticString("\r\n")
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeFieldValue(value)
        }
        buffer.writeStaticString("\r\nContent-Length: ")
        buffer.writeDecimal(body.utf8.count)
        buffer.writeStaticString(keepAlive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n")
        buffer.writeString(body)
        send(buffer)
    }

    /// Writes the last bytes of an answer, then handles whatever the runtime sent after that request.
    private func send(_ bytes: ByteBuffer) {
        guard let context else { return }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        } else {
            closing = true
            waiting.removeAll()
            context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
        answering = false
        process(context: context)
    }

    private static let acceptedAnswer = ByteBuffer(
        string:
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}")
    private static let badRequest = ByteBuffer(
        string: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    private static let continue11 = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")
    private static let continue10 = ByteBuffer(string: "HTTP/1.0 100 Continue\r\n\r\n")
}

extension UnsafeBufferPointer<UInt8> {
    /// Whether these bytes are exactly `literal`'s.
    fileprivate func equals(_ literal: StaticString) -> Bool {
        count == literal.utf8CodeUnitCount && (count == 0 || memcmp(baseAddress!, literal.utf8Start, count) == 0)
    }

    /// The bytes after `literal`, when they start with it.
    fileprivate func dropping(prefix literal: StaticString) -> UnsafeBufferPointer<UInt8>? {
        let length = literal.utf8CodeUnitCount
        guard count >= length, memcmp(baseAddress!, literal.utf8Start, length) == 0 else { return nil }
        return UnsafeBufferPointer(rebasing: self[length...])
    }
}
