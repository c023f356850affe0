/// The name of one CloudWatch-style log stream: one per execution environment.
///
/// The stream name follows AWS: `YYYY/MM/DD/[<version>]<32 lower-case hex>`; the file lives at
/// `<data>/aws/lambda/<function>/<stream name>`.
public struct LogStreamName: Sendable, Hashable, CustomStringConvertible {
    public let functionName: String
    /// `/aws/lambda/<function>`.
    public let groupName: String
    /// `YYYY/MM/DD/[$LATEST]0123…`.
    public let streamName: String
    let id: Int

    public var description: String { "\(groupName) \(streamName)" }

    init(functionName: String, version: String, epochSeconds: Int, hex: String, id: Int) {
        self.functionName = functionName
        self.groupName = "/aws/lambda/\(functionName)"
        let date = CivilDate(epochSeconds: epochSeconds)
        self.streamName = "\(date.year)/\(pad2(date.month))/\(pad2(date.day))/[\(version)]\(hex)"
        self.id = id
    }
}

/// The fields of a REPORT line (runtime-api.md §4.2).
public struct ReportFields: Sendable {
    public var requestID: String
    public var durationMs: Double
    public var billedDurationMs: Int
    public var memorySizeMB: Int
    /// Only on the first invoke of an environment whose Init ran in the Init phase.
    public var initDurationMs: Double?
    /// `timeout`, `error` or `failure` for invokes that did not succeed; nil on success.
    public var status: String?
    /// The runtime's pid, for `Max Memory Used` (peak resident set, VmHWM); nil when unknown.
    public var pid: Int32?

    public init(
        requestID: String, durationMs: Double, billedDurationMs: Int, memorySizeMB: Int,
        initDurationMs: Double?, status: String?, pid: Int32?
    ) {
        self.requestID = requestID
        self.durationMs = durationMs
        self.billedDurationMs = billedDurationMs
        self.memorySizeMB = memorySizeMB
        self.initDurationMs = initDurationMs
        self.status = status
        self.pid = pid
    }

    /// The REPORT line: tab-separated fields, each followed by a tab, as AWS prints them.
    public func line(maxMemoryUsedMB: Int) -> String {
        var line = "REPORT RequestId: \(requestID)\tDuration: \(formatMilliseconds(durationMs)) ms\t"
        line += "Billed Duration: \(billedDurationMs) ms\tMemory Size: \(memorySizeMB) MB\t"
        line += "Max Memory Used: \(maxMemoryUsedMB) MB\t"
        if let initDurationMs { line += "Init Duration: \(formatMilliseconds(initDurationMs)) ms\t" }
        if let status { line += "Status: \(status)\t" }
        return line
    }
}

/// Two decimals, as AWS prints durations.
public func formatMilliseconds(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

func pad2(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

/// A proleptic Gregorian UTC date from Unix time, without Foundation.
struct CivilDate {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int

    init(epochSeconds: Int) {
        let days = epochSeconds >= 0 ? epochSeconds / 86400 : (epochSeconds - 86399) / 86400
        let secondsOfDay = epochSeconds - days * 86400
        hour = secondsOfDay / 3600
        minute = secondsOfDay % 3600 / 60
        second = secondsOfDay % 60
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// `2026-11-28T15:30:00.123Z`
    static func iso8601(epochMilliseconds: Int64) -> String {
        let seconds = Int(epochMilliseconds / 1000)
        let millis = Int(epochMilliseconds % 1000)
        let d = CivilDate(epochSeconds: seconds)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(d.year)-\(pad2(d.month))-\(pad2(d.day))T\(pad2(d.hour)):\(pad2(d.minute)):\(pad2(d.second)).\(ms)Z"
    }
}
