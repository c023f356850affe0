import InvocationModel

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
