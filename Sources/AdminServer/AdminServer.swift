import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix
public import Observability

/// The admin listener: `GET /metrics` (Prometheus text format) and `GET /status` (JSON) on its own address,
/// loopback by default and never one of the ALB listeners, so that monitoring neither shares limits nor routing
/// with the traffic it observes. What it serves is a table of ``Page``s (`GET` of a fixed path), a table of
/// ``Route``s (any method on a path prefix, with the request body: `/rollouts`) and a table of ``EventStream``s
/// (Server-Sent Events, `/dashboard/events`: those connections stay open, outside the one-request rule below).
///
/// A plain start/stop object (the application wraps it in its service). One request per connection (answered with
/// `Connection: close`); a connection may send at most ``Limits/maximumRequestBytes``, must complete its request
/// within ``Limits/requestTimeout`` and is closed after ``Limits/idleTimeout`` without traffic. The exposition is
/// rendered on a thread pool of its own (it reads `/proc`), never on an event loop, so a slow or stuck scraper
/// costs only its own connection.
public final class AdminServer: Sendable {
    /// One path's answer to `GET`: its `Content-Type` and the body, rendered on the admin thread pool.
    public struct Page: Sendable {
        public var contentType: String
        public var render: @Sendable () -> String

        public init(contentType: String, render: @escaping @Sendable () -> String) {
            self.contentType = contentType
            self.render = render
        }

        /// `/metrics`: the Prometheus exposition of `metrics`.
        public static func metrics(_ metrics: InvocationMetrics) -> Page {
            Page(contentType: InvocationMetrics.contentType) { metrics.exposition() }
        }
    }

    /// A request as a ``Route`` sees it.
    public struct Request: Sendable {
        public var method: String
        /// Without the query.
        public var path: String
        public var body: String
    }

    /// A route's answer.
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: String

        public init(status: Int, contentType: String = "application/json", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    /// Every request whose path is the route's prefix or below it (`/rollouts`, `/rollouts/d-X/stop`), any
    /// method; answered by an async function off the event loop.
    public struct Route: Sendable {
        public var handle: @Sendable (Request) async -> Response

        public init(handle: @escaping @Sendable (Request) async -> Response) {
            self.handle = handle
        }
    }

    /// Bounds that keep a misbehaving client from holding resources.
    public struct Limits: Sendable {
        /// Bytes a connection may send (request line, headers and any body) before it is closed.
        public var maximumRequestBytes: Int
        /// Time from accepting a connection to a complete request.
        public var requestTimeout: TimeAmount
        /// Time without reads or writes after which a connection is closed.
        public var idleTimeout: TimeAmount

        public init(
            maximumRequestBytes: Int = 16 * 1024, requestTimeout: TimeAmount = .seconds(30),
            idleTimeout: TimeAmount = .seconds(10)
        ) {
            self.maximumRequestBytes = maximumRequestBytes
            self.requestTimeout = requestTimeout
            self.idleTimeout = idleTimeout
        }
    }

    private let host: String
    private let requestedPort: Int
    private let pages: [String: Page]
    private let routes: [String: Route]
    private let streams: [String: EventStream]
    private let group: any EventLoopGroup
    private let limits: Limits
    private let threadPool: NIOThreadPool
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    /// - Parameters:
    ///   - port: 0 asks the OS for a free port; ``port`` tells which once started.
    ///   - group: the loops connections run on (the application's).
    ///   - pages: what each path answers (`"/metrics"`, `"/status"`).
    ///   - routes: what answers each path prefix (`"/rollouts"`).
    ///   - streams: Server-Sent Events feeds by path (`"/dashboard/events"`); their connections stay open.
    public init(
        host: String = "127.0.0.1", port: Int, pages: [String: Page], routes: [String: Route] = [:],
        streams: [String: EventStream] = [:], group: any EventLoopGroup, limits: Limits = Limits()
    ) {
        self.host = host
        self.requestedPort = port
        self.pages = pages
        self.routes = routes
        self.streams = streams
        self.group = group
        self.limits = limits
        self.threadPool = NIOThreadPool(numberOfThreads: 1)
    }

    /// The bound port once started.
    public var port: Int? { channel.withLockedValue { $0?.localAddress?.port } }

    /// Binds and starts accepting; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        threadPool.start()
        let pages = self.pages
        let routes = self.routes
        let streams = self.streams
        let limits = self.limits
        let threadPool = self.threadPool
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(RequestBudget(limit: limits.maximumRequestBytes))
                    try sync.addHandler(IdleStateHandler(allTimeout: limits.idleTimeout))
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try sync.addHandler(
                        AdminHandler(
                            pages: pages, routes: routes, streams: streams, threadPool: threadPool,
                            requestTimeout: limits.requestTimeout)
                    )
                }
            }
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        do {
            let bound = try await bootstrap.bind(host: host, port: requestedPort).get()
            channel.withLockedValue { $0 = bound }
            return bound.localAddress?.port ?? 0
        } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }

    /// Stops accepting and closes the listening socket; open scrapes finish or time out on their own.
    public func stop() async {
        let bound = channel.withLockedValue { channel -> (any Channel)? in
            defer { channel = nil }
            return channel
        }
        try? await bound?.close()
        try? await threadPool.shutdownGracefully()
    }
}

