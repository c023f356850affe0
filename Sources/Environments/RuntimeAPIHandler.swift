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
final class RuntimeAPIHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

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

    init(environment: any RuntimeAPIEnvironment) {
        self.environment = environment
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Also when not parked: the environment may hold this connection as the one its invoke went to.
        isParked = false
        environment.waiterGone(self)
        self.context = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            keepAlive = head.isKeepAlive
            route = Self.route(for: head)
            body = nil
            bodyTooLarge = false
            // curl asks before sending large bodies; answering at once saves it a one-second wait.
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                context.writeAndFlush(
                    wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
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
            dispatch(context: context)
        }
    }

    private static let prefix = "/2018-06-01/runtime/"

    /// Matched on the target's UTF-8 bytes: every separator is ASCII, and the `Character` operations this did
    /// before (grapheme breaking on every index step) cost tens of thousands of instructions a request.
    private static func route(for head: HTTPRequestHead) -> Route {
        var path = Substring(head.uri).utf8
        if let query = path.firstIndex(of: UInt8(ascii: "?")) { path = path[..<query] }
        if path.starts(with: prefix.utf8) {
            let rest = path.dropFirst(prefix.utf8.count)
            if rest.elementsEqual("invocation/next".utf8) { return head.method == .GET ? .next : .methodNotAllowed }
            if rest.elementsEqual("init/error".utf8) { return head.method == .POST ? .initError : .methodNotAllowed }
            let invocation = "invocation/".utf8
            guard rest.starts(with: invocation) else { return .notFound }
            let tail = rest.dropFirst(invocation.count)
            guard let slash = tail.firstIndex(of: UInt8(ascii: "/")), slash != tail.startIndex else {
                return .notFound
            }
            let kind = tail[tail.index(after: slash)...]
            let isResponse = kind.elementsEqual("response".utf8)
            guard isResponse || kind.elementsEqual("error".utf8) else { return .notFound }
            guard head.method == .POST else { return .methodNotAllowed }
            let requestID = String(Substring(tail[..<slash]))
            return isResponse ? .response(requestID: requestID) : .error(requestID: requestID)
        }
        switch String(Substring(path)) {
        case "/2018-06-01/ping": return head.method == .GET ? .ping : .methodNotAllowed
        case "/2020-01-01/extension/register": return head.method == .POST ? .extensionRegister : .methodNotAllowed
        case "/2020-01-01/extension/event/next": return head.method == .GET ? .extensionNext : .methodNotAllowed
        case "/2020-01-01/extension/init/error": return head.method == .POST ? .extensionInitError : .methodNotAllowed
        case "/2020-01-01/extension/exit/error": return head.method == .POST ? .extensionExitError : .methodNotAllowed
        case "/2022-07-01/telemetry", "/2020-08-15/logs": return head.method == .PUT ? .telemetry : .methodNotAllowed
        default: return .notFound
        }
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
            respond(status: .accepted, json: #"{"status":"OK"}"#)
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
        var headers = HTTPHeaders()
        headers.reserveCapacity(7)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Lambda-Runtime-Aws-Request-Id", value: request.requestID)
        headers.add(name: "Lambda-Runtime-Deadline-Ms", value: String(deadlineEpochMs))
        headers.add(name: "Lambda-Runtime-Invoked-Function-Arn", value: request.invokedFunctionARN)
        headers.add(name: "Lambda-Runtime-Trace-Id", value: request.traceHeader)
        if let clientContext = request.clientContext {
            headers.add(name: "Lambda-Runtime-Client-Context", value: clientContext)
        }
        headers.add(name: "Content-Length", value: String(request.payload.readableBytes))
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.payload))), promise: nil)
        let keepAlive = self.keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
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
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let keepAlive = self.keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension RuntimeAPIHandler: Sendable {}
