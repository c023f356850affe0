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

    /// Appends the head of this response as the front end sends it: the status line, `Server: awselb/2.0`,
    /// `Date`, the response's headers in order, `Content-Length` (not for 204 and 304) and `Connection`, then the
    /// blank line. Header values are written with ``ByteBuffer/writeFieldValue(_:)``; names as they are (the
    /// function's are checked tokens, the rest are the front end's own or the configuration's).
    public func writeHead(into buffer: inout ByteBuffer, date: String, keepAlive: Bool) {
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeDecimal(status)
        buffer.writeStaticString(" ")
        buffer.writeFieldValue(statusLinePhrase)
        buffer.writeStaticString("\r\nServer: awselb/2.0\r\nDate: ")
        buffer.writeString(date)
        for header in headers {
            buffer.writeStaticString("\r\n")
            buffer.writeString(header.name)
            buffer.writeStaticString(": ")
            buffer.writeFieldValue(header.value)
        }
        if !forbidsBody {
            buffer.writeStaticString("\r\nContent-Length: ")
            buffer.writeDecimal(body.readableBytes)
        }
        buffer.writeStaticString(keepAlive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n")
    }
}