/// Closes a connection that sends more than its budget: the request of an admin connection is one small GET.
final class RequestBudget: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var left: Int

    init(limit: Int) { left = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data).readableBytes
        left -= bytes
        guard left >= 0 else {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}

/// Answers one request: `GET` of a page, a route's answer, 404 for other paths, 405 for other methods on a page.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let pages: [String: AdminServer.Page]
    private let routes: [String: AdminServer.Route]
    private let streams: [String: EventStream]
    private let threadPool: NIOThreadPool
    private let requestTimeout: TimeAmount
    private var head: HTTPRequestHead?
    private var body = ""
    private var answered = false
    private var deadline: Scheduled<Void>?

    init(
        pages: [String: AdminServer.Page], routes: [String: AdminServer.Route], streams: [String: EventStream],
        threadPool: NIOThreadPool, requestTimeout: TimeAmount
    ) {
        self.pages = pages
        self.routes = routes
        self.streams = streams
        self.threadPool = threadPool
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: requestTimeout) {
            loopBound.value.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
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
        case .body(let part):
            body += String(buffer: part)
        case .end:
            guard let head, !answered else { return }
            answered = true
            deadline?.cancel()
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        if let stream = streams[String(path)], head.method == .GET {
            openStream(stream, context: context)
            return
        }
        if pages[String(path)] == nil,
            let route = routes.first(where: { path == $0.key || path.hasPrefix($0.key + "/") })?.value
        {
            let request = AdminServer.Request(method: head.method.rawValue, path: String(path), body: body)
            let promise = context.eventLoop.makePromise(of: AdminServer.Response.self)
            promise.completeWithTask { await route.handle(request) }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let (handler, context) = loopBound.value
                handler.write(
                    context: context, status: HTTPResponseStatus(statusCode: response.status),
                    contentType: response.contentType, body: response.body)
            }
            return
        }
        guard let page = pages[String(path)] else {
            write(context: context, status: .notFound, contentType: "text/plain; charset=utf-8", body: "not found\n")
            return
        }
        guard head.method == .GET else {
            write(
                context: context, status: .methodNotAllowed, contentType: "text/plain; charset=utf-8",
                body: "method not allowed\n", extraHeaders: [("Allow", "GET")])
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        threadPool.runIfActive(eventLoop: context.eventLoop) { page.render() }.whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success(let text):
                handler.write(context: context, status: .ok, contentType: page.contentType, body: text)
            case .failure:
                handler.write(
                    context: context, status: .serviceUnavailable, contentType: "text/plain; charset=utf-8",
                    body: "shutting down\n")
            }
        }
    }

    /// The head of a `text/event-stream` answer; the stream writes the events. A full stream answers 503.
    private func openStream(_ stream: EventStream, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        context.writeAndFlush(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        if !stream.attach(context.channel) {
            // Too many clients: end the (empty) stream at once.
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    private func write(
        context: ChannelHandlerContext, status: HTTPResponseStatus, contentType: String, body: String,
        extraHeaders: [(String, String)] = []
    ) {
        guard context.channel.isActive else { return }
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        headers.add(name: "Connection", value: "close")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
