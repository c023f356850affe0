import ALBEvents
import AlbatrossTLS
import InvocationModel
import LambdaModel
import NIOCore
import NIOHTTP1
import Routing

/// Answers one connection's requests as an ALB listener does: limits and rejections, listener rules, fixed
/// responses and redirects, and forwards that turn the request into a Lambda event, invoke the function and
/// turn its result into the response.
///
/// Requests are answered one at a time: a pipelining client's next requests (and a parser error that follows
/// them) wait in ``waiting`` until the answer before them is written, and reads are held while they wait (what
/// NIO's `HTTPServerPipelineHandler` did). The body is collected up to the ALB's 1 MiB limit; a larger one is
/// answered with 413 without invoking anything. Answers are written as bytes
/// (``ALBResponse/writeHead(into:date:keepAlive:)``), with no response encoder or `HTTPHeaders` in between: the
/// function's headers are checked by `ALBResultDecoder`, and every value is written with control characters
/// replaced.
final class ALBRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        /// Collecting the body of `head`.
        case receiving(HTTPRequestHead, ALBRequestHead)
        /// Answered early (413 and friends): the rest of the body is discarded and the connection closes.
        case discarding
        /// Waiting for the function (or writing the answer).
        case responding
    }

    /// The listener's context for the request being answered: taken from `slot` when its head arrives.
    private var listener: ListenerContext
    private let slot: ListenerSlot?
    private let invoker: any InvocationService
    private let events: InvocationEventBus
    private let inFlight: InFlightTracker
    private var state = State.idle
    private var body: ByteBuffer?
    private var keepAlive = true
    private var isHead = false
    /// Set once a parser error has been answered: the decoder is dead, later errors only repeat it.
    private var protocolErrorAnswered = false
    private var dateCache = HTTPDateCache()
    /// What the TLS layer below reported once its handshake completed (for `x-amzn-tls-*`).
    private var tls: TLSHandshakeCompleted?
    private var random: any RandomNumberGenerator
    private var requestOpen = false
    /// Set while a connection answered before its body was read is drained before closing.
    private var lingerTimer: Scheduled<Void>?
    private var lingeredBytes = 0
    /// The id of the request being answered, when front-end events are wanted ("" otherwise).
    private var requestID = ""
    /// The ALB's `error_reason` for the answer being written (alb-lambda.md §3); nil on success.
    private var errorReason: String?
    /// The access-log facts of the request being answered, when a subscriber asks for `requestDetails` (nil
    /// otherwise: nothing below is computed then).
    private var access: FrontEndRequest?
    /// Where the rules sent the request being answered, when events are observed.
    private var routing: InvocationEvent.ResponseWritten.Routing?
    /// The invoker attempted an invoke for the request being answered (``InvocationEvent/ResponseWritten/invoked``).
    private var invoked = false
    /// The trace header forwarded and the head's arrival, for `responseWritten` (nil when its events are not wanted).
    private var traceID: String?
    private var receivedAt: NIODeadline?
    /// The `AWSALBTG` / `AWSALBTGCORS` cookies the answer being prepared carries (a forward with stickiness).
    private var stickinessCookies: [(name: String, value: String)] = []
    /// This connection's `conn_trace_id`, drawn with its first observed request.
    private var connectionTraceID: String?
    private let now: @Sendable () -> Int
    /// The connection's head deadline, told when each answer has been written.
    var headDeadline: RequestHeadDeadlineHandler?

    /// What arrived while an answer was owed: a pipelining client's next requests, and a parser error after them.
    private enum Waiting {
        case part(HTTPServerRequestPart)
        case error(any Error)
    }
    private var waiting = CircularBuffer<Waiting>()
    /// A `read` held back while requests wait, so that a pipelining client cannot make them pile up.
    private var readHeld = false
    /// Set inside ``drain(context:)``, which a synchronous answer re-enters.
    private var draining = false
    /// Set once an answer with `Connection: close` is written: no later request on the connection is answered
    /// (RFC 9112 §9.6).
    private var closing = false

    /// - Parameters:
    ///   - random: the source of trace ids, request ids, target-group draws and shuffled header orders (a
    ///     seeded one makes tests deterministic).
    ///   - now: wall-clock seconds for the trace id's epoch field.
    convenience init(
        listener slot: ListenerSlot, invoker: any InvocationService, events: InvocationEventBus,
        inFlight: InFlightTracker
    ) {
        self.init(listener: slot.context, slot: slot, invoker: invoker, events: events, inFlight: inFlight)
    }

    init(
        listener: ListenerContext, slot: ListenerSlot? = nil, invoker: any InvocationService,
        events: InvocationEventBus,
        inFlight: InFlightTracker, random: any RandomNumberGenerator = SystemRandomNumberGenerator(),
        now: @escaping @Sendable () -> Int = { WallClock.epochSeconds() }
    ) {
        self.listener = listener
        self.slot = slot
        self.invoker = invoker
        self.events = events
        self.inFlight = inFlight
        self.random = random
        self.now = now
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        endRequest()
    }

    func channelInactive(context: ChannelHandlerContext) {
        endRequest()
        waiting.removeAll()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let details = event as? TLSHandshakeCompleted {
            tls = details
        } else if event is IdleStateHandler.IdleStateEvent {
            // ALB's idle timeout: close connections with no request in progress.
            if case .idle = state { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if !waiting.isEmpty {
            waiting.append(.part(part))
            return
        }
        if case .head = part, case .responding = state {
            // Pipelined: answered once the request before it is.
            waiting.append(.part(part))
            return
        }
        receive(part, context: context)
    }

    func read(context: ChannelHandlerContext) {
        if waiting.isEmpty { context.read() } else { readHeld = true }
    }

    /// Handles what waited for an answer, until a request has to wait for its own.
    private func drain(context: ChannelHandlerContext) {
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while let next = waiting.first {
            if case .responding = state { break }
            waiting.removeFirst()
            switch next {
            case .part(let part): receive(part, context: context)
            case .error(let error): answer(error, context: context)
            }
        }
        if waiting.isEmpty, readHeld {
            readHeld = false
            context.read()
        }
    }

    private func receive(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        if lingerTimer != nil {
            lingered(part, context: context)
            return
        }
        switch part {
        case .head(let head):
            guard !closing else { return }
            beginRequest()
            if let slot { listener = slot.context }
            // Drawn before anything else, so that answers the ALB gives itself (413, 400, 405, …) have events too.
            requestID = events.wants([.received, .responseWritten]) ? RequestID.make(using: &random) : ""
            errorReason = nil
            routing = nil
            invoked = false
            traceID = nil
            receivedAt = requestID.isEmpty ? nil : .now()
            access = events.wants(.requestDetails) ? makeAccess(context: context, head: head) : nil
            // After CONNECT or an upgrade request the decoder stops parsing (it drops the rest as another
            // protocol's bytes), so no further request could be read: close once this one is answered.
            keepAlive = head.isKeepAlive && head.method != .CONNECT && !head.headers.contains(name: "upgrade")
            isHead = head.method == .HEAD
            body = nil
            var headers: [(name: String, value: String)] = []
            headers.reserveCapacity(head.headers.count)
            for (name, value) in head.headers { headers.append((name, value)) }
            let albHead = ALBRequestHead(
                method: head.method.rawValue, uri: head.uri, headers: headers,
                requiresHost: head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1))
            if let rejection = ALBRequestCheck.rejection(for: albHead, options: Self.checkOptions) {
                state = .discarding
                // Keep the connection when no body follows; otherwise close instead of reading it.
                let bodyFollows =
                    head.headers.contains(name: "transfer-encoding")
                    || (head.headers.first(name: "content-length").flatMap(Int.init) ?? 0) > 0
                errorReason = rejection.reason == "-" ? nil : rejection.reason
                if access != nil, rejection.reason == "LambdaRequestTooLarge" {
                    noteRouteOfRefusedBody(context: context, head: head, albHead: albHead)
                }
                writeErrorPage(context: context, status: rejection.status, close: bodyFollows)
                return
            }
            state = .receiving(head, albHead)
            // An ALB answers `Expect: 100-continue` itself, so clients do not wait before sending the body.
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                context.writeAndFlush(
                    wrapOutboundOut(head.version == .http1_0 ? Self.continue10 : Self.continue11), promise: nil)
            }
        case .body(var chunk):
            guard case .receiving(let head, let albHead) = state else { return }
            access?.receivedBytes += chunk.readableBytes
            let size = (body?.readableBytes ?? 0) + chunk.readableBytes
            if size > ALBEventOptions.defaultMaximumRequestBodySize {
                state = .discarding
                body = nil
                errorReason = "LambdaRequestTooLarge"
                if access != nil { noteRouteOfRefusedBody(context: context, head: head, albHead: albHead) }
                writeErrorPage(context: context, status: 413, close: true)
                return
            }
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            switch state {
            case .receiving(let head, let albHead):
                state = .responding
                handle(context: context, head: head, albHead: albHead)
            case .discarding:
                state = .idle
            case .idle, .responding:
                break
            }
        }
    }

    /// The limits checked before routing are the same for every target group.
    private static let checkOptions = ALBEventOptions(targetGroupArn: "")

    // MARK: routing

    /// What the rules see: the path the event carries (an absolute-form target loses its scheme and authority).
    private func requestFacts(
        head: HTTPRequestHead, albHead: ALBRequestHead, peer: SocketAddress?
    ) -> (facts: RequestFacts, rawPath: String, rawQuery: String?) {
        let uri = ALBRequestHead.originForm(of: head.uri)
        let queryStart = uri.firstIndex(of: "?")
        let pathPart = queryStart.map { uri[..<$0] } ?? uri
        let rawPath = pathPart.isEmpty ? "/" : String(pathPart)
        let rawQuery = queryStart.map { String(uri[uri.index(after: $0)...]) }
        let facts = RequestFacts(
            method: albHead.method, rawPath: rawPath, rawQuery: rawQuery, host: head.headers.first(name: "host"),
            headers: albHead.headers, sourceAddress: peer?.ipAddress ?? "")
        return (facts, rawPath, rawQuery)
    }

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead, albHead: ALBRequestHead) {
        let host = head.headers.first(name: "host")
        let peer = context.channel.remoteAddress
        let (facts, rawPath, rawQuery) = requestFacts(head: head, albHead: albHead, peer: peer)
        let (action, priority) = listener.router.matchingRule(facts)
        let observed = !requestID.isEmpty
        access?.matchedRulePriority = priority ?? 0
        switch action {
        case .fixedResponse(let fixed):
            access?.actionsExecuted = ["fixed-response"]
            if observed { emitReceived(rule: priority, targetGroup: nil) }
            var headers: [(name: String, value: String)] = []
            if let contentType = fixed.contentType { headers.append(("Content-Type", contentType)) }
            var buffer = context.channel.allocator.buffer(capacity: fixed.messageBody?.utf8.count ?? 0)
            buffer.writeString(fixed.messageBody ?? "")
            write(
                context: context,
                response: ALBResponse(
                    status: fixed.statusCode, reasonPhrase: HTTPReasonPhrase.phrase(for: fixed.statusCode),
                    headers: headers, body: buffer))
        case .redirect(let redirect):
            if observed { emitReceived(rule: priority, targetGroup: nil) }
            let hostName =
                host.map { String(ListenerRouter.hostName(fromHostHeader: $0)) }
                ?? (context.channel.localAddress?.ipAddress ?? "localhost")
            let rendered = ListenerRouter.renderRedirect(
                redirect, protocol: listener.configuration.protocol, host: hostName, port: listener.port,
                path: rawPath, query: rawQuery)
            access?.actionsExecuted = ["redirect"]
            access?.redirectURL = rendered.location
            write(
                context: context,
                response: ALBResponse(
                    status: rendered.status, reasonPhrase: HTTPReasonPhrase.phrase(for: rendered.status),
                    headers: [("Location", rendered.location), ("Content-Type", "text/html")],
                    body: ALBErrorPage.response(status: rendered.status, allocator: context.channel.allocator).body))
        case .forward(let forward):
            let name: String
            if let duration = forward.stickinessDurationSeconds {
                // Target-group stickiness: the cookie's group, else one by weight; every answer re-extends it.
                let scope = TargetGroupStickiness.scope(port: listener.port, rule: priority)
                let seconds = now()
                name =
                    listener.stickiness.select(
                        forward, headers: albHead.headers, scope: scope, now: seconds, random: &random
                    ).targetGroup
                stickinessCookies = listener.stickiness.setCookieHeaders(
                    targetGroup: name, scope: scope, now: seconds, duration: duration)
            } else {
                name = ListenerRouter.selectTargetGroup(forward, random: &random)
            }
            if observed { emitReceived(rule: priority, targetGroup: name) }
            access?.actionsExecuted = ["forward"]
            access?.targetGroupARN = listener.targetGroups[name]?.targetGroup.arn
            guard let target = listener.targetGroups[name], target.targetGroup.functionName != nil else {
                // No registered target.
                errorReason = nil
                writeErrorPage(context: context, status: 503, close: false)
                return
            }
            if !listener.deniedTargetGroups.isEmpty, listener.deniedTargetGroups.contains(name) {
                // The function's resource policy does not let the load balancer invoke it (alb-lambda.md §3).
                errorReason = "LambdaAccessDenied"
                writeErrorPage(context: context, status: 502, close: false)
                return
            }
            forwardRequest(context: context, albHead: albHead, target: target, peer: peer)
        }
    }

    private func forwardRequest(
        context: ChannelHandlerContext, albHead: ALBRequestHead, target: ListenerContext.ResolvedTargetGroup,
        peer: SocketAddress?
    ) {
        let connection = ALBConnectionInfo(
            clientAddress: peer?.ipAddress ?? "127.0.0.1", clientPort: peer?.port ?? 0, listenerPort: listener.port,
            isHTTPS: listener.configuration.protocol == .https, tlsProtocol: tls?.protocolVersion,
            tlsCipherSuite: tls?.cipherSuite)
        var event = context.channel.allocator.buffer(capacity: 1024 + (body?.readableBytes ?? 0) * 4 / 3)
        let traceHeader: String
        do {
            traceHeader = try ALBEventEncoder.encode(
                head: albHead, body: body, connection: connection, options: target.eventOptions,
                now: now(), random: &random, into: &event)
        } catch {
            errorReason = error.reason == "-" ? nil : error.reason
            writeErrorPage(context: context, status: error.status, close: false)
            return
        }
        body = nil
        access?.traceID = traceHeader
        if !requestID.isEmpty { traceID = traceHeader }
        let group = target.targetGroup
        let request = InvokeRequest(
            functionName: group.functionName ?? "", qualifier: group.qualifier, payload: event,
            traceHeader: traceHeader, headers: albHead.headers, clientAddress: connection.clientAddress,
            requestID: requestID.isEmpty ? nil : requestID)
        let versionHeader = listener.attributes.executedVersionHeader
        let multiValue = group.multiValueHeaders
        let order = listener.multiValueOrder
        access?.dispatchedAt = .now()
        invoker.invoke(request, on: context.eventLoop).assumeIsolated().whenComplete { result in
            self.access?.targetRespondedAt = .now()
            switch result {
            case .success(let outcome):
                self.invoked = true
                guard outcome.functionError == nil else {
                    // LambdaUnhandled: function error, crash, timeout.
                    self.errorReason = outcome.albErrorReason
                    self.writeErrorPage(context: context, status: 502, close: false)
                    return
                }
                do {
                    var response = try ALBResultDecoder.decode(
                        outcome.payload, multiValueHeaders: multiValue, order: order, random: &self.random,
                        allocator: context.channel.allocator)
                    if let versionHeader { response.headers.append((versionHeader, outcome.executedVersion)) }
                    self.access?.targetStatusCode = response.status
                    self.write(context: context, response: response)
                } catch let rejection as ALBRejection {
                    // LambdaInvalidResponse, LambdaResponseTooLarge.
                    self.errorReason = rejection.reason
                    self.writeErrorPage(context: context, status: rejection.status, close: false)
                } catch {
                    self.errorReason = "LambdaInvalidResponse"
                    self.writeErrorPage(context: context, status: 502, close: false)
                }
            case .failure(let error):
                self.invoked = (error as? InvocationError)?.attemptedInvoke ?? true
                // Throttling (LambdaThrottling), unknown function (LambdaResourceNotFound), service errors.
                self.errorReason = (error as? InvocationError)?.albErrorReason ?? "LambdaServiceException"
                self.writeErrorPage(context: context, status: 502, close: false)
            }
        }
    }

    /// `HTTP:8080`: the listener as events name it.
    private var listenerName: String { listener.name }

    /// Notes where the rules sent the request (for `responseWritten`) and emits `received` when it is wanted.
    private func emitReceived(rule: Int?, targetGroup: String?) {
        let routing = InvocationEvent.ResponseWritten.Routing(
            rule: rule.map(String.init) ?? "default", targetGroup: targetGroup, at: .now())
        self.routing = routing
        guard events.wants(.received) else { return }
        events.emit(
            InvocationEvent(
                at: routing.at, requestID: requestID,
                detail: .received(
                    .init(listener: listenerName, rule: routing.rule, targetGroup: targetGroup))))
    }

    // MARK: writing

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError || error is ByteToMessageDecoderError else {
            context.fireErrorCaught(error)
            return
        }
        if !waiting.isEmpty {
            waiting.append(.error(error))
            return
        }
        if case .responding = state {
            // After a complete request: answered once that request is (a 400 now would land inside its answer).
            waiting.append(.error(error))
            return
        }
        answer(error, context: context)
    }

    /// Answers a parser error.
    private func answer(_ error: any Error, context: ChannelHandlerContext) {
        // A request NIO's parser refused (bad method, malformed header, invalid chunk, obs-fold, ...): the ALB's
        // 400 page, then close; the decoder cannot go on after an error. What comes after it only repeats it.
        guard !protocolErrorAnswered else { return }
        protocolErrorAnswered = true
        switch state {
        case .idle, .receiving:
            guard lingerTimer == nil else { return }
            state = .idle
            body = nil
            requestID = ""
            access = nil
            errorReason = nil
            isHead = false
            writeErrorPage(context: context, status: 400, close: true)
        case .discarding:
            // Answered already (413 and friends), and the body that was to be drained is malformed.
            closeLingering(context: context)
        case .responding:
            // Parser errors wait for the answer under way (``errorCaught(context:error:)``); should one come
            // now, that answer is the last.
            keepAlive = false
        }
    }

    private func writeErrorPage(context: ChannelHandlerContext, status: Int, close: Bool) {
        if close { keepAlive = false }
        write(context: context, response: ALBErrorPage.response(status: status, allocator: context.channel.allocator))
    }

    private func write(context: ChannelHandlerContext, response: ALBResponse) {
        guard context.channel.isActive else {
            stickinessCookies = []
            endRequest()
            return
        }
        var response = response
        if !stickinessCookies.isEmpty {
            response.headers += stickinessCookies
            stickinessCookies = []
        }
        // 204 and 304 have no body (nor `Content-Length`): one a function gave them is not sent, or the client
        // would read it as the start of the next response.
        let hasBody = !response.forbidsBody
        let date = dateCache.current()
        let bodyBytes = isHead || !hasBody ? 0 : response.body.readableBytes
        // Small bodies go out in the head's buffer: one write, one flush.
        let inline = bodyBytes <= Self.inlineBodyLimit
        var bytes = context.channel.allocator.buffer(
            capacity: response.maximumHeadLength(dateLength: date.utf8.count) + (inline ? bodyBytes : 0))
        response.writeHead(into: &bytes, date: date, keepAlive: keepAlive)
        let headBytes = bytes.readableBytes
        if inline && bodyBytes > 0 {
            var body = response.body
            bytes.writeBuffer(&body)
        }
        let keepAlive = self.keepAlive
        if case .responding = state { state = .idle }
        if !requestID.isEmpty, events.wants(.responseWritten) {
            if access != nil { access!.sentBytes = headBytes + bodyBytes }
            events.emit(
                InvocationEvent(
                    requestID: requestID,
                    detail: .responseWritten(
                        .init(
                            status: response.status, bytes: bodyBytes, albErrorReason: errorReason,
                            listener: listenerName, request: access, routing: routing, invoked: invoked,
                            traceID: traceID, receivedAt: receivedAt))))
        }
        access = nil
        routing = nil
        invoked = false
        traceID = nil
        receivedAt = nil
        endRequest()
        headDeadline?.responseEnded()
        if !inline {
            context.write(wrapOutboundOut(bytes), promise: nil)
            bytes = response.body
        }
        guard !keepAlive else {
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            drain(context: context)
            return
        }
        // The connection ends with this answer: what was pipelined behind it is not answered.
        closing = true
        waiting.removeAll()
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            if case .discarding = self.state {
                // Answered before the body was read (413 and friends): keep reading and discarding it for a
                // bounded time and size before closing, so that a client that writes its whole body before it
                // reads (Python's http.client, boto3) gets the answer instead of a reset (RFC 9112 §9.6).
                self.linger(context: context)
            } else {
                context.close(promise: nil)
            }
        }
    }

    /// Bodies up to this size are copied into the head's buffer; larger ones are written as they are.
    static let inlineBodyLimit = 4096

    static let continue11 = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")
    static let continue10 = ByteBuffer(string: "HTTP/1.0 100 Continue\r\n\r\n")

    /// How long, and how many more body bytes, a connection answered early is read before it is closed.
    static let lingerTime = TimeAmount.seconds(2)
    static let lingerBytes = 8 * 1024 * 1024

    private func linger(context: ChannelHandlerContext) {
        guard lingerTimer == nil else { return }
        lingeredBytes = 0
        lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) {
            context.close(promise: nil)
        }
    }

    /// While lingering: drop what comes, and close once the request's body is over (or past the bounds).
    private func lingered(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .body(let chunk):
            lingeredBytes += chunk.readableBytes
            if lingeredBytes > Self.lingerBytes { closeLingering(context: context) }
        case .end, .head:
            closeLingering(context: context)
        }
    }

    private func closeLingering(context: ChannelHandlerContext) {
        lingerTimer?.cancel()
        lingerTimer = nil
        context.close(promise: nil)
    }

    // MARK: access-log facts (only when `responseWritten` is wanted)

    private func makeAccess(context: ChannelHandlerContext, head: HTTPRequestHead) -> FrontEndRequest {
        let peer = context.channel.remoteAddress
        let isHTTPS = listener.configuration.protocol == .https
        let scheme = isHTTPS ? "https" : "http"
        let host =
            head.headers.first(name: "host").map { String(ListenerRouter.hostName(fromHostHeader: $0)) }
            ?? (context.channel.localAddress?.ipAddress ?? "localhost")
        let requestLine =
            "\(head.method.rawValue) \(scheme)://\(host):\(listener.port)\(ALBRequestHead.originForm(of: head.uri)) "
            + "HTTP/\(head.version.major).\(head.version.minor)"
        // The head as it came in: request line, `name: value` lines, the blank line.
        var headBytes = head.method.rawValue.utf8.count + head.uri.utf8.count + 12
        for (name, value) in head.headers { headBytes += name.utf8.count + value.utf8.count + 4 }
        headBytes += 2
        if connectionTraceID == nil {
            // Not from `random`: a seeded sequence must not depend on whether anyone reads access logs.
            var system = SystemRandomNumberGenerator()
            connectionTraceID = "TID_" + Self.hex(system.next(), digits: 16) + Self.hex(system.next(), digits: 16)
        }
        return FrontEndRequest(
            scheme: scheme, clientAddress: peer?.ipAddress ?? "-", clientPort: peer?.port ?? 0,
            requestLine: requestLine, userAgent: head.headers.first(name: "user-agent"),
            tlsProtocol: tls?.protocolVersion, tlsCipher: tls?.cipherSuite, serverName: tls?.serverName,
            receivedBytes: headBytes, sentBytes: 0, traceID: nil, targetGroupARN: nil, matchedRulePriority: nil,
            actionsExecuted: [], requestCreationEpochMicroseconds: WallClock.epochMicroseconds(),
            receivedAt: .now(), connectionTraceID: connectionTraceID!)
    }

    /// A body over the limit is refused before the rules run; the log still names the rule and, when the forward
    /// has only one, the target group (no weighted draw is made for a request that is not sent).
    private func noteRouteOfRefusedBody(context: ChannelHandlerContext, head: HTTPRequestHead, albHead: ALBRequestHead)
    {
        let (action, priority) = listener.router.matchingRule(
            requestFacts(head: head, albHead: albHead, peer: context.channel.remoteAddress).facts)
        guard case .forward(let forward) = action else { return }
        access?.matchedRulePriority = priority ?? 0
        access?.actionsExecuted = ["forward"]
        if forward.targetGroups.count == 1 {
            access?.targetGroupARN = listener.targetGroups[forward.targetGroups[0].targetGroupName]?.targetGroup.arn
        }
    }

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    private func beginRequest() {
        if !requestOpen {
            requestOpen = true
            inFlight.begin()
        }
    }

    private func endRequest() {
        if requestOpen {
            requestOpen = false
            inFlight.end()
        }
    }
}

@available(*, unavailable)
extension ALBRequestHandler: Sendable {}
