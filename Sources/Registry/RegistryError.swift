public import LambdaModel

/// Why a registry operation failed: either what AWS would answer the caller (error type, HTTP status and AWS's
/// message), or a fault of the store itself (unreadable database, tampered code blob, unsafe key file), reported as
/// a 500 `ServiceException` with a message naming the file at fault.
public struct RegistryError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Kind: Hashable, Sendable {
        case request(LambdaError.ErrorType)
        case store
    }

    private let kind: Kind
    /// The message: AWS's exact text where the reference gives one.
    public let message: String

    /// What AWS would answer the caller (also for layers above the store that check requests themselves).
    public init(_ error: LambdaError) {
        kind = .request(error.type)
        message = error.message
    }

    public init(_ type: LambdaError.ErrorType, _ message: String) {
        kind = .request(type)
        self.message = message
    }

    /// A fault of the store rather than of the request.
    static func store(_ message: String) -> RegistryError { RegistryError(kind: .store, message: message) }

    private init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// AWS's error type, e.g. `ResourceNotFoundException`; `ServiceException` for store faults.
    public var errorType: String {
        switch kind {
        case .request(let type): return type.rawValue
        case .store: return LambdaError.ErrorType.service.rawValue
        }
    }

    /// The HTTP status AWS answers with.
    public var httpStatus: Int {
        switch kind {
        case .request(let type): return type.httpStatus
        case .store: return 500
        }
    }

    /// True when the caller's request was at fault (4xx), false for a fault of the store.
    public var isClientError: Bool { httpStatus < 500 }

    /// As a ``LambdaError``, for code that answers on the wire.
    public var lambdaError: LambdaError {
        switch kind {
        case .request(let type): return LambdaError(type, message)
        case .store: return LambdaError(.service, message)
        }
    }

    public var description: String { "\(errorType): \(message)" }
}
