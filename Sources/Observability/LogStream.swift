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
        bytes.appendUTF8("REPORT RequestId: ")
        bytes.appendUTF8(requestID)
        bytes.appendUTF8("\tDuration: ")
        appendMilliseconds(durationMs, to: &bytes)
        bytes.appendUTF8(" ms\tBilled Duration: ")
        appendDecimal(billedDurationMs, to: &bytes)
        bytes.appendUTF8(" ms\tMemory Size: ")
        appendDecimal(memorySizeMB, to: &bytes)
        bytes.appendUTF8(" MB\tMax Memory Used: ")
        appendDecimal(maxMemoryUsedMB, to: &bytes)
        bytes.appendUTF8(" MB\t")
        if let initDurationMs {
            bytes.appendUTF8("Init Duration: ")
            appendMilliseconds(initDurationMs, to: &bytes)
            bytes.appendUTF8(" ms\t")
        }
        if let status {
            bytes.appendUTF8("Status: ")
            bytes.appendUTF8(status)
            bytes.append(UInt8(ascii: "\t"))
        }
    }
}

/// `value`'s decimal digits (a minus sign first when negative).
func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
    if value < 0 { bytes.append(UInt8(ascii: "-")) }
    // Written from the end into a scratch tuple, then appended in one go (reversing a slice of `bytes` copied it).
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 24 digits
    withUnsafeMutableBytes(of: &digits) { scratch in
        var rest = value.magnitude
        var start = scratch.count
        repeat {
            start -= 1
            scratch[start] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        } while rest > 0
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[start...]))
    }
}

extension Array where Element == UInt8 {
    /// `string`'s UTF-8 bytes, copied in one go: `append(contentsOf: string.utf8)` walks the view, about 240
    /// instructions a call, and the platform's log lines make 13 such calls an invoke (issue 14).
    mutating func appendUTF8(_ string: String) {
        if string.utf8.withContiguousStorageIfAvailable({ append(contentsOf: $0) }) == nil {
            append(contentsOf: string.utf8)
        }
    }
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
