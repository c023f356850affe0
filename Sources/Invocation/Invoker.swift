public import Environments
public import LambdaModel
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix
public import Observability

/// Settings the invoker applies to every function.
public struct InvokerSettings: Sendable {
    public var account: AccountContext
    /// Idle environments are shut down after this long.
    public var idleTimeout: TimeAmount
    /// The interpreter for Python runtimes when a function names none.
    public var defaultPythonInterpreter: String

    public init(
        account: AccountContext = AccountContext(), idleTimeout: TimeAmount = .minutes(10),
        defaultPythonInterpreter: String = "python3"
    ) {
        self.account = account
        self.idleTimeout = idleTimeout
        self.defaultPythonInterpreter = defaultPythonInterpreter
    }
}

/// The one way into execution environments: qualifier → version → environment pool → outcome.
///
/// The ALB front end, the CLI (`albatross invoke`) and later the Lambda API all call ``invoke(_:on:)``.
public final class Invoker: Sendable {
    /// The synchronous invoke payload limit (6 MiB).
    public static let maximumPayloadSize = 6 * 1024 * 1024

    public let settings: InvokerSettings
    private let pools: [String: EnvironmentPool]
    private let shutDown = NIOLockedValueBox(false)

    /// - Parameter taskRoots: the prepared task root of each function (see ``CodePreparer``).
    public init(
        functions: [FunctionConfiguration], taskRoots: [String: String], settings: InvokerSettings,
        group: any EventLoopGroup, threadPool: NIOThreadPool, logSink: LogSink
    ) {
        self.settings = settings
        var pools: [String: EnvironmentPool] = [:]
        for function in functions {
            let spec = EnvironmentSpec(
                function: function, version: "$LATEST", account: settings.account,
                taskRoot: taskRoots[function.name] ?? "/nonexistent",
                defaultPythonInterpreter: settings.defaultPythonInterpreter, logSink: logSink, threadPool: threadPool)
            pools[function.name] = EnvironmentPool(spec: spec, group: group, idleTimeout: settings.idleTimeout)
        }
        self.pools = pools
    }

    /// What to invoke and how.
    public struct Request: Sendable {
        public var functionName: String
        /// nil or `$LATEST`; versions and aliases resolve once published versions exist.
        public var qualifier: String?
        public var payload: ByteBuffer
        /// An incoming `X-Amzn-Trace-Id` (the ALB's, or the caller's); its Root is kept.
        public var traceHeader: String?
        public var clientContext: String?
        public var wantsReport: Bool

        public init(
            functionName: String, qualifier: String? = nil, payload: ByteBuffer, traceHeader: String? = nil,
            clientContext: String? = nil, wantsReport: Bool = false
        ) {
            self.functionName = functionName
            self.qualifier = qualifier
            self.payload = payload
            self.traceHeader = traceHeader
            self.clientContext = clientContext
            self.wantsReport = wantsReport
        }
    }

    /// Invokes synchronously (RequestResponse). Function errors are outcomes; the future fails only with
    /// ``InvocationError``. Completes on `eventLoop`.
    public func invoke(_ request: Request, on eventLoop: any EventLoop) -> EventLoopFuture<InvocationOutcome> {
        guard let pool = pools[request.functionName] else {
            return eventLoop.makeFailedFuture(
                InvocationError(
                    .resourceNotFound, "Function not found: \(settings.account.functionARN(request.functionName))"))
        }
        if let qualifier = request.qualifier, qualifier != "$LATEST" {
            return eventLoop.makeFailedFuture(
                InvocationError(
                    .resourceNotFound,
                    "Function not found: \(settings.account.functionARN(request.functionName, qualifier: qualifier))"))
        }
        if request.payload.readableBytes > Self.maximumPayloadSize {
            return eventLoop.makeFailedFuture(
                InvocationError(
                    .requestTooLarge,
                    "Request must be smaller than \(Self.maximumPayloadSize) bytes for the InvokeFunction operation"))
        }
        var generator = SystemRandomNumberGenerator()
        let environmentRequest = InvocationRequest(
            requestID: RequestID.make(using: &generator), payload: request.payload,
            invokedFunctionARN: settings.account.functionARN(request.functionName, qualifier: request.qualifier),
            traceHeader: TraceHeader.runtimeHeader(from: request.traceHeader, using: &generator),
            clientContext: request.clientContext, wantsReport: request.wantsReport)
        return pool.invoke(environmentRequest, on: eventLoop)
    }

    /// The pool of a function's `$LATEST`, for inspection.
    public func pool(for functionName: String) -> EnvironmentPool? {
        pools[functionName]
    }

    /// Stops every environment; completes once all runtime processes are reaped.
    public func shutdown(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        shutDown.withLockedValue { $0 = true }
        let futures = pools.values.map { $0.shutdown(on: eventLoop) }
        return EventLoopFuture.andAllComplete(futures, on: eventLoop)
    }
}
