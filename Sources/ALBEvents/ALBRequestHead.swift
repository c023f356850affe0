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

    public init(method: String, uri: String, headers: [(name: String, value: String)], requestLineLength: Int? = nil) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.requestLineLength = requestLineLength ?? (method.utf8.count + 1 + uri.utf8.count + 9)
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
