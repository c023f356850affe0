public import NIOCore

/// What one invoke asks of an execution environment (the Runtime API's view of it).
public struct InvocationRequest: Sendable {
    /// `Lambda-Runtime-Aws-Request-Id`: a v4 UUID.
    public var requestID: String
    /// The event bytes handed to the runtime unchanged.
    public var payload: ByteBuffer
    /// `Lambda-Runtime-Invoked-Function-Arn`: the ARN the caller used (function, version or alias).
    public var invokedFunctionARN: String
    /// `Lambda-Runtime-Trace-Id`: `Root=…;Parent=…;Sampled=…`.
    public var traceHeader: String
    /// `Lambda-Runtime-Client-Context`: raw JSON, when the caller gave one.
    public var clientContext: String?
    /// Whether the caller wants to read the REPORT line once the invoke completes (the CLI's `--log`): the
    /// outcome is then completed only after the invoke's finished event has been handed to the event bus, so
    /// that a flush of the bus makes the log writer's REPORT line available.
    public var wantsReport: Bool
    /// When the invoke entered the platform (monotonic), for the queueing phase of the events.
    public var receivedAt: NIODeadline
    /// The qualifier as invoked (an alias or a version; nil: unqualified), which the invoke's events carry so that
    /// their subscribers label them by resource without waiting for ``InvocationEvent/Resolved``.
    public var qualifier: String?

    public init(
        requestID: String, payload: ByteBuffer, invokedFunctionARN: String, traceHeader: String,
        clientContext: String? = nil, wantsReport: Bool = false, receivedAt: NIODeadline = .now(),
        qualifier: String? = nil
    ) {
        self.qualifier = qualifier
        self.requestID = requestID
        self.payload = payload
        self.invokedFunctionARN = invokedFunctionARN
        self.traceHeader = traceHeader
        self.clientContext = clientContext
        self.wantsReport = wantsReport
        self.receivedAt = receivedAt
    }
}

/// The result of an invoke that reached an execution environment.
///
/// Function errors are outcomes, not thrown errors: AWS answers them with 200 and `X-Amz-Function-Error`.
public struct InvocationOutcome: Sendable {
    public var requestID: String
    /// The function's result, or the error document for a function error.
    public var payload: ByteBuffer
    /// The Content-Type the runtime posted with its response, if any.
    public var contentType: String?
    /// `Unhandled` when the invoke failed (runtime-reported error, crash, timeout, init failure); nil on success.
    public var functionError: String?
    /// The error type: the posted `Lambda-Runtime-Function-Error-Type` or the payload's `errorType`, or one the
    /// platform produced (`Runtime.ExitError`, `Sandbox.Timedout`, …).
    public var errorType: String?
    /// `$LATEST` or a version number.
    public var executedVersion: String
    public var durationMs: Double
    /// Set when this invoke started the environment (a cold start).
    public var initDurationMs: Double?
    /// The environment's log stream, which identifies the environment.
    public var logStreamName: String
    /// The REPORT line, filled in by callers that asked for it (``InvocationRequest/wantsReport``) from the log
    /// writer; nil otherwise.
    public var reportLine: String?
    /// The invoke's log text (from its START line to its REPORT line, at most the last 4 KB), filled in with
    /// ``reportLine`` for callers that asked for it (the control API's `LogType: Tail`); nil otherwise.
    public var logTail: [UInt8]?

    public init(
        requestID: String, payload: ByteBuffer, contentType: String?, functionError: String?, errorType: String?,
        executedVersion: String, durationMs: Double, initDurationMs: Double?, logStreamName: String
    ) {
        self.requestID = requestID
        self.payload = payload
        self.contentType = contentType
        self.functionError = functionError
        self.errorType = errorType
        self.executedVersion = executedVersion
        self.durationMs = durationMs
        self.initDurationMs = initDurationMs
        self.logStreamName = logStreamName
    }

    public var isColdStart: Bool { initDurationMs != nil }

    /// The ALB's access-log reason for this outcome when it is not a success (alb-lambda.md §3): function
    /// errors, crashes and timeouts are all `LambdaUnhandled`.
    public var albErrorReason: String? { functionError == nil ? nil : "LambdaUnhandled" }
}
