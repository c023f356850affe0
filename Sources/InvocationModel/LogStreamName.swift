import Atomics
public import LambdaModel

/// The name of one CloudWatch-style log stream: one per execution environment, and so the environment's identity
/// in invocation events.
///
/// The stream name follows AWS: `YYYY/MM/DD/[<version>]<32 lower-case hex>`; the file lives at
/// `<data>/<group name>/<stream name>` (so `<data>/aws/lambda/<function>/…` by default).
///
/// It also carries how the environment's platform records are written (``format``, ``systemLogLevel``): a
/// property of the environment fixed when it starts, so every event that names the environment tells the log
/// writer its format without a lookup or a new event field.
///
/// A final class, not a struct: every event of an environment carries it, and one reference costs one retain
/// where a struct of four strings would cost four on every copy.
public final class LogStreamName: Sendable, Hashable, CustomStringConvertible {
    public let functionName: String
    /// `/aws/lambda/<function>`.
    public let groupName: String
    /// `YYYY/MM/DD/[$LATEST]0123…`.
    public let streamName: String
    /// Unique within this process: a cheap key for per-stream state.
    public let id: Int
    /// `Text`: AWS's START/END/REPORT lines; `JSON`: the `platform.*` records (runtime-api.md §4.3).
    public let format: LoggingConfiguration.LogFormat
    /// With the JSON format, the least severe platform records written (nil: INFO, AWS's default).
    public let systemLogLevel: LoggingConfiguration.SystemLogLevel?

    public var description: String { "\(groupName) \(streamName)" }

    public static func == (lhs: LogStreamName, rhs: LogStreamName) -> Bool {
        lhs === rhs
            || (lhs.id == rhs.id && lhs.streamName == rhs.streamName && lhs.groupName == rhs.groupName
                && lhs.functionName == rhs.functionName && lhs.format == rhs.format
                && lhs.systemLogLevel == rhs.systemLogLevel)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(streamName)
    }

    public init(
        functionName: String, version: String, epochSeconds: Int, hex: String, id: Int, groupName: String? = nil,
        format: LoggingConfiguration.LogFormat = .text, systemLogLevel: LoggingConfiguration.SystemLogLevel? = nil
    ) {
        self.functionName = functionName
        self.groupName = groupName ?? "/aws/lambda/\(functionName)"
        self.format = format
        self.systemLogLevel = systemLogLevel
        let date = CivilDate(epochSeconds: epochSeconds)
        self.streamName = "\(date.year)/\(CivilDate.pad2(date.month))/\(CivilDate.pad2(date.day))/[\(version)]\(hex)"
        self.id = id
    }
}

/// Two decimals, as AWS prints durations (`1.08`).
public func formatMilliseconds(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

extension LogStreamName {
    private static let counter = ManagedAtomic<Int>(0)

    /// A new stream for an environment of `functionName` running `version`, dated today (UTC).
    public static func make(
        functionName: String, version: String, groupName: String? = nil,
        format: LoggingConfiguration.LogFormat = .text, systemLogLevel: LoggingConfiguration.SystemLogLevel? = nil
    ) -> LogStreamName {
        var generator = SystemRandomNumberGenerator()
        let hex = hex16(generator.next()) + hex16(generator.next())
        let id = counter.loadThenWrappingIncrement(ordering: .relaxed) + 1
        return LogStreamName(
            functionName: functionName, version: version, epochSeconds: WallClock.epochSeconds(), hex: hex, id: id,
            groupName: groupName, format: format, systemLogLevel: systemLogLevel)
    }

    private static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
