public import NIOCore

/// The files of one certificate: a PEM chain (leaf first, then intermediates) and its PEM private key.
/// Paths rather than bytes, because `TLSServerContext.reload()` re-reads them.
public struct TLSCertificateFiles: Sendable, Hashable {
    public var certificateChainPath: String
    public var privateKeyPath: String

    public init(certificateChainPath: String, privateKeyPath: String) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
    }
}

/// Everything an HTTPS listener needs to build its OpenSSL context. Plain values, so the configuration loader
/// can build it and tests can vary one field at a time.
public struct TLSServerConfiguration: Sendable, Hashable {
    /// The default certificate (served without SNI or when no name matches), as on an ALB listener.
    public var defaultCertificate: TLSCertificateFiles
    /// The listener's certificate list for SNI. The default certificate takes part in SNI matching too.
    public var additionalCertificates: [TLSCertificateFiles]
    public var policy: TLSSecurityPolicy
    /// ALPN protocols in server preference order. Only `http/1.1` is served today; put `h2` first once the
    /// front end speaks HTTP/2. A client offering none of them is served without ALPN.
    public var alpnProtocols: [String]
    /// Connections that have not finished their handshake after this long are closed.
    public var handshakeTimeout: TimeAmount
    /// After sending close_notify, how long to wait for the peer's before closing anyway.
    public var closeTimeout: TimeAmount
    /// Entries of the server-side session cache (TLS 1.2 session IDs). 0 turns the cache off.
    public var sessionCacheSize: Int
    /// Lifetime of a session (cache entry or ticket), in seconds.
    public var sessionTimeoutSeconds: Int
    /// Session tickets are encrypted with a key that is replaced this often; tickets of the previous
    /// `ticketKeysRetained` keys are still accepted (and renewed).
    public var ticketKeyRotationSeconds: Int
    public var ticketKeysRetained: Int
    /// TLS 1.3 tickets sent after each full handshake.
    public var ticketsPerHandshake: Int

    public init(
        defaultCertificate: TLSCertificateFiles,
        additionalCertificates: [TLSCertificateFiles] = [],
        policy: TLSSecurityPolicy = .default,
        alpnProtocols: [String] = ["http/1.1"],
        handshakeTimeout: TimeAmount = .seconds(10),
        closeTimeout: TimeAmount = .seconds(5),
        sessionCacheSize: Int = 20_000,
        sessionTimeoutSeconds: Int = 3_600,
        ticketKeyRotationSeconds: Int = 3_600,
        ticketKeysRetained: Int = 2,
        ticketsPerHandshake: Int = 1
    ) {
        self.defaultCertificate = defaultCertificate
        self.additionalCertificates = additionalCertificates
        self.policy = policy
        self.alpnProtocols = alpnProtocols
        self.handshakeTimeout = handshakeTimeout
        self.closeTimeout = closeTimeout
        self.sessionCacheSize = sessionCacheSize
        self.sessionTimeoutSeconds = sessionTimeoutSeconds
        self.ticketKeyRotationSeconds = ticketKeyRotationSeconds
        self.ticketKeysRetained = ticketKeysRetained
        self.ticketsPerHandshake = ticketsPerHandshake
    }

    /// The default certificate followed by the additional ones.
    public var allCertificates: [TLSCertificateFiles] { [defaultCertificate] + additionalCertificates }

    func validate() throws {
        if alpnProtocols.contains(where: { $0.isEmpty || $0.utf8.count > 255 }) {
            throw TLSError.invalidConfiguration("ALPN protocol names must be 1 to 255 bytes long")
        }
        if handshakeTimeout <= .zero { throw TLSError.invalidConfiguration("handshakeTimeout must be positive") }
        if closeTimeout < .zero { throw TLSError.invalidConfiguration("closeTimeout must not be negative") }
        if sessionCacheSize < 0 { throw TLSError.invalidConfiguration("sessionCacheSize must not be negative") }
        if sessionTimeoutSeconds <= 0 || ticketKeyRotationSeconds <= 0 {
            throw TLSError.invalidConfiguration("session timeout and ticket key rotation must be positive")
        }
        if ticketKeysRetained < 0 || ticketsPerHandshake < 0 {
            throw TLSError.invalidConfiguration("ticketKeysRetained and ticketsPerHandshake must not be negative")
        }
    }
}
