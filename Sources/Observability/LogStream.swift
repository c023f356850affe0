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
        var bytes: [UInt8] = []
        write(maxMemoryUsedMB: maxMemoryUsedMB, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// ``line(maxMemoryUsedMB:)`` appended to `bytes`, with no `String` made on the way (the log writer writes one
    /// for every invoke).
    public func write(maxMemoryUsedMB: Int, into bytes: inout [UInt8]) {
        bytes.append(contentsOf: "REPORT RequestId: ".utf8)
        bytes.append(contentsOf: requestID.utf8)
        bytes.append(contentsOf: "\tDuration: ".utf8)
        appendMilliseconds(durationMs, to: &bytes)
        bytes.append(contentsOf: " ms\tBilled Duration: ".utf8)
        appendDecimal(billedDurationMs, to: &bytes)
        bytes.append(contentsOf: " ms\tMemory Size: ".utf8)
        appendDecimal(memorySizeMB, to: &bytes)
        bytes.append(contentsOf: " MB\tMax Memory Used: ".utf8)
        appendDecimal(maxMemoryUsedMB, to: &bytes)
        bytes.append(contentsOf: " MB\t".utf8)
        if let initDurationMs {
            bytes.append(contentsOf: "Init Duration: ".utf8)
            appendMilliseconds(initDurationMs, to: &bytes)
            bytes.append(contentsOf: " ms\t".utf8)
        }
        if let status {
            bytes.append(contentsOf: "Status: ".utf8)
            bytes.append(contentsOf: status.utf8)
            bytes.append(UInt8(ascii: "\t"))
        }
    }
}

/// `value`'s decimal digits (a minus sign first when negative).
func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
    if value < 0 { bytes.append(UInt8(ascii: "-")) }
    var rest = value.magnitude
    let start = bytes.count
    repeat {
        bytes.append(UInt8(ascii: "0") + UInt8(rest % 10))
        rest /= 10
    } while rest > 0
    bytes[start...].reverse()
}

/// ``formatMilliseconds(_:)`` appended to `bytes`: two decimals.
func appendMilliseconds(_ value: Double, to bytes: inout [UInt8]) {
    let hundredths = Int((value * 100).rounded())
    let fraction = abs(hundredths % 100)
    if hundredths < 0 && hundredths > -100 { bytes.append(UInt8(ascii: "-")) }
    appendDecimal(hundredths / 100, to: &bytes)
    bytes.append(UInt8(ascii: "."))
    bytes.append(UInt8(ascii: "0") + UInt8(fraction / 10))
    bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10))
}
