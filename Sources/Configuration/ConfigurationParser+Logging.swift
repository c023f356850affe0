import LambdaModel

extension ConfigurationParser {
    /// `loggingConfig` keys: AWS's `LoggingConfig` (CloudFormation spelling) plus the group's retention.
    static let loggingKeys = ["LogFormat", "ApplicationLogLevel", "SystemLogLevel", "LogGroup", "RetentionInDays"]

    /// A function's (or version's) `loggingConfig`. As on AWS, the log levels need the JSON format.
    func parseLogging(_ node: ConfigNode) throws(ConfigurationError) -> LoggingConfiguration {
        let mapping = try node.mapping(allowed: Self.loggingKeys)
        var logging = LoggingConfiguration()
        if let value = mapping.optional("LogFormat") {
            logging.logFormat = .init(
                rawValue: try value.choice(LoggingConfiguration.LogFormat.allCases.map(\.rawValue)))!
        }
        if let value = mapping.optional("ApplicationLogLevel") {
            let choices = LoggingConfiguration.ApplicationLogLevel.allCases.map(\.rawValue)
            logging.applicationLogLevel = .init(rawValue: try value.choice(choices))!
            if logging.logFormat != .json {
                throw value.error("ApplicationLogLevel requires LogFormat: JSON (as on AWS)")
            }
        }
        if let value = mapping.optional("SystemLogLevel") {
            let choices = LoggingConfiguration.SystemLogLevel.allCases.map(\.rawValue)
            logging.systemLogLevel = .init(rawValue: try value.choice(choices))!
            if logging.logFormat != .json {
                throw value.error("SystemLogLevel requires LogFormat: JSON (as on AWS)")
            }
        }
        if let value = mapping.optional("LogGroup") {
            let name = try value.nonEmptyString()
            if let problem = LoggingConfiguration.logGroupProblem(name) { throw value.error(problem) }
            logging.logGroup = name
        }
        if let value = mapping.optional("RetentionInDays") {
            logging.retentionInDays = try Self.parseRetention(value)
        }
        return logging
    }

    /// One of CloudWatch's `RetentionInDays` values.
    static func parseRetention(_ node: ConfigNode) throws(ConfigurationError) -> Int {
        let days = try node.int(in: 1...3653)
        guard LoggingConfiguration.retentionValues.contains(days) else {
            throw node.error(
                "RetentionInDays must be one of "
                    + LoggingConfiguration.retentionValues.map(String.init).joined(separator: ", ")
                    + " (CloudWatch Logs' values), got \(days)")
        }
        return days
    }

    /// The top-level `logs:` section: a default retention and a bound on the total size of all log groups.
    func parseLogSettings(_ node: ConfigNode) throws(ConfigurationError) -> LogSettings {
        let mapping = try node.mapping(allowed: ["retentionInDays", "maxTotalSizeMB", "sweepIntervalSeconds"])
        var settings = LogSettings()
        if let value = mapping.optional("retentionInDays") { settings.retentionInDays = try Self.parseRetention(value) }
        if let value = mapping.optional("maxTotalSizeMB") {
            settings.maxTotalSizeBytes = Int64(try value.int(in: 1...10_485_760)) * 1_048_576
        }
        if let value = mapping.optional("sweepIntervalSeconds") {
            settings.sweepIntervalSeconds = try value.int(in: 1...86400)
        }
        return settings
    }
}

/// Platform-wide log settings (`logs:`): what the retention sweeper enforces on every log group.
public struct LogSettings: Sendable, Hashable {
    /// Days kept for groups whose function sets no `RetentionInDays`; nil keeps them.
    public var retentionInDays: Int?
    /// The bound on all stream files together; the oldest streams go first. Default 1 GiB.
    public var maxTotalSizeBytes: Int64 = 1 << 30
    /// How often the sweeper runs (default 300 s).
    public var sweepIntervalSeconds: Int = 300

    public init() {}
}
