public import NIOCore

// HTTP/1.1 response heads written straight into a `ByteBuffer`: the listener and the Runtime API answer with
// bytes, not through NIO's response encoder and `HTTPHeaders` (issue 14).

extension ByteBuffer {
    /// A non-negative integer's decimal digits, without making a `String` of it.
    public mutating func writeDecimal(_ value: Int) {
        guard value > 0 else {
            writeInteger(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 24 digits, written from the end
        let start = withUnsafeMutableBytes(of: &digits) { scratch in
            var rest = UInt64(value)
            var start = scratch.count
            while rest > 0 {
                start -= 1
                scratch[start] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            return start
        }
        _ = withUnsafeBytes(of: &digits) { writeBytes(UnsafeRawBufferPointer(rebasing: $0[start...])) }
    }

    /// A header field value; a control character (CR, LF, NUL, DEL, ...) becomes a space, so that no value can
    /// end its field or the head early, whatever its source.
    public mutating func writeFieldValue(_ value: String) {
        let start = writerIndex - readerIndex
        let count = writeString(value)
        withUnsafeMutableReadableBytes { bytes in
            for index in start..<(start + count) where bytes[index] < 0x20 || bytes[index] == 0x7F {
                bytes[index] = UInt8(ascii: " ")
            }
        }
    }
}

/// Writes a response head into memory reserved for it in one `ByteBuffer` operation
/// (``NIOCore/ByteBuffer/writeHead(maximumLength:_:)``): each `ByteBuffer.write…` call costs a uniqueness check,
/// a capacity check and an exclusivity check, and a head is a dozen pieces (issue 14). Every append checks that it
/// stays inside the reserved bytes.
public struct HeadWriter {
    @usableFromInline let output: UnsafeMutableRawBufferPointer
    @usableFromInline var position = 0

    @inlinable init(_ output: UnsafeMutableRawBufferPointer) {
        self.output = output
    }

    /// The most bytes ``appendDecimal(_:)`` writes.
    public static let maximumDecimalLength = 20

    @inlinable
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= output.count - position, "a head longer than the room reserved for it")
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        (output.baseAddress! + position).copyMemory(from: source, byteCount: bytes.count)
        position += bytes.count
    }

    @inlinable
    public mutating func append(_ literal: StaticString) {
        append(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inlinable
    public mutating func appendString(_ string: String) {
        if string.utf8.withContiguousStorageIfAvailable({ append(UnsafeRawBufferPointer($0)) }) == nil {
            var copy = string
            copy.makeContiguousUTF8()
            copy.withUTF8 { append(UnsafeRawBufferPointer($0)) }
        }
    }

    /// A header field value; a control character (CR, LF, NUL, DEL, ...) becomes a space, as with
    /// ``NIOCore/ByteBuffer/writeFieldValue(_:)``.
    @inlinable
    public mutating func appendFieldValue(_ value: String) {
        let start = position
        appendString(value)
        for index in start..<position where output[index] < 0x20 || output[index] == 0x7F {
            output[index] = UInt8(ascii: " ")
        }
    }

    /// A non-negative integer's decimal digits (at most ``maximumDecimalLength``); a negative one is written as
    /// `0`, as with ``NIOCore/ByteBuffer/writeDecimal(_:)``.
    @inlinable
    public mutating func appendDecimal(_ value: Int) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        precondition(digits <= output.count - position, "a head longer than the room reserved for it")
        rest = max(value, 0)
        var index = position + digits
        repeat {
            index -= 1
            output[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        } while rest > 0
        position += digits
    }
}

extension ByteBuffer {
    /// Writes a head of at most `maximumLength` bytes through `write`, in one buffer operation.
    @inlinable
    public mutating func writeHead(maximumLength: Int, _ write: (inout HeadWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: maximumLength) { output in
            var writer = HeadWriter(UnsafeMutableRawBufferPointer(rebasing: output[0..<maximumLength]))
            write(&writer)
            return writer.position
        }
    }
}

extension ALBResponse {
    /// Whether the status forbids a body, so that the head carries no `Content-Length` (RFC 9110 §6.4.1: 204
    /// and 304; the decoder never lets a function answer 1xx).
    public var forbidsBody: Bool { status == 204 || status == 304 || (100..<200).contains(status) }

    /// The status line's phrase: the response's own (the function's `statusDescription`, or the IANA phrase),
    /// except for 204 and 304, which keep their standard phrase (as NIO's encoder wrote them before).
    var statusLinePhrase: String {
        switch status {
        case 204: return "No Content"
        case 304: return "Not Modified"
        default: return reasonPhrase
        }
    }

    /// The most bytes ``writeHead(into:date:keepAlive:)`` writes for this response with a date of `dateLength`
    /// bytes.
    public func maximumHeadLength(dateLength: Int) -> Int {
        var length =
            StaticString("HTTP/1.1 ").utf8CodeUnitCount + HeadWriter.maximumDecimalLength + 1
            + statusLinePhrase.utf8.count + StaticString("\r\nServer: awselb/2.0\r\nDate: ").utf8CodeUnitCount
            + dateLength
        for header in headers { length += 4 + header.name.utf8.count + header.value.utf8.count }
        length += StaticString("\r\nContent-Length: ").utf8CodeUnitCount + HeadWriter.maximumDecimalLength
        return length + StaticString("\r\nConnection: keep-alive\r\n\r\n").utf8CodeUnitCount
    }

    /// Appends the head of this response as the front end sends it: the status line, `Server: awselb/2.0`,
    /// `Date`, the response's headers in order, `Content-Length` (not for 204 and 304) and `Connection`, then the
    /// blank line. Header values are written with ``ByteBuffer/writeFieldValue(_:)``; names as they are (the
    /// function's are checked tokens, the rest are the front end's own or the configuration's). One buffer
    /// operation of at most ``maximumHeadLength(dateLength:)`` bytes.
    public func writeHead(into buffer: inout ByteBuffer, date: String, keepAlive: Bool) {
        buffer.writeHead(maximumLength: maximumHeadLength(dateLength: date.utf8.count)) { head in
            head.append("HTTP/1.1 ")
            head.appendDecimal(status)
            head.append(" ")
            head.appendFieldValue(statusLinePhrase)
            head.append("\r\nServer: awselb/2.0\r\nDate: ")
            head.appendString(date)
            for header in headers {
                head.append("\r\n")
                head.appendString(header.name)
                head.append(": ")
                head.appendFieldValue(header.value)
            }
            if !forbidsBody {
                head.append("\r\nContent-Length: ")
                head.appendDecimal(body.readableBytes)
            }
            head.append(keepAlive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n")
        }
    }
}
