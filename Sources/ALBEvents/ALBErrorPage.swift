public import NIOCore

/// The small HTML page ALB answers with when it produces an error itself (400, 403, 405, 413, 414, 463, 500,
/// 501, 502, 503, 504, ...): title and heading `<code> <reason>`, CRLF line ends, `Content-Type: text/html`.
public enum ALBErrorPage {
    /// The page for `status`; a code without a registered phrase (e.g. 463) is shown as the bare number.
    public static func response(status: Int, allocator: ByteBufferAllocator) -> ALBResponse {
        let phrase = HTTPReasonPhrase.phrase(for: status)
        let title = phrase.isEmpty ? String(status) : "\(status) \(phrase)"
        var body = allocator.buffer(capacity: 96 + 2 * title.utf8.count)
        body.writeStaticString("<html>\r\n<head><title>")
        body.writeString(title)
        body.writeStaticString("</title></head>\r\n<body>\r\n<center><h1>")
        body.writeString(title)
        body.writeStaticString("</h1></center>\r\n</body>\r\n</html>\r\n")
        return ALBResponse(status: status, reasonPhrase: phrase, headers: [("Content-Type", "text/html")], body: body)
    }

    /// The page for a rejection's status.
    public static func response(for rejection: ALBRejection, allocator: ByteBufferAllocator) -> ALBResponse {
        response(status: rejection.status, allocator: allocator)
    }
}
