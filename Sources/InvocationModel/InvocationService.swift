public import NIOCore

/// What a caller asks the platform to invoke: the function, its qualifier and the event, plus what sticky
/// alias routing needs.
public struct InvokeRequest: Sendable {
    public var functionName: String
    /// nil or `$LATEST`, a version number, or an alias name.
    public var qualifier: String?
    public var payload: ByteBuffer
    /// An incoming `X-Amzn-Trace-Id` (the ALB's, or the caller's); its Root is kept.
    public var traceHeader: String?
    public var clientContext: String?
    /// See ``InvocationRequest/wantsReport``.
    public var wantsReport: Bool
    /// Request headers and peer address, for aliases with sticky assignment.
    public var headers: [(name: String, value: String)]
    public var clientAddress: String
    /// A request id the caller already chose (the front end does, to correlate its own events); nil: the invoker
    /// makes one.
    public var requestID: String?
    /// When the request entered the platform (monotonic).
    public var receivedAt: NIODeadline

    public init(
        functionName: String, qualifier: String? = nil, payload: ByteBuffer, traceHeader: String? = nil,
        clientContext: String? = nil, wantsReport: Bool = false, headers: [(name: String, value: String)] = [],
        clientAddress: String = "", requestID: String? = nil, receivedAt: NIODeadline = .now()
    ) {
        self.functionName = functionName
        self.qualifier = qualifier
        self.payload = payload
        self.traceHeader = traceHeader
        self.clientContext = clientContext
        self.wantsReport = wantsReport
        self.headers = headers
        self.clientAddress = clientAddress
        self.requestID = requestID
        self.receivedAt = receivedAt
    }
}

/// The one way into execution environments, as its callers see it (the ALB front end, the CLI, later the Lambda
/// API and `bench`). A protocol so that handlers can be tested with `EmbeddedChannel` and a fake.
public protocol InvocationService: Sendable {
    /// Invokes synchronously (RequestResponse). Function errors are outcomes; the future fails only with
    /// ``InvocationError``. Completes on `eventLoop`.
    func invoke(_ request: InvokeRequest, on eventLoop: any EventLoop) -> EventLoopFuture<InvocationOutcome>
}
