/// The checks ALB makes before it invokes anything, each answered by the ALB itself: they run on the request
/// head alone, so the front end can refuse before reading the body.
public enum ALBRequestCheck {
    /// Request line limit: 16 KiB.
    public static let maximumRequestLineLength = 16 * 1024
    /// Limit of one header line (`name: value`, without CRLF): 16 KiB.
    public static let maximumHeaderLineLength = 16 * 1024
    /// Limit of all header lines (`name: value\r\n` each): 64 KiB.
    public static let maximumHeaderBlockLength = 64 * 1024
    /// Most addresses an incoming `X-Forwarded-For` may carry.
    public static let maximumForwardedAddresses = 30

    /// Checks, in this order: request line > 16 KiB, one header line > 16 KiB or all header lines > 64 KiB →
    /// 400; TRACE or CONNECT → 405; two or more `Host` headers, or none in HTTP/1.1 → 400; `Transfer-Encoding` other than chunked/identity → 501; WebSocket upgrade
    /// (`Upgrade: websocket`) → 400 `LambdaWebsocketNotSupported`; more than 30 addresses in `X-Forwarded-For`
    /// → 463; a declared `Content-Length` over `maximumRequestBodySize` → 413 `LambdaRequestTooLarge`.
    /// Returns nil when the request may proceed.
    public static func rejection(for head: ALBRequestHead, options: ALBEventOptions) -> ALBRejection? {
        if head.requestLineLength > maximumRequestLineLength {
            return ALBRejection(
                status: 400, reason: "-",
                message: "request line is \(head.requestLineLength) bytes, over the \(maximumRequestLineLength) limit")
        }
        var blockLength = 0
        for header in head.headers {
            let lineLength = header.name.utf8.count + 2 + header.value.utf8.count
            if lineLength > maximumHeaderLineLength {
                return ALBRejection(
                    status: 400, reason: "-",
                    message:
                        "header '\(header.name)' line is \(lineLength) bytes, over the \(maximumHeaderLineLength) limit"
                )
            }
            blockLength += lineLength + 2
        }
        if blockLength > maximumHeaderBlockLength {
            return ALBRejection(
                status: 400, reason: "-",
                message: "request headers are \(blockLength) bytes, over the \(maximumHeaderBlockLength) limit")
        }
        if head.method == "TRACE" || head.method == "CONNECT" {
            // CONNECT as TRACE: an ALB proxies neither (it opens no tunnels); answering it stops a client from
            // taking a bodiless 200 for an open tunnel.
            return ALBRejection(status: 405, reason: "-", message: "method \(head.method) is not allowed")
        }
        var hosts = 0
        for header in head.headers where ASCII.equalsIgnoringCase(header.name, lowercase: "host") { hosts += 1 }
        if hosts > 1 {
            // RFC 9112 §3.2: more than one Host field is a bad request (rules and event could disagree otherwise).
            return ALBRejection(status: 400, reason: "-", message: "the request has \(hosts) Host headers")
        }
        if hosts == 0 && head.requiresHost {
            return ALBRejection(status: 400, reason: "-", message: "an HTTP/1.1 request must carry a Host header")
        }
        var forwardedAddresses = 0
        for header in head.headers {
            if ASCII.equalsIgnoringCase(header.name, lowercase: "transfer-encoding") {
                for coding in ASCII.split(Substring(header.value), separator: UInt8(ascii: ",")) {
                    let name = ASCII.trimmed(coding)
                    if !name.isEmpty,
                        !ASCII.equalsIgnoringCase(name, lowercase: "chunked")
                            && !ASCII.equalsIgnoringCase(name, lowercase: "identity")
                    {
                        return ALBRejection(
                            status: 501, reason: "-", message: "Transfer-Encoding '\(name)' is not implemented")
                    }
                }
            } else if ASCII.equalsIgnoringCase(header.name, lowercase: "upgrade") {
                for protocolName in ASCII.split(Substring(header.value), separator: UInt8(ascii: ",")) {
                    let name = ASCII.trimmed(protocolName)
                    let base = ASCII.split(name, separator: UInt8(ascii: "/"))[0]
                    if ASCII.equalsIgnoringCase(base, lowercase: "websocket") {
                        return ALBRejection(
                            status: 400, reason: "LambdaWebsocketNotSupported",
                            message: "WebSocket upgrades are not supported for Lambda targets")
                    }
                }
            } else if ASCII.equalsIgnoringCase(header.name, lowercase: "x-forwarded-for") {
                let addresses = ASCII.split(Substring(header.value), separator: UInt8(ascii: ","))
                for address in addresses where !ASCII.trimmed(address).isEmpty { forwardedAddresses += 1 }
            }
        }
        if forwardedAddresses > maximumForwardedAddresses {
            return ALBRejection(
                status: 463, reason: "-",
                message:
                    "X-Forwarded-For carries \(forwardedAddresses) addresses, over the limit of "
                    + "\(maximumForwardedAddresses)"
            )
        }
        for header in head.headers where ASCII.equalsIgnoringCase(header.name, lowercase: "content-length") {
            let text = ASCII.trimmed(Substring(header.value))
            // A malformed Content-Length is the HTTP parser's to refuse; only a well-formed, too-large one is ours.
            if text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), !text.isEmpty {
                let declared = Int(text) ?? Int.max
                if declared > options.maximumRequestBodySize {
                    return requestTooLarge(length: declared, limit: options.maximumRequestBodySize)
                }
            }
        }
        return nil
    }

    static func requestTooLarge(length: Int, limit: Int) -> ALBRejection {
        ALBRejection(
            status: 413, reason: "LambdaRequestTooLarge",
            message: "request body is \(length) bytes, over the \(limit)-byte limit for Lambda targets")
    }
}
