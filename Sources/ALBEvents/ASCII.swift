/// Small ASCII helpers for header names and media types: HTTP header names are case-insensitive ASCII, and
/// Swift's `String` comparisons are Unicode-aware (canonical equivalence), which is both slower and not what
/// the wire means.
enum ASCII {
    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    /// `text` with A–Z mapped to a–z; returns `text` itself (no allocation) when it has no upper-case letter.
    static func lowercased(_ text: String) -> String {
        var hasUpper = false
        for byte in text.utf8 where byte >= 0x41 && byte <= 0x5A {
            hasUpper = true
            break
        }
        guard hasUpper else { return text }
        let count = text.utf8.count
        return String(unsafeUninitializedCapacity: count) { output in
            var index = 0
            for byte in text.utf8 {
                output[index] = lower(byte)
                index += 1
            }
            return count
        }
    }

    /// Case-insensitive ASCII equality against a lower-case literal.
    static func equalsIgnoringCase(_ text: some StringProtocol, lowercase literal: StaticString) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == literal.utf8CodeUnitCount else { return false }
        var position = literal.utf8Start
        for byte in utf8 {
            if lower(byte) != position.pointee { return false }
            position += 1
        }
        return true
    }

    /// Byte-wise equality (no Unicode canonical equivalence).
    @inline(__always)
    static func bytesEqual(_ lhs: some StringProtocol, _ rhs: some StringProtocol) -> Bool {
        let left = lhs.utf8
        let right = rhs.utf8
        guard left.count == right.count else { return false }
        let result = left.withContiguousStorageIfAvailable { leftBytes in
            right.withContiguousStorageIfAvailable { rightBytes -> Bool in
                for index in 0..<leftBytes.count where leftBytes[index] != rightBytes[index] { return false }
                return true
            }
        }
        return (result ?? nil) ?? left.elementsEqual(right)
    }

    /// Byte-wise ordering, the order map keys are written in.
    @inline(__always)
    static func bytesPrecede(_ lhs: some StringProtocol, _ rhs: some StringProtocol) -> Bool {
        let result = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right -> Bool in
                let common = min(left.count, right.count)
                for index in 0..<common where left[index] != right[index] { return left[index] < right[index] }
                return left.count < right.count
            }
        }
        return (result ?? nil) ?? lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    /// Byte-wise ordering of raw byte ranges.
    @inline(__always)
    static func bytesPrecede(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer) -> Bool {
        let common = min(left.count, right.count)
        for index in 0..<common where left[index] != right[index] { return left[index] < right[index] }
        return left.count < right.count
    }

    /// `text` without leading and trailing spaces and tabs (byte-wise, so a combining mark after a space is kept).
    static func trimmed(_ text: Substring) -> Substring {
        let utf8 = text.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end, utf8[start] == 0x20 || utf8[start] == 0x09 { start = utf8.index(after: start) }
        while end > start {
            let before = utf8.index(before: end)
            guard utf8[before] == 0x20 || utf8[before] == 0x09 else { break }
            end = before
        }
        return text[start..<end]
    }

    /// `text` split at every `separator` byte (an ASCII byte), empty pieces included. Splitting by bytes rather
    /// than `Character`s keeps a separator followed by a combining mark a separator.
    static func split(_ text: Substring, separator: UInt8) -> [Substring] {
        var pieces: [Substring] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var index = start
        while index < utf8.endIndex {
            if utf8[index] == separator {
                pieces.append(text[start..<index])
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        pieces.append(text[start..<utf8.endIndex])
        return pieces
    }

    /// The index of the first `byte` (an ASCII byte) in `text`.
    static func firstIndex(of byte: UInt8, in text: Substring) -> Substring.Index? {
        text.utf8.firstIndex(of: byte)
    }

    /// Case-insensitive ASCII prefix test against a lower-case literal.
    static func hasPrefixIgnoringCase(_ text: some StringProtocol, lowercase literal: StaticString) -> Bool {
        let utf8 = text.utf8
        guard utf8.count >= literal.utf8CodeUnitCount else { return false }
        var position = literal.utf8Start
        for byte in utf8.prefix(literal.utf8CodeUnitCount) {
            if lower(byte) != position.pointee { return false }
            position += 1
        }
        return true
    }

    /// An RFC 9110 token: `!#$%&'*+-.^_`|~`, digits and letters, at least one character.
    static func isToken(_ text: some StringProtocol) -> Bool {
        var empty = true
        for byte in text.utf8 {
            empty = false
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: continue
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
                UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                continue
            default: return false
            }
        }
        return !empty
    }

    /// The name rule of `routing.http.drop_invalid_header_fields.enabled`: `[-A-Za-z0-9]+`.
    static func isALBHeaderName(_ text: some StringProtocol) -> Bool {
        var empty = true
        for byte in text.utf8 {
            empty = false
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "-"): continue
            default: return false
            }
        }
        return !empty
    }

    /// A header value that can go on the wire: no control characters other than horizontal tab (so no CR, LF
    /// or NUL, which would let a function split the response), DEL excluded too.
    static func isFieldValue(_ text: some StringProtocol) -> Bool {
        for byte in text.utf8 where (byte < 0x20 && byte != 0x09) || byte == 0x7F {
            return false
        }
        return true
    }

    /// Whether `text` holds U+FFFD (the UTF-8 bytes EF BF BD). NIO's HTTP parser turns header bytes that are not
    /// UTF-8 into U+FFFD, so this is how the front end sees them (a client that sends the character itself is
    /// taken for one that sent invalid bytes). All-ASCII text, the usual case, is passed eight bytes at a time.
    static func containsReplacementCharacter(_ text: String) -> Bool {
        if let found = text.utf8.withContiguousStorageIfAvailable({ utf8 -> Bool in
            let bytes = UnsafeRawBufferPointer(utf8)
            let count = bytes.count
            var index = 0
            while index + 8 <= count,
                bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
            {
                index += 8
            }
            while index + 2 < count {
                if bytes[index] == 0xEF && bytes[index + 1] == 0xBF && bytes[index + 2] == 0xBD { return true }
                index += 1
            }
            return false
        }) {
            return found
        }
        return text.unicodeScalars.contains("\u{FFFD}")
    }

    static let hexDigits: StaticString = "0123456789abcdef"
}
