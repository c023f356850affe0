import LambdaModel

/// Version 4 UUIDs for request ids, lower-case as AWS prints them.
public enum RequestID {
    public static func make(using generator: inout some RandomNumberGenerator) -> String {
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000
        low = (low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000
        // Made in place: no byte array in between (issue 14).
        return String(unsafeUninitializedCapacity: 36) { output in
            var position = 0
            writeHex(high >> 32, digits: 8, into: output, at: &position)
            output[position] = UInt8(ascii: "-")
            position += 1
            writeHex((high >> 16) & 0xffff, digits: 4, into: output, at: &position)
            output[position] = UInt8(ascii: "-")
            position += 1
            writeHex(high & 0xffff, digits: 4, into: output, at: &position)
            output[position] = UInt8(ascii: "-")
            position += 1
            writeHex(low >> 48, digits: 4, into: output, at: &position)
            output[position] = UInt8(ascii: "-")
            position += 1
            writeHex(low & 0xffff_ffff_ffff, digits: 12, into: output, at: &position)
            return position
        }
    }

    /// `digits` lower-case hex digits of `value` at `position` of `output`, which has room for them.
    static func writeHex(
        _ value: UInt64, digits: Int, into output: UnsafeMutableBufferPointer<UInt8>, at position: inout Int
    ) {
        precondition(digits <= output.count - position)
        let alphabet: StaticString = "0123456789abcdef"
        for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
            output[position] = alphabet.utf8Start[Int((value >> UInt64(shift)) & 0xf)]
            position += 1
        }
    }

    /// `value` as 16 lower-case hex digits.
    static func hex16(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { output in
            var position = 0
            writeHex(value, digits: 16, into: output, at: &position)
            return position
        }
    }
}

/// The `Lambda-Runtime-Trace-Id` handed to runtimes (runtime-api.md §5).
public enum TraceHeader {
    /// Keeps the Root (and Sampled/Lineage) of an incoming `X-Amzn-Trace-Id`, adds a fresh Parent segment id;
    /// makes a new Root when there is none.
    public static func runtimeHeader(
        from incoming: String?, using generator: inout some RandomNumberGenerator
    )
        -> String
    {
        context(from: incoming, sample: nil, using: &generator).header
    }

    /// The invoke's trace context. With `sample` (active tracing), an upstream `Sampled=1` or `0` is honoured
    /// and otherwise `sample` decides; without (pass-through), the upstream decision passes as it is.
    public static func context(
        from incoming: String?, sample: (() -> Bool)?, using generator: inout some RandomNumberGenerator
    ) -> TraceContext {
        var root: String?
        var sampled: String?
        var lineage: String?
        var parent: String?
        if let incoming {
            // On the UTF-8 bytes (every separator and key is ASCII): `Character` splitting and trimming, and even
            // `Substring.UTF8View` searching, cost more than the rest of this function together.
            parseFields(of: incoming) { key, value in
                switch key {
                case .root: root = value
                case .sampled: sampled = value
                case .lineage: lineage = value
                case .parent: parent = value
                }
            }
        }
        // Drawn in this order: Parent, the sampling decision, a new Root.
        let segment = RequestID.hex16(generator.next())
        var decision = sampled
        if let sample, decision != "1", decision != "0" { decision = sample() ? "1" : "0" }
        return TraceContext(
            root: root ?? newRoot(using: &generator), parent: segment, sampled: decision, lineage: lineage,
            upstreamParent: parent)
    }

    private enum Key {
        case root, sampled, lineage, parent
    }

    /// Calls `found` for each `Root=`, `Sampled=`, `Lineage=` and `Parent=` field of a trace header, in order:
    /// fields split at `;`, leading spaces dropped, keys matched as they are written.
    private static func parseFields(of header: String, _ found: (Key, String) -> Void) {
        var header = header
        header.withUTF8 { bytes in
            let count = bytes.count
            var start = 0
            while start < count {
                var end = start
                while end < count, bytes[end] != UInt8(ascii: ";") { end += 1 }
                var fieldStart = start
                while fieldStart < end, bytes[fieldStart] == UInt8(ascii: " ") { fieldStart += 1 }
                let field = UnsafeBufferPointer(rebasing: bytes[fieldStart..<end])
                for (key, prefix) in keys where field.starts(with: prefix) {
                    let value = UnsafeBufferPointer(rebasing: field[prefix.utf8CodeUnitCount...])
                    found(key, String(decoding: value, as: UTF8.self))
                    break
                }
                start = end + 1
            }
        }
    }

    private static let keys: [(Key, StaticString)] = [
        (.root, "Root="), (.sampled, "Sampled="), (.lineage, "Lineage="), (.parent, "Parent="),
    ]

    /// A new 16-hex segment id.
    public static func newSegmentID(using generator: inout some RandomNumberGenerator) -> String {
        RequestID.hex16(generator.next())
    }

    /// `1-<8 hex epoch seconds>-<24 hex random>`.
    public static func newRoot(using generator: inout some RandomNumberGenerator) -> String {
        let epoch = UInt64(WallClock.epochSeconds())
        let high = generator.next() & 0xffff_ffff
        let low = generator.next()
        return String(unsafeUninitializedCapacity: 35) { output in
            output[0] = UInt8(ascii: "1")
            output[1] = UInt8(ascii: "-")
            var position = 2
            RequestID.writeHex(epoch, digits: 8, into: output, at: &position)
            output[position] = UInt8(ascii: "-")
            position += 1
            RequestID.writeHex(high, digits: 8, into: output, at: &position)
            RequestID.writeHex(low, digits: 16, into: output, at: &position)
            return position
        }
    }
}

extension UnsafeBufferPointer<UInt8> {
    fileprivate func starts(with literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard count >= length else { return false }
        for index in 0..<length where self[index] != literal.utf8Start[index] { return false }
        return true
    }
}
