public import NIOCore

/// Writing JSON strings straight into a `ByteBuffer`, escaped per RFC 8259: `"` and `\` are escaped, control
/// characters become `\b \f \n \r \t` or `\u00XX`, everything else (including `/` and non-ASCII) is copied as
/// UTF-8. This is how the event is built without an encoder or an intermediate `String`; other modules can use
/// it to emit JSON on their own hot paths.
extension ByteBuffer {
    /// Appends `string` as a quoted, escaped JSON string; returns the number of bytes written.
    @discardableResult
    public mutating func writeJSONString(_ string: some StringProtocol) -> Int {
        JSONStringWriter.write(string, leading: nil, trailing: nil, into: &self)
    }

    /// Appends `bytes`, which must be UTF-8, as a quoted, escaped JSON string. Returns the number of bytes
    /// written, or nil (leaving the buffer as it was) when `bytes` is not well-formed UTF-8.
    @discardableResult
    public mutating func writeJSONString(utf8 bytes: UnsafeRawBufferPointer) -> Int? {
        guard let length = JSONStringWriter.escapedLength(bytes, validating: true) else { return nil }
        return JSONStringWriter.write(bytes, escapedLength: length, leading: nil, trailing: nil, into: &self)
    }
}

enum JSONStringWriter {
    /// Writes `string` quoted, optionally with one punctuation byte before and after (`,` and `:` in maps), in
    /// a single buffer operation.
    @inline(__always)
    @discardableResult
    static func write(
        _ string: some StringProtocol, leading: UInt8?, trailing: UInt8?, into buffer: inout ByteBuffer
    ) -> Int {
        if let written = string.utf8.withContiguousStorageIfAvailable({ utf8 -> Int in
            let bytes = UnsafeRawBufferPointer(utf8)
            let length = escapedLength(bytes, validating: false)!
            return write(bytes, escapedLength: length, leading: leading, trailing: trailing, into: &buffer)
        }) {
            return written
        }
        var copy = String(string)
        return copy.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            let length = escapedLength(bytes, validating: false)!
            return write(bytes, escapedLength: length, leading: leading, trailing: trailing, into: &buffer)
        }
    }

    /// The length of the escaped content (without quotes); nil when `validating` and `bytes` is not UTF-8.
    @inline(__always)
    static func escapedLength(_ bytes: UnsafeRawBufferPointer, validating: Bool) -> Int? {
        var length = bytes.count
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte >= 0x80 {
                if validating {
                    guard let sequence = UTF8Validation.sequenceLength(bytes, at: index) else { return nil }
                    index += sequence
                } else {
                    index += 1
                }
                continue
            }
            if byte < 0x20 {
                switch byte {
                case 0x08, 0x09, 0x0A, 0x0C, 0x0D: length += 1
                default: length += 5
                }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                length += 1
            }
            index += 1
        }
        return length
    }

    /// Writes `[leading]"…"[trailing]` given the escaped content length from `escapedLength`.
    @inline(__always)
    static func write(
        _ bytes: UnsafeRawBufferPointer, escapedLength: Int, leading: UInt8?, trailing: UInt8?,
        into buffer: inout ByteBuffer
    ) -> Int {
        let total = escapedLength + 2 + (leading == nil ? 0 : 1) + (trailing == nil ? 0 : 1)
        return buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { output in
            write(bytes, escapedLength: escapedLength, leading: leading, trailing: trailing, to: output, at: 0)
        }
    }

    /// Writes `[leading]"…"[trailing]` at `start` of `output`, which has room for it; returns the position after.
    @inline(__always)
    static func write(
        _ bytes: UnsafeRawBufferPointer, escapedLength: Int, leading: UInt8?, trailing: UInt8?,
        to output: UnsafeMutableRawBufferPointer, at start: Int
    ) -> Int {
        var position = start
        if let leading {
            output[position] = leading
            position += 1
        }
        output[position] = UInt8(ascii: "\"")
        position += 1
        if escapedLength == bytes.count {
            if bytes.count > 0 {
                (output.baseAddress! + position).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
            position += bytes.count
        } else {
            position = writeEscaped(bytes, to: output, at: position)
        }
        output[position] = UInt8(ascii: "\"")
        position += 1
        if let trailing {
            output[position] = trailing
            position += 1
        }
        return position
    }

    /// Calls `body` with `string`'s UTF-8 bytes.
    @inline(__always)
    static func withUTF8<Result>(
        of string: some StringProtocol, _ body: (UnsafeRawBufferPointer) -> Result
    ) -> Result {
        if let result = string.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        var copy = String(string)
        return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    private static func writeEscaped(
        _ bytes: UnsafeRawBufferPointer, to output: UnsafeMutableRawBufferPointer, at start: Int
    ) -> Int {
        let backslash = UInt8(ascii: "\\")
        let hex = ASCII.hexDigits.utf8Start
        var position = start
        for byte in bytes {
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != backslash {
                output[position] = byte
                position += 1
                continue
            }
            output[position] = backslash
            switch byte {
            case UInt8(ascii: "\""), backslash: output[position + 1] = byte
            case 0x08: output[position + 1] = UInt8(ascii: "b")
            case 0x0C: output[position + 1] = UInt8(ascii: "f")
            case 0x0A: output[position + 1] = UInt8(ascii: "n")
            case 0x0D: output[position + 1] = UInt8(ascii: "r")
            case 0x09: output[position + 1] = UInt8(ascii: "t")
            default:
                output[position + 1] = UInt8(ascii: "u")
                output[position + 2] = UInt8(ascii: "0")
                output[position + 3] = UInt8(ascii: "0")
                output[position + 4] = hex[Int(byte >> 4)]
                output[position + 5] = hex[Int(byte & 0x0F)]
                position += 4
            }
            position += 2
        }
        return position
    }
}
