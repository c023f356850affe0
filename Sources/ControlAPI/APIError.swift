public import LambdaModel

/// An error answer of the control API, exactly as AWS shapes it: the `x-amzn-ErrorType` header, the HTTP status
/// and a JSON body `{"Type":"User","message":"…"}` (`Message` for the types botocore models with a capital M).
///
/// One type for every error the listener sends, so that the wire shape (§1.4 of the reference) exists once.
public struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    public var type: String
    public var status: Int
    public var message: String
    /// `message` or `Message`.
    public var messageKey: String
    /// The body's `Type` member (`User` / `Service`); nil leaves it out (signature errors carry none).
    public var faultType: String?
    /// `Reason`, for TooManyRequestsException.
    public var reason: String?
    /// The `Retry-After` header (botocore's `retryAfterSeconds`), for TooManyRequestsException.
    public var retryAfterSeconds: String?

    public init(type: String, status: Int, message: String, faultType: String? = "User", reason: String? = nil) {
        self.type = type
        self.status = status
        self.message = message
        self.messageKey = Self.capitalisedMessageTypes.contains(type) ? "Message" : "message"
        self.faultType = status >= 500 && faultType != nil ? "Service" : faultType
        self.reason = reason
    }

    /// The types whose modeled shape has `Message` rather than `message` (§1.4).
    static let capitalisedMessageTypes: Set<String> = [
        "ResourceNotFoundException", "ServiceException", "InvalidCodeSignatureException",
        "CodeVerificationFailedException", "CodeSigningConfigNotFoundException", "RequestEntityTooLargeException",
    ]

    public init(_ error: LambdaError) {
        self.init(type: error.type.rawValue, status: error.httpStatus, message: error.message)
    }

    public var description: String { "\(status) \(type): \(message)" }

    /// The JSON body.
    public var body: String {
        var members: [(String, JSONValue)] = []
        if let faultType { members.append(("Type", .string(faultType))) }
        members.append((messageKey, .string(message)))
        if let reason { members.append(("Reason", .string(reason))) }
        return JSONValue.object(members).serialized
    }

    // MARK: common errors

    static func resourceNotFound(_ message: String) -> APIError {
        APIError(type: "ResourceNotFoundException", status: 404, message: message)
    }

    static func invalidParameter(_ message: String) -> APIError {
        APIError(type: "InvalidParameterValueException", status: 400, message: message)
    }

    static func validation(value: String, member: String, constraint: String) -> APIError {
        APIError(
            LambdaError.validation([.init(value: value, member: member, constraint: constraint)]))
    }

    static func service(_ message: String) -> APIError {
        APIError(type: "ServiceException", status: 500, message: message)
    }

    /// A path and method that is no operation of the API (or not one this version implements).
    static func unknownOperation(method: String, path: String) -> APIError {
        APIError(
            type: "UnknownOperationException", status: 404,
            message: "Albatross does not implement \(method) \(path) (see docs/control-api.md)")
    }

    static func tooLarge(limit: Int, operation: String) -> APIError {
        var error = APIError(
            type: "RequestEntityTooLargeException", status: 413,
            message: "Request must be smaller than \(limit) bytes for the \(operation) operation")
        error.faultType = nil
        return error
    }
}
