/// An error the Lambda API would return to a caller, with AWS's error type, HTTP status and message.
///
/// Pure validation (alias names, routing) throws it so the control API, the CLI and the configuration loader
/// can all report exactly what AWS would, without depending on the store.
public struct LambdaError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The AWS error codes this platform returns (the `x-amzn-ErrorType` header's value).
    public enum ErrorType: String, Sendable, Hashable {
        case resourceNotFound = "ResourceNotFoundException"
        case invalidParameterValue = "InvalidParameterValueException"
        case validation = "ValidationException"
        case resourceConflict = "ResourceConflictException"
        case preconditionFailed = "PreconditionFailedException"
        case service = "ServiceException"

        /// The HTTP status AWS sends with this error type.
        public var httpStatus: Int {
            switch self {
            case .resourceNotFound: return 404
            case .invalidParameterValue, .validation: return 400
            case .resourceConflict: return 409
            case .preconditionFailed: return 412
            case .service: return 500
            }
        }
    }

    public var type: ErrorType
    public var message: String

    public init(_ type: ErrorType, _ message: String) {
        self.type = type
        self.message = message
    }

    public var httpStatus: Int { type.httpStatus }
    public var description: String { "\(type.rawValue): \(message)" }

    /// One failed model constraint: `Value '<value>' at '<member>' failed to satisfy constraint: <constraint>`.
    public struct ConstraintViolation: Hashable, Sendable {
        public var value: String
        public var member: String
        public var constraint: String

        public init(value: String, member: String, constraint: String) {
            self.value = value
            self.member = member
            self.constraint = constraint
        }

        public var text: String { "Value '\(value)' at '\(member)' failed to satisfy constraint: \(constraint)" }
    }

    /// AWS's generic ValidationException: `1 validation error detected: …` or
    /// `N validation errors detected: …; …`.
    public static func validation(_ violations: [ConstraintViolation]) -> LambdaError {
        let count = violations.count
        let head = count == 1 ? "1 validation error detected: " : "\(count) validation errors detected: "
        return LambdaError(.validation, head + violations.map(\.text).joined(separator: "; "))
    }

    /// The 412 AWS returns when a RevisionId precondition on a function or an alias does not hold.
    public static let revisionMismatch = LambdaError(
        .preconditionFailed,
        "The Revision Id provided does not match the latest Revision Id. "
            + "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
}
