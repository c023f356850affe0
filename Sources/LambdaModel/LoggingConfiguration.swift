/// A function's logging settings, AWS's `LoggingConfig` (log format, the two log levels and the log group) plus the
/// group's retention: they decide what the platform writes for the function's environments and where.
///
/// AWS keeps retention on the log group (`PutRetentionPolicy`), not in `LoggingConfig`; since Albatross's log
/// groups exist only as directories, a function's group retention is configured next to the rest of its logging.
public struct LoggingConfiguration: Sendable, Hashable, Codable {
    /// `Text` (the default) or `JSON`.
    public enum LogFormat: String, Sendable, Hashable, Codable, CaseIterable {
        case text = "Text"
        case json = "JSON"
    }

    /// AWS's application log levels, most verbose first.
    public enum ApplicationLogLevel: String, Sendable, Hashable, Codable, CaseIterable {
        case trace = "TRACE", debug = "DEBUG", info = "INFO", warn = "WARN", error = "ERROR", fatal = "FATAL"
    }

    /// AWS's system (platform record) log levels, most verbose first.
    public enum SystemLogLevel: String, Sendable, Hashable, Codable, CaseIterable {
        case debug = "DEBUG", info = "INFO", warn = "WARN"
    }

    public var logFormat: LogFormat
    /// Only with the JSON format (as on AWS); reaches the runtime as `AWS_LAMBDA_LOG_LEVEL`.
    public var applicationLogLevel: ApplicationLogLevel?
    /// Only with the JSON format (as on AWS); filters the platform's own records.
    public var systemLogLevel: SystemLogLevel?
    /// A custom log group name; nil means `/aws/lambda/<function>`.
    public var logGroup: String?
    /// Days the group's streams are kept, one of ``LoggingConfiguration/retentionValues``; nil keeps them (subject to
    /// the global default and the size bound).
    public var retentionInDays: Int?

    public init(
        logFormat: LogFormat = .text, applicationLogLevel: ApplicationLogLevel? = nil,
        systemLogLevel: SystemLogLevel? = nil, logGroup: String? = nil, retentionInDays: Int? = nil
    ) {
        self.logFormat = logFormat
        self.applicationLogLevel = applicationLogLevel
        self.systemLogLevel = systemLogLevel
        self.logGroup = logGroup
        self.retentionInDays = retentionInDays
    }

    /// The values CloudWatch Logs accepts for `RetentionInDays`.
    public static let retentionValues: [Int] = [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
    ]

    /// The group the function's streams go to.
    public func logGroupName(functionName: String) -> String {
        logGroup ?? "/aws/lambda/\(functionName)"
    }

    /// Why `name` cannot be a log group here, or nil: CloudWatch's `[\.\-_/#A-Za-z0-9]+`, 1–512 characters, and,
    /// since a group is a directory under the data directory, no `.` or `..` path component.
    public static func logGroupProblem(_ name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 512 else { return "LogGroup must be 1 to 512 characters" }
        let allowed = name.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122)
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "#")
        }
        guard allowed else {
            return "LogGroup \"\(name)\" may contain only letters, digits and . - _ / #"
        }
        if name.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }) {
            return "LogGroup \"\(name)\" must not contain . or .. path components"
        }
        return nil
    }
}

extension FunctionConfiguration {
    /// The format the platform writes its records in: JSON when `loggingConfig` says so, or when the function's own
    /// environment sets `AWS_LAMBDA_LOG_FORMAT=JSON` (case-insensitive, as the runtime clients read it).
    public var effectiveLogFormat: LoggingConfiguration.LogFormat {
        if logging.logFormat == .json { return .json }
        if let value = environment.last(where: { $0.name == "AWS_LAMBDA_LOG_FORMAT" })?.value,
            value.uppercased() == "JSON"
        {
            return .json
        }
        return .text
    }
}
