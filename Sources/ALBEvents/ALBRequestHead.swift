/// The parts of an HTTP request head the ALB translation needs, as the HTTP layer parsed them. Kept free of
/// NIOHTTP1 types so this module stays pure and the front end can fill it from any parser.
public struct ALBRequestHead: Sendable {
    /// The method as received, e.g. `GET`.
    public var method: String
    /// The raw request target, e.g. `/a%20b?x=1&y`; never percent-decoded.
    public var uri: String
    /// Header fields in arrival order, names as received.
    public var headers: [(name: String, value: String)]
    /// Bytes of the request line (method, target, version, without CRLF), checked against the 16 KiB limit.
    public var requestLineLength: Int
    /// HTTP/1.1 or later (which must carry a `Host` header); false for HTTP/1.0.
    public var requiresHost: Bool

    public init(
        method: String, uri: String, headers: [(name: String, value: String)], requestLineLength: Int? = nil,
        requiresHost: Bool = true
    ) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.requestLineLength = requestLineLength ?? (method.utf8.count + 1 + uri.utf8.count + 9)
        self.requiresHost = requiresHost
    }

    /// The request target in origin form: an absolute-form target (`http://host/p?q`) loses its scheme and
    /// authority, exactly as the event's `path` does; an origin-form target is returned as it is.
    public static func originForm(of target: String) -> Substring {
        let utf8 = target.utf8
        var schemeEnd: String.Index?
        for scheme: StaticString in ["http://", "https://"] {
            let length = scheme.utf8CodeUnitCount
            guard utf8.count >= length else { continue }
            let end = utf8.index(utf8.startIndex, offsetBy: length)
            if ASCII.equalsIgnoringCase(target[..<end], lowercase: scheme) {
                schemeEnd = end
                break
            }
        }
        guard let schemeEnd else { return Substring(target) }
        let start =
            utf8[schemeEnd...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? utf8.endIndex
        return target[start...]
    }

}

/// What the ALB knows about the client connection: it feeds `x-forwarded-*`, the `host` port rule and the
/// optional TLS headers.
public struct ALBConnectionInfo: Sendable, Hashable {
    /// The client's IP address, e.g. `203.0.113.10` or `2001:db8::1` (no brackets). An IPv4-mapped IPv6
    /// address (`::ffff:203.0.113.10`) is written as the IPv4 address.
    public var clientAddress: String
    public var clientPort: Int
    /// The port of the listener the client connected to.
    public var listenerPort: Int
    public var isHTTPS: Bool
    /// The negotiated protocol in OpenSSL naming, e.g. `TLSv1.3`; used only with `tlsHeaders`.
    public var tlsProtocol: String?
    /// The negotiated cipher suite in OpenSSL naming, e.g. `TLS_AES_128_GCM_SHA256`; used only with `tlsHeaders`.
    public var tlsCipherSuite: String?

    public init(
        clientAddress: String, clientPort: Int, listenerPort: Int, isHTTPS: Bool, tlsProtocol: String? = nil,
        tlsCipherSuite: String? = nil
    ) {
        self.clientAddress = clientAddress
        self.clientPort = clientPort
        self.listenerPort = listenerPort
        self.isHTTPS = isHTTPS
        self.tlsProtocol = tlsProtocol
        self.tlsCipherSuite = tlsCipherSuite
    }
}
