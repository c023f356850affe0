/// An answer the ALB gives itself instead of (or after) invoking the function: the HTTP status the client
/// gets, the access-log `error_reason` (`-` when the ALB logs none), and a message naming what was wrong.
public struct ALBRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    /// Access-log style reason, e.g. `LambdaInvalidResponse`; `-` when ALB records no Lambda reason.
    public var reason: String
    /// What exactly was wrong, for logs and error messages.
    public var message: String

    public init(status: Int, reason: String, message: String) {
        self.status = status
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(status) \(reason): \(message)" }

    /// 502 `LambdaInvalidResponse`: the function's result breaks a rule of the response format.
    public static func invalidResponse(_ message: String) -> ALBRejection {
        ALBRejection(status: 502, reason: "LambdaInvalidResponse", message: message)
    }
}
