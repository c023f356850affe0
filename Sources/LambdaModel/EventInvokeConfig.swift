/// A function's asynchronous-invocation settings (AWS's FunctionEventInvokeConfig, control-api.md §5.26): how
/// often a failed event is retried, how old it may grow, and where its record goes on success or final failure.
///
/// A value of the model so that the YAML, the control API and the queue share one definition of the defaults and
/// the limits.
public struct EventInvokeConfig: Sendable, Hashable {
    /// 0–2; nil means AWS's default of 2.
    public var maximumRetryAttempts: Int?
    /// 60–21,600 seconds; nil means AWS's default of 6 hours.
    public var maximumEventAgeInSeconds: Int?
    /// Destination ARN for a successful event.
    public var onSuccess: String?
    /// Destination ARN for an event that failed for good (retries exhausted, too old).
    public var onFailure: String?

    public static let defaultRetryAttempts = 2
    public static let defaultEventAgeSeconds = 21_600
    public static let retryAttemptsRange = 0...2
    public static let eventAgeRange = 60...21_600

    public init(
        maximumRetryAttempts: Int? = nil, maximumEventAgeInSeconds: Int? = nil, onSuccess: String? = nil,
        onFailure: String? = nil
    ) {
        self.maximumRetryAttempts = maximumRetryAttempts
        self.maximumEventAgeInSeconds = maximumEventAgeInSeconds
        self.onSuccess = onSuccess
        self.onFailure = onFailure
    }

    /// The retries that apply (the default when unset).
    public var effectiveRetryAttempts: Int { maximumRetryAttempts ?? Self.defaultRetryAttempts }
    /// The maximum age that applies, in seconds (the default when unset).
    public var effectiveEventAgeSeconds: Int { maximumEventAgeInSeconds ?? Self.defaultEventAgeSeconds }
    /// Whether anything at all is set (AWS refuses a Put with nothing).
    public var isEmpty: Bool {
        maximumRetryAttempts == nil && maximumEventAgeInSeconds == nil && onSuccess == nil && onFailure == nil
    }
}

/// Where an async record or a dead-letter message goes, parsed from its ARN: another Lambda function, or a service
/// whose messages Albatross writes to a local outbox (`<data>/outbox/<service>/<name>.jsonl`).
public enum DestinationTarget: Sendable, Hashable {
    case function(name: String, qualifier: String?)
    /// `sqs`, `sns`, `events` (EventBridge bus) or `s3` (bucket), with the queue, topic, bus or bucket name.
    case outbox(service: String, name: String)

    /// AWS's `DestinationArn` pattern (the model's, without the newer partitions): syntax only.
    public static func isWellFormed(_ arn: String) -> Bool {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[1].hasPrefix("aws"), !parts[2].isEmpty else { return false }
        guard parts[4].isEmpty || (parts[4].utf8.count == 12 && parts[4].utf8.allSatisfy { $0 >= 48 && $0 <= 57 })
        else { return false }
        return true
    }

    /// The target an ARN names, or nil for a service that cannot be a destination (e.g. `iam`). `forFailure`
    /// allows S3 buckets, which AWS accepts only as on-failure destinations.
    public static func parse(_ arn: String, forFailure: Bool = true) -> DestinationTarget? {
        guard isWellFormed(arn) else { return nil }
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let service = parts[2]
        switch service {
        case "lambda":
            guard parts.count >= 7, parts[5] == "function", !parts[6].isEmpty, parts.count <= 8 else { return nil }
            return .function(name: parts[6], qualifier: parts.count == 8 ? parts[7] : nil)
        case "sqs", "sns":
            guard parts.count == 6, !parts[5].isEmpty, !parts[5].contains("/") else { return nil }
            return .outbox(service: service, name: parts[5])
        case "events":
            let resource = parts[5...].joined(separator: ":")
            guard resource.hasPrefix("event-bus/"), resource.count > "event-bus/".count else { return nil }
            return .outbox(service: service, name: String(resource.dropFirst("event-bus/".count)))
        case "s3":
            guard forFailure, parts.count == 6, !parts[5].isEmpty, !parts[5].contains("/") else { return nil }
            return .outbox(service: service, name: parts[5])
        default:
            return nil
        }
    }
}
