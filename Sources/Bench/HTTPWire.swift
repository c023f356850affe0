/// The few things bench reads of an HTTP/1.1 response, found by scanning bytes (no string is made).
public enum BenchHTTPWire {
    /// The head's length (through the empty line) and the body's `Content-Length` (0 without one), once the
    /// head is complete. `from`: where to start looking for the empty line (bytes before it were scanned already,
    /// without finding one; the scan backs up three bytes, since the line may straddle two reads).
    public static func head(in bytes: UnsafeRawBufferPointer, from: Int = 0) -> (end: Int, bodyLength: Int)? {
        let first = max(0, from - 3)
        guard bytes.count >= 4, first <= bytes.count - 4 else { return nil }
        for index in first...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return (index + 4, contentLength(UnsafeRawBufferPointer(rebasing: bytes[0..<(index + 2)])))
        }
        return nil
    }

    private static let field = Array("\r\ncontent-length:".utf8)

    /// The value of the head's `Content-Length` field (field names compared without case), 0 without one.
    public static func contentLength(_ head: UnsafeRawBufferPointer) -> Int {
        let field = Self.field
        guard head.count > field.count else { return 0 }
        var index = 0
        search: while index <= head.count - field.count {
            for offset in 0..<field.count {
                var byte = head[index + offset]
                if byte >= 65 && byte <= 90 { byte |= 0x20 }
                if byte != field[offset] {
                    index += 1
                    continue search
                }
            }
            var position = index + field.count
            while position < head.count && (head[position] == 32 || head[position] == 9) { position += 1 }
            var value = 0
            while position < head.count, head[position] >= 48, head[position] <= 57, value < 1 << 40 {
                value = value * 10 + Int(head[position] - 48)
                position += 1
            }
            return value
        }
        return 0
    }

    /// The status code of `HTTP/1.1 200 …`; 0 when the line is not one.
    public static func status(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard bytes.count >= 12 else { return 0 }
        var value = 0
        for index in 9..<12 {
            let byte = bytes[index]
            guard byte >= 48 && byte <= 57 else { return 0 }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
}
