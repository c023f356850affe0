/// A compiled ALB wildcard pattern: `*` matches zero or more characters (including `/`), `?` exactly one.
///
/// Patterns are compiled once when the router is built so that matching on the hot path is a tight loop over
/// bytes. The matcher is iterative: it remembers only the most recent `*` and retries from there, which is
/// enough for glob patterns (a later star subsumes every earlier one) and keeps the cost at O(pattern × text)
/// in the worst case, with no exponential blow-up on patterns such as `*a*a*a*b`.
public struct WildcardPattern: Sendable, Hashable {
    @usableFromInline
    enum Token: Sendable, Hashable {
        case literal(UInt8)
        case anyOne
        case anyRun
    }

    @usableFromInline
    let tokens: [Token]
    /// Whether literals compare ASCII case-insensitively (host, header and query values).
    public let caseInsensitive: Bool
    /// The pattern as written.
    public let source: String
    /// The number of `*` and `?` wildcards as written (escaped ones excluded); ALB limits them per rule.
    public let wildcardCount: Int

    /// Compiles `pattern`.
    ///
    /// - Parameters:
    ///   - caseInsensitive: compare ASCII letters without regard to case.
    ///   - backslashEscapes: treat `\*` and `\?` as the literal characters (query-string conditions).
    public init(_ pattern: String, caseInsensitive: Bool, backslashEscapes: Bool = false) {
        var tokens: [Token] = []
        var wildcards = 0
        let bytes = Array(pattern.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "*"):
                // Consecutive stars mean the same as one.
                wildcards += 1
                if tokens.last != .anyRun { tokens.append(.anyRun) }
            case UInt8(ascii: "?"):
                wildcards += 1
                tokens.append(.anyOne)
            case UInt8(ascii: "\\")
            where backslashEscapes && index + 1 < bytes.count
                && (bytes[index + 1] == UInt8(ascii: "*") || bytes[index + 1] == UInt8(ascii: "?")):
                index += 1
                tokens.append(.literal(bytes[index]))
            default:
                tokens.append(.literal(caseInsensitive ? Self.lower(byte) : byte))
            }
            index += 1
        }
        self.tokens = tokens
        self.caseInsensitive = caseInsensitive
        self.source = pattern
        self.wildcardCount = wildcards
    }

    /// Whether the whole of `text` matches the pattern. Native strings and their substrings are matched in place
    /// without copying.
    public func matches(_ text: some StringProtocol) -> Bool {
        if let result = text.utf8.withContiguousStorageIfAvailable({ matches(bytes: $0) }) {
            return result
        }
        var copy = String(text)
        return copy.withUTF8 { matches(bytes: $0) }
    }

    /// Whether the whole of `bytes` (UTF-8) matches the pattern.
    public func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = bytes.count
        var t = 0  // next token
        var i = 0  // next byte
        var starToken = -1  // token index after the last `*` seen
        var starText = 0  // text index that `*` is currently assumed to stop at
        while i < count {
            if t < tokens.count {
                switch tokens[t] {
                case .literal(let expected):
                    let byte = caseInsensitive ? Self.lower(bytes[i]) : bytes[i]
                    if byte == expected {
                        t += 1
                        i += 1
                        continue
                    }
                case .anyOne:
                    // One character: a whole UTF-8 sequence, not one byte of it.
                    i = Self.nextCharacter(bytes, after: i)
                    t += 1
                    continue
                case .anyRun:
                    starToken = t + 1
                    starText = i
                    t += 1
                    continue
                }
            }
            // Mismatch (or tokens exhausted with text left): let the last star swallow one more character.
            guard starToken >= 0 else { return false }
            starText = Self.nextCharacter(bytes, after: starText)
            i = starText
            t = starToken
        }
        // Text consumed: only stars may remain.
        while t < tokens.count, tokens[t] == .anyRun { t += 1 }
        return t == tokens.count
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    @inline(__always)
    static func nextCharacter(_ bytes: UnsafeBufferPointer<UInt8>, after index: Int) -> Int {
        var next = index + 1
        while next < bytes.count, bytes[next] & 0xC0 == 0x80 { next += 1 }
        return next
    }
}
