import LambdaModel

/// Version 4 UUIDs for request ids, lower-case as AWS prints them.
public enum RequestID {
    public static func make(using generator: inout some RandomNumberGenerator) -> String {
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000
        low = (low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000
        var bytes: [UInt8] = []
        bytes.reserveCapacity(36)
        appendHex(high >> 32, digits: 8, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendHex((high >> 16) & 0xffff, digits: 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendHex(high & 0xffff, digits: 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendHex(low >> 48, digits: 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendHex(low & 0xffff_ffff_ffff, digits: 12, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func appendHex(_ value: UInt64, digits: Int, to bytes: inout [UInt8]) {
        let alphabet: StaticString = "0123456789abcdef"
        for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
            bytes.append(alphabet.utf8Start[Int((value >> UInt64(shift)) & 0xf)])
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
        var root: Substring?
        var sampled: Substring?
        var lineage: Substring?
        var parent: Substring?
        if let incoming {
            // On the UTF-8 bytes (every separator and key is ASCII): `Character` splitting and trimming cost more
            // than the rest of this function together.
            var rest = Substring(incoming).utf8
            while !rest.isEmpty {
                let end = rest.firstIndex(of: UInt8(ascii: ";")) ?? rest.endIndex
                var field = rest[..<end]
                rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
                while field.first == UInt8(ascii: " ") { field = field.dropFirst() }
                if field.starts(with: "Root=".utf8) {
                    root = Substring(field.dropFirst(5))
                } else if field.starts(with: "Sampled=".utf8) {
                    sampled = Substring(field.dropFirst(8))
                } else if field.starts(with: "Lineage=".utf8) {
                    lineage = Substring(field.dropFirst(8))
                } else if field.starts(with: "Parent=".utf8) {
                    parent = Substring(field.dropFirst(7))
                }
            }
        }
        var bytes: [UInt8] = []
        RequestID.appendHex(generator.next(), digits: 16, to: &bytes)
        var decision = sampled.map(String.init)
        if let sample, decision != "1", decision != "0" { decision = sample() ? "1" : "0" }
        return TraceContext(
            root: root.map(String.init) ?? newRoot(using: &generator), parent: String(decoding: bytes, as: UTF8.self),
            sampled: decision, lineage: lineage.map(String.init), upstreamParent: parent.map(String.init))
    }

    /// A new 16-hex segment id.
    public static func newSegmentID(using generator: inout some RandomNumberGenerator) -> String {
        var bytes: [UInt8] = []
        RequestID.appendHex(generator.next(), digits: 16, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `1-<8 hex epoch seconds>-<24 hex random>`.
    public static func newRoot(using generator: inout some RandomNumberGenerator) -> String {
        var bytes: [UInt8] = Array("1-".utf8)
        RequestID.appendHex(UInt64(WallClock.epochSeconds()), digits: 8, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        RequestID.appendHex(generator.next() & 0xffff_ffff, digits: 8, to: &bytes)
        RequestID.appendHex(generator.next(), digits: 16, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
