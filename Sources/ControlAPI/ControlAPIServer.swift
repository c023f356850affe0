public import AlbatrossTLS
import InvocationModel
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix

/// The control API listener: HTTP/1.1 (keep-alive, pipelined requests answered in order) over NIOHTTP1, serving
/// ``ControlAPI`` on its own address (default 127.0.0.1:9001), never on an ALB listener.
///
/// Bounds: a request body may be at most its operation's limit (6 MB for Invoke, 64 KB otherwise) and is
/// answered with AWS's 413 beyond it, after the rest has been read and dropped (so the client sees the answer,
/// not a reset) unless it goes on for more than ``Limits/discardBytes``; a request must arrive completely within
/// ``Limits/requestTimeout`` of its first byte; an idle keep-alive connection is closed after
/// ``Limits/idleTimeout``. No timer runs while an operation is being answered (an invoke lasts up to the function's
/// timeout).
public final class ControlAPIServer: Sendable {
    public struct Limits: Sendable {
        public var requestTimeout: TimeAmount
        public var idleTimeout: TimeAmount
        /// Bytes of an over-limit body read and dropped before the connection is closed instead.
        public var discardBytes: Int

        public init(
            requestTimeout: TimeAmount = .seconds(60), idleTimeout: TimeAmount = .seconds(60),
            discardBytes: Int = 16 * 1024 * 1024
        ) {
            self.requestTimeout = requestTimeout
            self.idleTimeout = idleTimeout
            self.discardBytes = discardBytes
        }
    }

    private let host: String
    private let requestedPort: Int
    private let api: ControlAPI
    private let group: any EventLoopGroup
    private let limits: Limits
    /// HTTPS: the certificates and policy, as an HTTPS listener of the load balancer has them; nil is HTTP.
    public let tls: TLSServerContext?
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    /// - Parameter port: 0 asks the OS for a free port; ``port`` tells which once started.
    public init(
        host: String, port: Int, api: ControlAPI, group: any EventLoopGroup, limits: Limits = Limits(),
        tls: TLSServerContext? = nil
    ) {
        self.host = host
        self.requestedPort = port
        self.api = api
        self.group = group
        self.limits = limits
        self.tls = tls
    }

    /// The bound port once started.
    public var port: Int? { channel.withLockedValue { $0?.localAddress?.port } }

    /// Binds and starts accepting; returns the bound port. Once bound, further calls return the port.
    @discardableResult
    public func start() async throws -> Int {
        if let port { return port }
        let api = self.api
        let limits = self.limits
        let tls = self.tls
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(tls.makeHandler()) }
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try sync.addHandler(APIConnectionHandler(api: api, limits: limits))
                }
            }
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        let bound = try await bootstrap.bind(host: host, port: requestedPort).get()
        channel.withLockedValue { $0 = bound }
        return bound.localAddress?.port ?? 0
    }

    /// Stops accepting and closes the listening socket; requests in flight finish on their connections.
    public func stop() async {
        let bound = channel.withLockedValue { channel -> (any Channel)? in
            defer { channel = nil }
            return channel
        }
        try? await bound?.close()
    }
}

/// One connection: gathers each request within its bounds, has ``ControlAPI`` answer it off the event loop and
/// writes the answer.
final class APIConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let api: ControlAPI
    private let limits: ControlAPIServer.Limits
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var limit = 0
    /// Set when the request is answered without running it (unknown path, too large); its body is dropped.
    private var early: APIError?
    private var discarded = 0
    private var timer: Scheduled<Void>?

    init(api: ControlAPI, limits: ControlAPIServer.Limits) {
        self.api = api
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context: context, after: limits.idleTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    private func arm(context: ChannelHandlerContext, after amount: TimeAmount) {
        timer?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: amount) { loopBound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
            discarded = 0
            early = nil
            arm(context: context, after: limits.requestTimeout)
            switch ControlAPI.route(method: requestHead.method.rawValue, target: requestHead.uri) {
            case .success(let match):
                limit = match.operation.maximumBodyBytes
                let declared = requestHead.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
                if declared > limit {
                    early = .tooLarge(limit: limit, operation: match.operation.limitName)
                }
            case .failure(let error):
                limit = 64 * 1024
                early = error
            }
        case .body(let buffer):
            if early != nil {
                discarded += buffer.readableBytes
                if discarded > limits.discardBytes { context.close(promise: nil) }
                return
            }
            body.append(contentsOf: buffer.readableBytesView)
            if body.count > limit, let head,
                case .success(let match) = ControlAPI.route(
                    method: head.method.rawValue, target: head.uri)
            {
                early = .tooLarge(limit: limit, operation: match.operation.limitName)
                discarded = body.count
                body = []
            }
        case .end:
            timer?.cancel()
            timer = nil
            guard let head else { return }
            self.head = nil
            if let early {
                write(context: context, head: head, response: api.errorResponse(early), close: early.status == 413)
                return
            }
            let request = ControlAPI.Request(
                method: head.method.rawValue, target: head.uri,
                headers: head.headers.map { (name: $0.name, value: $0.value) }, body: body,
                clientAddress: context.channel.remoteAddress?.ipAddress ?? "")
            body = []
            let api = self.api
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            Task {
                let response = await api.respond(to: request)
                eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.write(context: context, head: head, response: response, close: false)
                }
            }
        }
    }

    private func write(
        context: ChannelHandlerContext, head: HTTPRequestHead, response: ControlAPI.Response, close: Bool
    ) {
        guard context.channel.isActive else { return }
        let keepAlive = head.isKeepAlive && !close
        var headers = HTTPHeaders()
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        var buffer = context.channel.allocator.buffer(capacity: response.body.count)
        buffer.writeBytes(response.body)
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if buffer.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if keepAlive {
                self.arm(context: context, after: self.limits.idleTimeout)
            } else {
                context.close(promise: nil)
            }
        }
    }
}

extension ControlAPI {
    /// An error answered without running the operation, with its own request id.
    func errorResponse(_ error: APIError) -> Response {
        var generator = SystemRandomNumberGenerator()
        var response = Response.error(error)
        response.headers.append(("x-amzn-RequestId", RequestID.make(using: &generator)))
        return response
    }
}
