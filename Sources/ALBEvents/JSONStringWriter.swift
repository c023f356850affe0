public import NIOCore

/// Writing JSON strings straight into a `ByteBuffer`, escaped per RFC 8259: `"` and `\` are escaped, control
/// characters become `\b \f \n \r \t` or `\u00XX`, everything else (including `/` and non-ASCII) is copied as
/// UTF-8. This is how the event is built without an encoder or an intermediate `String`; other modules can use
/// it to emit JSON on their own hot paths.
extension ByteBuffer {
    /// Appends `string` as a quoted, escaped JSON string; returns the number of bytes written.
    @discardableResult
    public mutating func writeJSONString(_ string: some StringProtocol) -> Int {
        let start = writerIndex
        if let done = string.utf8.withContiguousStorageIfAvailable({ utf8 -> Bool in
            JSONStringWriter.write(UnsafeRawBufferPointer(utf8), validating: false, into: &self)
        }) {
            assert(done)
        } else {
            var copy = String(string)
            copy.withUTF8 { utf8 in
                _ = JSONStringWriter.write(UnsafeRawBufferPointer(utf8), validating: false, into: &self)
            }
        }
        return writerIndex - start
    }

    /// Appends `bytes`, which must be UTF-8, as a quoted, escaped JSON string. Returns the number of bytes
    /// written, or nil (leaving the buffer as it was) when `bytes` is not well-formed UTF-8.
    @discardableResult
    public mutating func writeJSONString(utf8 bytes: UnsafeRawBufferPointer) -> Int? {
        let start = writerIndex
        guard JSONStringWriter.write(bytes, validating: true, into: &self) else {
            moveWriterIndex(to: start)
            return nil
        }
        return writerIndex - start
    }
}

enum JSONStringWriter {
    /// Writes `"…"`; when `validating`, stops and returns false at the first ill-formed UTF-8 sequence.
    static func write(_ bytes: UnsafeRawBufferPointer, validating: Bool, into buffer: inout ByteBuffer) -> Bool {
        // Worst case is 6 bytes per input byte; reserve for the common case (few escapes) only.
        buffer.reserveCapacity(minimumWritableBytes: bytes.count + 2)
        buffer.writeInteger(UInt8(ascii: "\""))
        let count = bytes.count
        var runStart = 0
        var index = 0
        while index < count {
            let byte = bytes[index]
            if byte >= 0x80 {
                if validating {
                    guard let length = UTF8Validation.sequenceLength(bytes, at: index) else { return false }
                    index += length
                } else {
                    index += 1
                }
                continue
            }
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            if index > runStart {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
            }
            writeEscape(byte, into: &buffer)
            index += 1
            runStart = index
        }
        if count > runStart {
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<count]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
        return true
    }

    private static func writeEscape(_ byte: UInt8, into buffer: inout ByteBuffer) {
        let backslash = UInt8(ascii: "\\")
        switch byte {
        case UInt8(ascii: "\""): buffer.writeMultipleIntegers(backslash, UInt8(ascii: "\""))
        case backslash: buffer.writeMultipleIntegers(backslash, backslash)
        case 0x08: buffer.writeMultipleIntegers(backslash, UInt8(ascii: "b"))
        case 0x0C: buffer.writeMultipleIntegers(backslash, UInt8(ascii: "f"))
        case 0x0A: buffer.writeMultipleIntegers(backslash, UInt8(ascii: "n"))
        case 0x0D: buffer.writeMultipleIntegers(backslash, UInt8(ascii: "r"))
        case 0x09: buffer.writeMultipleIntegers(backslash, UInt8(ascii: "t"))
        default:
            let hex = ASCII.hexDigits.utf8Start
            buffer.writeMultipleIntegers(
                backslash, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                hex[Int(byte >> 4)], hex[Int(byte & 0x0F)])
        }
    }
}
