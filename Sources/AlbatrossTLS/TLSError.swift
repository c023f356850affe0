/// An error of the TLS module. Users cause most of them (a missing certificate file, a key that does not match,
/// a client speaking something that is not TLS), so each one names the thing at fault; the private enum lets
/// new cases appear without breaking callers, who compare `code` instead.
public struct TLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable category of a `TLSError`, for callers that branch on what went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let fileMissing = Code("fileMissing")
        public static let fileUnreadable = Code("fileUnreadable")
        public static let fileUnwritable = Code("fileUnwritable")
        public static let badPEM = Code("badPEM")
        public static let keyMismatch = Code("keyMismatch")
        public static let unsupportedKey = Code("unsupportedKey")
        public static let unknownPolicy = Code("unknownPolicy")
        public static let invalidConfiguration = Code("invalidConfiguration")
        public static let openSSL = Code("openSSL")
        public static let handshakeFailed = Code("handshakeFailed")
        public static let handshakeTimeout = Code("handshakeTimeout")
        public static let uncleanShutdown = Code("uncleanShutdown")
        public static let protocolError = Code("protocolError")
    }

    private enum Base: Hashable, Sendable {
        case fileMissing(path: String)
        case fileUnreadable(path: String, reason: String)
        case fileUnwritable(path: String, reason: String)
        case badPEM(path: String, expected: String, detail: String)
        case keyMismatch(certificatePath: String, keyPath: String)
        case unsupportedKey(path: String, detail: String)
        case unknownPolicy(name: String)
        case invalidConfiguration(detail: String)
        case openSSL(operation: String, detail: String)
        case handshakeFailed(detail: String)
        case handshakeTimeout(seconds: Double)
        case uncleanShutdown
        case protocolError(detail: String)
    }

    private let base: Base
    private init(_ base: Base) { self.base = base }

    public var code: Code {
        switch base {
        case .fileMissing: .fileMissing
        case .fileUnreadable: .fileUnreadable
        case .fileUnwritable: .fileUnwritable
        case .badPEM: .badPEM
        case .keyMismatch: .keyMismatch
        case .unsupportedKey: .unsupportedKey
        case .unknownPolicy: .unknownPolicy
        case .invalidConfiguration: .invalidConfiguration
        case .openSSL: .openSSL
        case .handshakeFailed: .handshakeFailed
        case .handshakeTimeout: .handshakeTimeout
        case .uncleanShutdown: .uncleanShutdown
        case .protocolError: .protocolError
        }
    }

    /// The file this error is about, when there is one.
    public var path: String? {
        switch base {
        case .fileMissing(let path), .fileUnreadable(let path, _), .fileUnwritable(let path, _),
            .badPEM(let path, _, _), .unsupportedKey(let path, _):
            path
        case .keyMismatch(_, let keyPath): keyPath
        default: nil
        }
    }

    public var description: String {
        switch base {
        case .fileMissing(let path):
            "TLS file not found: \(path)"
        case .fileUnreadable(let path, let reason):
            "cannot read TLS file \(path): \(reason)"
        case .fileUnwritable(let path, let reason):
            "cannot write \(path): \(reason)"
        case .badPEM(let path, let expected, let detail):
            "\(path) does not contain a valid PEM \(expected)" + (detail.isEmpty ? "" : " (\(detail))")
        case .keyMismatch(let certificatePath, let keyPath):
            "the private key in \(keyPath) does not match the certificate in \(certificatePath)"
        case .unsupportedKey(let path, let detail):
            "unsupported private key in \(path): \(detail)"
        case .unknownPolicy(let name):
            "unknown TLS security policy '\(name)'; known policies: "
                + TLSSecurityPolicy.all.map(\.name).joined(separator: ", ")
        case .invalidConfiguration(let detail):
            "invalid TLS configuration: \(detail)"
        case .openSSL(let operation, let detail):
            "OpenSSL \(operation) failed" + (detail.isEmpty ? "" : ": \(detail)")
        case .handshakeFailed(let detail):
            "TLS handshake failed" + (detail.isEmpty ? "" : ": \(detail)")
        case .handshakeTimeout(let seconds):
            "TLS handshake did not complete within \(seconds) s"
        case .uncleanShutdown:
            "the peer closed the connection without sending close_notify (truncated TLS stream)"
        case .protocolError(let detail):
            "TLS protocol error: \(detail)"
        }
    }

    static func fileMissing(_ path: String) -> TLSError { TLSError(.fileMissing(path: path)) }
    static func fileUnreadable(_ path: String, _ reason: String) -> TLSError {
        TLSError(.fileUnreadable(path: path, reason: reason))
    }
    static func fileUnwritable(_ path: String, _ reason: String) -> TLSError {
        TLSError(.fileUnwritable(path: path, reason: reason))
    }
    static func badPEM(_ path: String, expected: String, detail: String) -> TLSError {
        TLSError(.badPEM(path: path, expected: expected, detail: detail))
    }
    static func keyMismatch(certificatePath: String, keyPath: String) -> TLSError {
        TLSError(.keyMismatch(certificatePath: certificatePath, keyPath: keyPath))
    }
    static func unsupportedKey(_ path: String, _ detail: String) -> TLSError {
        TLSError(.unsupportedKey(path: path, detail: detail))
    }
    static func unknownPolicy(_ name: String) -> TLSError { TLSError(.unknownPolicy(name: name)) }
    static func invalidConfiguration(_ detail: String) -> TLSError { TLSError(.invalidConfiguration(detail: detail)) }
    static func openSSL(_ operation: String, _ detail: String) -> TLSError {
        TLSError(.openSSL(operation: operation, detail: detail))
    }
    static func handshakeFailed(_ detail: String) -> TLSError { TLSError(.handshakeFailed(detail: detail)) }
    static func handshakeTimeout(seconds: Double) -> TLSError { TLSError(.handshakeTimeout(seconds: seconds)) }
    static let uncleanShutdown = TLSError(.uncleanShutdown)
    static func protocolError(_ detail: String) -> TLSError { TLSError(.protocolError(detail: detail)) }
}
