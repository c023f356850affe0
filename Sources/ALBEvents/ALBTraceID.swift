/// An X-Ray style trace id as ALB writes it: `1-<8 hex: epoch seconds>-<24 hex: 96 random bits>`, e.g.
/// `1-5bdb40ca-556d8b0c50dc66f0511bf520`. Used for `Root` and `Self` in `x-amzn-trace-id` and reusable by
/// the invoker and observability code.
public struct ALBTraceID: Sendable, Hashable, CustomStringConvertible {
    /// Seconds since the epoch (truncated to 32 bits).
    public var epochSeconds: UInt32
    /// The upper 32 of the 96 random bits.
    public var randomHigh: UInt32
    /// The lower 64 of the 96 random bits.
    public var randomLow: UInt64

    public init(epochSeconds: UInt32, randomHigh: UInt32, randomLow: UInt64) {
        self.epochSeconds = epochSeconds
        self.randomHigh = randomHigh
        self.randomLow = randomLow
    }

    /// A fresh id for `epochSeconds`, drawing 96 bits from `random` (first `next()` → the low 64 bits, second
    /// → the high 32, so seeded generators give stable ids).
    public static func generate(epochSeconds: Int, using random: inout some RandomNumberGenerator) -> ALBTraceID {
        let low = random.next()
        let high = UInt32(truncatingIfNeeded: random.next())
        return ALBTraceID(epochSeconds: UInt32(truncatingIfNeeded: epochSeconds), randomHigh: high, randomLow: low)
    }

    /// Parses `1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy` (hex digits in either case); nil for anything else.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 35, utf8[0] == UInt8(ascii: "1"), utf8[1] == UInt8(ascii: "-"),
            utf8[10] == UInt8(ascii: "-")
        else { return nil }
        func hex(_ range: Range<Int>) -> UInt64? {
            var value: UInt64 = 0
            for byte in utf8[range] {
                guard let digit = Self.hexValue(byte) else { return nil }
                value = value << 4 | UInt64(digit)
            }
            return value
        }
        guard let epoch = hex(2..<10), let high = hex(11..<19), let low = hex(19..<35) else { return nil }
        self.init(epochSeconds: UInt32(epoch), randomHigh: UInt32(high), randomLow: low)
    }

    public var description: String {
        String(unsafeUninitializedCapacity: 35) { output in
            let digits = ASCII.hexDigits.utf8Start
            output[0] = UInt8(ascii: "1")
            output[1] = UInt8(ascii: "-")
            output[10] = UInt8(ascii: "-")
            for position in 0..<8 {
                output[2 + position] = digits[Int(epochSeconds >> (28 - 4 * UInt32(position)) & 0xF)]
                output[11 + position] = digits[Int(randomHigh >> (28 - 4 * UInt32(position)) & 0xF)]
            }
            for position in 0..<16 {
                output[19 + position] = digits[Int(randomLow >> (60 - 4 * UInt64(position)) & 0xF)]
            }
            return 35
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The `x-amzn-trace-id` rules of ALB request tracing: a request without a usable `Root` gets a fresh one; a
/// request with one gets a `Self` field put in front (replacing any `Self` it carried) and keeps `Root` and
/// its custom fields; a request whose headers exceed `oversizeThreshold` gets a fresh `Root` and nothing else.
public enum ALBTraceHeader {
    /// "If the request headers are larger than 7 KB": 7 × 1024 bytes of header lines
    /// (`name: value\r\n` each, as received).
    public static let oversizeThreshold = 7 * 1024

    /// The value ALB forwards, given the client's header (the last one when it sent several).
    public static func forwardedValue(
        incoming: String?, headersOversize: Bool, epochSeconds: Int, random: inout some RandomNumberGenerator
    ) -> String {
        let fresh = ALBTraceID.generate(epochSeconds: epochSeconds, using: &random).description
        guard !headersOversize, let incoming else { return "Root=" + fresh }
        var hasRoot = false
        var others: [Substring] = []
        for rawField in ASCII.split(Substring(incoming), separator: UInt8(ascii: ";")) {
            let field = ASCII.trimmed(rawField)
            guard !field.isEmpty else { continue }
            let (key, value) = splitField(field)
            if key == "Self" { continue }
            if key == "Root" {
                guard !hasRoot, ALBTraceID(value) != nil else { continue }
                hasRoot = true
            }
            others.append(field)
        }
        var result = hasRoot ? "Self=" + fresh : "Root=" + fresh
        for field in others {
            result += ";"
            result += field
        }
        return result
    }

    /// The `Root` id of a trace header value (`Root=1-…;…` or `Self=…;Root=1-…`), if present and well-formed.
    public static func root(of headerValue: String) -> ALBTraceID? {
        for rawField in ASCII.split(Substring(headerValue), separator: UInt8(ascii: ";")) {
            let (key, value) = splitField(ASCII.trimmed(rawField))
            if key == "Root" { return ALBTraceID(value) }
        }
        return nil
    }

    private static func splitField(_ field: Substring) -> (key: Substring, value: Substring) {
        guard let equals = ASCII.firstIndex(of: UInt8(ascii: "="), in: field) else { return (field, "") }
        return (field[..<equals], field[field.index(after: equals)...])
    }
}
