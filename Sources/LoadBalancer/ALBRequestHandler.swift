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
/// Requests arrive one at a time (`HTTPServerPipelineHandler` holds pipelined ones back until the previous
/// response has ended). The body is collected up to the ALB's 1 MiB limit; a larger one is answered with 413
/// without invoking anything.
final class ALBRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// Collecting the body of `head`.
        case receiving(HTTPRequestHead, ALBRequestHead)
        /// Answered early (413 and friends): the rest of the body is discarded and the connection closes.
        case discarding
        /// Waiting for the function (or writing the answer).
        case responding
    }

    private let listener: ListenerContext
    private let invoker: any InvocationService
    private let events: InvocationEventBus
    private let inFlight: InFlightTracker
    private var state = State.idle
    private var body: ByteBuffer?
    private var keepAlive = true
    private var isHead = false
    private var dateCache = HTTPDateCache()
    /// What the TLS layer below reported once its handshake completed (for `x-amzn-tls-*`).
    private var tls: TLSHandshakeCompleted?
    private var random: any RandomNumberGenerator
    private var requestOpen = false
    /// The id of the request being answered, when front-end events are wanted ("" otherwise).
    private var requestID = ""
    /// The ALB's `error_reason` for the answer being written (alb-lambda.md §3); nil on success.
    private var errorReason: String?
    private let now: @Sendable () -> Int

    /// - Parameters:
    ///   - random: the source of trace ids, request ids, target-group draws and shuffled header orders (a
    ///     seeded one makes tests deterministic).
    ///   - now: wall-clock seconds for the trace id's epoch field.
    init(
        listener: ListenerContext, invoker: any InvocationService, events: InvocationEventBus,
        inFlight: InFlightTracker, random: any RandomNumberGenerator = SystemRandomNumberGenerator(),
        now: @escaping @Sendable () -> Int = { WallClock.epochSeconds() }
    ) {
        self.listener = listener
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
        switch unwrapInboundIn(data) {
        case .head(let head):
            beginRequest()
            // Drawn before anything else, so that answers the ALB gives itself (413, 400, 405, …) have events too.
            requestID = events.wants([.received, .responseWritten]) ? RequestID.make(using: &random) : ""
            errorReason = nil
            keepAlive = head.isKeepAlive
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
                writeErrorPage(context: context, status: rejection.status, close: bodyFollows)
                return
            }
            state = .receiving(head, albHead)
            // An ALB answers `Expect: 100-continue` itself, so clients do not wait before sending the body.
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                context.writeAndFlush(
                    wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case .body(var chunk):
            guard case .receiving = state else { return }
            let size = (body?.readableBytes ?? 0) + chunk.readableBytes
            if size > ALBEventOptions.defaultMaximumRequestBodySize {
                state = .discarding
                body = nil
                errorReason = "LambdaRequestTooLarge"
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

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead, albHead: ALBRequestHead) {
        // The rules see the path the event carries: an absolute-form target loses its scheme and authority.
        let uri = ALBRequestHead.originForm(of: head.uri)
        let queryStart = uri.firstIndex(of: "?")
        let pathPart = queryStart.map { uri[..<$0] } ?? uri
        let rawPath = pathPart.isEmpty ? "/" : String(pathPart)
        let rawQuery = queryStart.map { String(uri[uri.index(after: $0)...]) }
        let host = head.headers.first(name: "host")
        let peer = context.channel.remoteAddress
        let facts = RequestFacts(
            method: albHead.method, rawPath: rawPath, rawQuery: rawQuery, host: host, headers: albHead.headers,
            sourceAddress: peer?.ipAddress ?? "")
        let (action, priority) = listener.router.matchingRule(facts)
        let observed = !requestID.isEmpty
        switch action {
        case .fixedResponse(let fixed):
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
            write(
                context: context,
                response: ALBResponse(
                    status: rendered.status, reasonPhrase: HTTPReasonPhrase.phrase(for: rendered.status),
                    headers: [("Location", rendered.location), ("Content-Type", "text/html")],
                    body: ALBErrorPage.response(status: rendered.status, allocator: context.channel.allocator).body))
        case .forward(let forward):
            let name = ListenerRouter.selectTargetGroup(forward, random: &random)
            if observed { emitReceived(rule: priority, targetGroup: name) }
            guard let target = listener.targetGroups[name], target.targetGroup.functionName != nil else {
                // No registered target.
                errorReason = nil
                writeErrorPage(context: context, status: 503, close: false)
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
        let group = target.targetGroup
        let request = InvokeRequest(
            functionName: group.functionName ?? "", qualifier: group.qualifier, payload: event,
            traceHeader: traceHeader, headers: albHead.headers, clientAddress: connection.clientAddress,
            requestID: requestID.isEmpty ? nil : requestID)
        let versionHeader = listener.attributes.executedVersionHeader
        let multiValue = group.multiValueHeaders
        let order = listener.multiValueOrder
        invoker.invoke(request, on: context.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let outcome):
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
                // Throttling (LambdaThrottling), unknown function (LambdaResourceNotFound), service errors.
                self.errorReason = (error as? InvocationError)?.albErrorReason ?? "LambdaServiceException"
                self.writeErrorPage(context: context, status: 502, close: false)
            }
        }
    }

    /// `HTTP:8080`: the listener as events name it.
    private var listenerName: String { "\(listener.configuration.protocol.rawValue):\(listener.port)" }

    private func emitReceived(rule: Int?, targetGroup: String?) {
        guard events.wants(.received) else { return }
        events.emit(
            InvocationEvent(
                requestID: requestID,
                detail: .received(
                    .init(
                        listener: listenerName,
                        rule: rule.map(String.init) ?? "default", targetGroup: targetGroup))))
    }

    // MARK: writing

    private func writeErrorPage(context: ChannelHandlerContext, status: Int, close: Bool) {
        if close { keepAlive = false }
        write(context: context, response: ALBErrorPage.response(status: status, allocator: context.channel.allocator))
    }

    private func write(context: ChannelHandlerContext, response: ALBResponse) {
        guard context.channel.isActive else {
            endRequest()
            return
        }
        // 204 and 304 have no body (the codec drops their Content-Length): one a function gave them is not sent, or
        // the client would read it as the start of the next response.
        let hasBody = response.status != 204 && response.status != 304
        var headers = HTTPHeaders()
        headers.reserveCapacity(response.headers.count + 4)
        headers.add(name: "Server", value: "awselb/2.0")
        headers.add(name: "Date", value: dateCache.current())
        for header in response.headers { headers.add(name: header.name, value: header.value) }
        headers.add(name: "Content-Length", value: String(response.body.readableBytes))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        // NIO keeps its own phrase for the codes it knows; the function's `statusDescription` or the IANA phrase
        // (`413 Content Too Large`) is what the ALB sends. 204 and 304 keep NIO's status, by which the codec knows
        // that they have no body.
        var status = HTTPResponseStatus(statusCode: response.status)
        if hasBody, status.reasonPhrase != response.reasonPhrase {
            status = .custom(code: UInt(response.status), reasonPhrase: response.reasonPhrase)
        }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !isHead && hasBody && response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        let keepAlive = self.keepAlive
        if case .responding = state { state = .idle }
        if !requestID.isEmpty, events.wants(.responseWritten) {
            events.emit(
                InvocationEvent(
                    requestID: requestID,
                    detail: .responseWritten(
                        .init(
                            status: response.status, bytes: isHead || !hasBody ? 0 : response.body.readableBytes,
                            albErrorReason: errorReason, listener: listenerName))))
        }
        endRequest()
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
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
