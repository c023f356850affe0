/// Fired as a user inbound event once a connection's handshake is done, so handlers behind the TLS handler
/// (the ALB front end) can log it and fill `x-amzn-tls-version` / `x-amzn-tls-cipher-suite`.
public struct TLSHandshakeCompleted: Sendable, Hashable {
    /// OpenSSL's protocol name, e.g. "TLSv1.3" or "TLSv1.2".
    public let protocolVersion: String
    /// OpenSSL's cipher suite name, e.g. "TLS_AES_128_GCM_SHA256" or "ECDHE-ECDSA-AES128-GCM-SHA256"
    /// (the spelling ALB uses in `x-amzn-tls-cipher-suite`).
    public let cipherSuite: String
    /// The ALPN protocol agreed on, nil when the client offered none we serve.
    public let alpn: String?
    /// The SNI host name the client sent, nil without SNI.
    public let serverName: String?
    /// Whether the session was resumed (ticket or session cache) rather than fully negotiated.
    public let sessionReused: Bool

    public init(protocolVersion: String, cipherSuite: String, alpn: String?, serverName: String?, sessionReused: Bool) {
        self.protocolVersion = protocolVersion
        self.cipherSuite = cipherSuite
        self.alpn = alpn
        self.serverName = serverName
        self.sessionReused = sessionReused
    }
}
