internal import COpenSSL
import Synchronization

/// The OpenSSL server side of an HTTPS listener: certificates with SNI selection, ALPN, the security policy and
/// session resumption. One context serves every connection of a listener from any thread; `reload()` swaps in
/// new certificates for new connections while live ones finish with the context they started with.
public final class TLSServerContext: Sendable {
    /// The configuration the context was built from; `reload()` re-reads the same files.
    public let configuration: TLSServerConfiguration
    private let ticketKeys: TicketKeyRing
    private let current: Mutex<TLSContextGeneration>

    /// Loads the certificates and builds the OpenSSL context. Blocking file I/O: call it off the event loops.
    /// - Throws: `TLSError` naming the file at fault (missing, unreadable, bad PEM, key not matching), or
    ///   `.invalidConfiguration` / `.openSSL` for settings OpenSSL refuses.
    public init(configuration: TLSServerConfiguration) throws {
        self.configuration = configuration
        let ticketKeys = try TicketKeyRing(
            rotationSeconds: configuration.ticketKeyRotationSeconds, retained: configuration.ticketKeysRetained
        )
        self.ticketKeys = ticketKeys
        self.current = Mutex(try TLSContextGeneration(configuration: configuration, ticketKeys: ticketKeys))
    }

    /// A context with a single (default) certificate.
    public convenience init(
        certificateChainPath: String, privateKeyPath: String, policy: TLSSecurityPolicy = .default
    ) throws {
        try self.init(
            configuration: TLSServerConfiguration(
                defaultCertificate: TLSCertificateFiles(
                    certificateChainPath: certificateChainPath, privateKeyPath: privateKeyPath
                ),
                policy: policy
            )
        )
    }

    /// Re-reads every certificate and key file and, when all of them load, uses them for new connections.
    /// Live connections are untouched. On error the previous certificates stay in use. Blocking file I/O.
    public func reload() throws {
        let fresh = try TLSContextGeneration(configuration: configuration, ticketKeys: ticketKeys)
        current.withLock { $0 = fresh }
    }

    /// Reloads when any certificate or key file changed since the last load (content comparison), for
    /// callers that poll the files or react to SIGHUP. Returns whether it reloaded.
    @discardableResult
    public func reloadIfChanged() throws -> Bool {
        let loaded = generation()
        let changed = try configuration.allCertificates.enumerated().contains { index, files in
            let before = loaded.certificates[index].fileContents
            return try FileAccess.readFile(files.certificateChainPath) != before[0]
                || FileAccess.readFile(files.privateKeyPath) != before[1]
        }
        if changed { try reload() }
        return changed
    }

    /// Starts a new ticket key now; tickets under the previous keys are still accepted while retained.
    public func rotateTicketKeys() throws {
        try ticketKeys.rotate()
    }

    /// What is loaded, for logs and diagnostics.
    public var certificates: [TLSCertificateSummary] {
        generation().certificates.map {
            TLSCertificateSummary(
                files: $0.files, subject: $0.subject, dnsNames: $0.dnsNames, keyType: $0.keyType.rawValue,
                keyBits: $0.keyBits, notAfter: $0.notAfter
            )
        }
    }

    /// Entries in the server-side session cache of the current generation.
    public var sessionCacheCount: Int {
        let generation = generation()
        return albatross_SSL_CTX_sess_number(generation.context)
    }

    /// The certificate that would be served for `serverName` (nil: no SNI), as an index into `certificates`.
    public func certificateIndex(forServerName serverName: String?) -> Int {
        generation().matcher.select(serverName: serverName)
    }

    /// A new handler for one accepted connection.
    public func makeHandler() -> TLSServerHandler {
        TLSServerHandler(context: self)
    }

    func generation() -> TLSContextGeneration {
        current.withLock { $0 }
    }
}

/// A description of one loaded certificate.
public struct TLSCertificateSummary: Sendable, Hashable {
    public let files: TLSCertificateFiles
    /// The subject in OpenSSL's one-line form ("/CN=example.test").
    public let subject: String
    /// The DNS names used for SNI matching (lower case).
    public let dnsNames: [String]
    /// "ECDSA" or "RSA".
    public let keyType: String
    public let keyBits: Int
    /// notAfter in seconds since 1970.
    public let notAfter: Int64
}
