public import NIOCore

/// What one invoke asks of an execution environment.
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
    /// Whether the caller wants the REPORT line in the outcome (the CLI's `--log`).
    public var wantsReport: Bool

    public init(
        requestID: String, payload: ByteBuffer, invokedFunctionARN: String, traceHeader: String,
        clientContext: String? = nil, wantsReport: Bool = false
    ) {
        self.requestID = requestID
        self.payload = payload
        self.invokedFunctionARN = invokedFunctionARN
        self.traceHeader = traceHeader
        self.clientContext = clientContext
        self.wantsReport = wantsReport
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
    /// The REPORT line, when the request asked for it.
    public var reportLine: String?

    public var isColdStart: Bool { initDurationMs != nil }
}

/// Why an invoke never reached a function's code.
public struct InvocationError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// All environments busy and the concurrency limit reached (`TooManyRequestsException`, 429).
        case throttled
        /// No such function or qualifier (`ResourceNotFoundException`, 404).
        case resourceNotFound
        /// The payload is over the synchronous invoke limit (`RequestTooLargeException`, 413).
        case requestTooLarge
        /// The platform is shutting down or could not start the environment (`ServiceException`, 500).
        case serviceError
    }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The HTTP status and error type AWS's Invoke would answer with.
    public var awsStatus: Int {
        switch kind {
        case .throttled: return 429
        case .resourceNotFound: return 404
        case .requestTooLarge: return 413
        case .serviceError: return 500
        }
    }

    public var awsErrorType: String {
        switch kind {
        case .throttled: return "TooManyRequestsException"
        case .resourceNotFound: return "ResourceNotFoundException"
        case .requestTooLarge: return "RequestTooLargeException"
        case .serviceError: return "ServiceException"
        }
    }

    public var description: String { "\(awsErrorType): \(message)" }
}
