/// Why an invoke never reached a function's code (or was refused by the platform around it).
///
/// A struct over a private enum, so that new causes can be added without breaking callers. It carries what a
/// caller needs to act: the phase in which it failed, whether retrying is safe (nothing of the function ran),
/// the status and error type AWS's Invoke answers with, and the ALB's error reason (alb-lambda.md §3).
public struct InvocationError: Error, Sendable, CustomStringConvertible {
    /// The cause, comparable with `==` (`error.kind == .throttled`).
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: Sendable, Hashable {
            case throttled
            case resourceNotFound
            case requestTooLarge
            case serviceError
        }
        fileprivate let base: Base

        /// All environments busy and the concurrency limit reached (`TooManyRequestsException`, 429).
        public static let throttled = Kind(base: .throttled)
        /// No such function or qualifier (`ResourceNotFoundException`, 404).
        public static let resourceNotFound = Kind(base: .resourceNotFound)
        /// The payload is over the synchronous invoke limit (`RequestTooLargeException`, 413).
        public static let requestTooLarge = Kind(base: .requestTooLarge)
        /// The platform is shutting down or could not run the environment (`ServiceException`, 500).
        public static let serviceError = Kind(base: .serviceError)

        public var description: String {
            switch base {
            case .throttled: return "throttled"
            case .resourceNotFound: return "resourceNotFound"
            case .requestTooLarge: return "requestTooLarge"
            case .serviceError: return "serviceError"
            }
        }
    }

    /// Where in an invoke's life the failure happened.
    public enum Phase: String, Sendable, Hashable {
        /// Before any environment was chosen: validation, resolution, placement (throttling).
        case placement
        /// While an environment was being initialised for this invoke.
        case initialization = "init"
        /// While the invoke ran.
        case invoke
        /// The platform was shutting down.
        case shutdown
    }

    public let kind: Kind
    public let phase: Phase
    public let message: String
    /// Which limit refused a throttled invoke: the `Reason` of AWS's `TooManyRequestsException`
    /// (`ReservedFunctionConcurrentInvocationLimitExceeded`, `ConcurrentInvocationLimitExceeded`, …); nil otherwise.
    public let reason: String?

    public init(_ kind: Kind, _ message: String, phase: Phase? = nil, reason: String? = nil) {
        self.kind = kind
        self.message = message
        self.reason = reason
        switch kind.base {
        case .throttled, .resourceNotFound, .requestTooLarge: self.phase = phase ?? .placement
        case .serviceError: self.phase = phase ?? .shutdown
        }
    }

    /// Whether the same request may be sent again as it is: true when nothing of the function ran and a later
    /// attempt can succeed (throttling, shutdown); false when the request itself is at fault.
    public var isRetrySafe: Bool {
        switch kind.base {
        case .throttled, .serviceError: return phase != .invoke
        case .resourceNotFound, .requestTooLarge: return false
        }
    }

    /// The HTTP status AWS's Invoke would answer with.
    public var awsStatus: Int {
        switch kind.base {
        case .throttled: return 429
        case .resourceNotFound: return 404
        case .requestTooLarge: return 413
        case .serviceError: return 500
        }
    }

    public var awsErrorType: String {
        switch kind.base {
        case .throttled: return "TooManyRequestsException"
        case .resourceNotFound: return "ResourceNotFoundException"
        case .requestTooLarge: return "RequestTooLargeException"
        case .serviceError: return "ServiceException"
        }
    }

    /// The ALB's `error_reason` when this error answers a listener request (alb-lambda.md §3); the ALB answers
    /// each of them with 502.
    public var albErrorReason: String {
        switch kind.base {
        case .throttled: return "LambdaThrottling"
        case .resourceNotFound: return "LambdaResourceNotFound"
        case .requestTooLarge: return "LambdaRequestTooLarge"
        case .serviceError: return "LambdaServiceException"
        }
    }

    /// Whether an invoke was attempted before it failed: the invoker had resolved the function to a version
    /// (throttling, a platform failure while placing or running it). False for an unknown function or qualifier,
    /// a payload over the limit and a shutdown, which are refused before a version is resolved (the rare shutdown
    /// or vanished version that races with placing an already resolved invoke counts among these too). The ALB's
    /// `RequestCount` and `TargetResponseTime` count the requests for which it is true.
    public var attemptedInvoke: Bool {
        switch kind.base {
        case .throttled: return true
        case .resourceNotFound, .requestTooLarge: return false
        case .serviceError: return phase != .shutdown
        }
    }

    public var description: String { "\(awsErrorType): \(message)" }
}
