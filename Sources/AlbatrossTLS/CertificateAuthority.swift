internal import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// A local certificate authority for development, the engine of `albatross cert`: it lets `curl --cacert`,
/// Python's ssl module and browsers (once `ca.pem` is trusted) talk to an HTTPS listener without `-k`.
///
/// Layout of its directory: `ca.pem` (self-signed CA certificate, ECDSA P-256, 10 years) and `ca-key.pem`
/// (mode 0600). Issued leaf certificates are written as `<name>.pem` (the leaf alone: the CA is the trust
/// anchor, so the chain a server sends is just the leaf) and `<name>-key.pem` (mode 0600).
public struct CertificateAuthority: Sendable {
    /// The kind of key of an issued certificate.
    public enum KeyType: Sendable, Hashable {
        case ecdsaP256
        case rsa(bits: Int)
    }

    /// A certificate written by `issue`.
    public struct IssuedCertificate: Sendable, Hashable {
        public let certificatePath: String
        public let privateKeyPath: String
        /// The CA certificate clients must trust.
        public let caCertificatePath: String
        public let dnsNames: [String]
        public let ipAddresses: [String]

        /// The files in the form an HTTPS listener configuration takes.
        public var files: TLSCertificateFiles {
            TLSCertificateFiles(certificateChainPath: certificatePath, privateKeyPath: privateKeyPath)
        }
    }

    public let directory: String
    public var certificatePath: String { directory + "/ca.pem" }
    public var privateKeyPath: String { directory + "/ca-key.pem" }

    private init(directory: String) { self.directory = directory }

    /// Opens the CA in `directory`, creating the directory (mode 0700) and a new CA when `ca.pem` is missing.
    /// Blocking file I/O and key generation: not on an event loop.
    /// - Throws: `TLSError` naming the file that cannot be written, or the CA file that is damaged.
    public static func openOrCreate(
        in directory: String, commonName: String = "Albatross Local Development CA"
    ) throws -> CertificateAuthority {
        let authority = CertificateAuthority(directory: directory)
        if FileAccess.exists(authority.certificatePath) {
            _ = try LoadedCertificate(
                files: TLSCertificateFiles(
                    certificateChainPath: authority.certificatePath, privateKeyPath: authority.privateKeyPath
                )
            )
            return authority
        }
        try FileAccess.makeDirectory(directory, mode: 0o700)
        let key = try generateKey(.ecdsaP256)
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw OpenSSLErrorQueue.error("X509_new") }
        defer { X509_free(certificate) }
        try fill(certificate, subjectCN: commonName, publicKey: key, validityDays: 3_650)
        try setIssuer(of: certificate, to: certificate)
        try addExtensions(
            to: certificate, issuer: certificate,
            [
                (albatross_NID_basic_constraints(), "critical,CA:TRUE,pathlen:0"),
                (albatross_NID_key_usage(), "critical,keyCertSign,cRLSign"),
                (albatross_NID_subject_key_identifier(), "hash"),
                (albatross_NID_authority_key_identifier(), "keyid:always"),
            ]
        )
        try sign(certificate, with: key)
        // Key first, so a crash between the two writes never leaves a CA certificate without its key.
        try FileAccess.writeAtomically(authority.privateKeyPath, try pem(privateKey: key), mode: 0o600)
        try FileAccess.writeAtomically(authority.certificatePath, try pem(certificate: certificate), mode: 0o644)
        return authority
    }

    /// Issues a server certificate for `hostNames` (DNS names, `*.` wildcards, IPv4/IPv6 addresses), valid for
    /// `validityDays` with serverAuth usage, signed by this CA, and writes it to `outputDirectory` (default: the
    /// CA directory) as `<fileStem>.pem` and `<fileStem>-key.pem`. The first host name is the subject CN and
    /// the default file stem.
    public func issue(
        hostNames: [String],
        keyType: KeyType = .ecdsaP256,
        validityDays: Int = 365,
        outputDirectory: String? = nil,
        fileStem: String? = nil
    ) throws -> IssuedCertificate {
        guard let first = hostNames.first else {
            throw TLSError.invalidConfiguration("a certificate needs at least one host name")
        }
        guard validityDays >= 1 else {
            throw TLSError.invalidConfiguration(
                "a certificate must be valid for at least 1 day, got \(validityDays) (it would be expired at once)")
        }
        var dnsNames: [String] = []
        var ipAddresses: [String] = []
        for name in hostNames {
            if Self.isIPAddress(name) {
                ipAddresses.append(name)
            } else if Self.isValidDNSName(name) {
                dnsNames.append(name.lowercased())
            } else {
                throw TLSError.invalidConfiguration("'\(name)' is neither a host name nor an IP address")
            }
        }
        let outputDirectory = outputDirectory ?? directory
        let stem = fileStem ?? String(first.map { $0 == "*" || $0 == ":" || $0 == "/" ? "_" : $0 })
        let ca = try LoadedCertificate(
            files: TLSCertificateFiles(certificateChainPath: certificatePath, privateKeyPath: privateKeyPath)
        )

        let key = try Self.generateKey(keyType)
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw OpenSSLErrorQueue.error("X509_new") }
        defer { X509_free(certificate) }
        try Self.fill(certificate, subjectCN: first, publicKey: key, validityDays: validityDays)
        try Self.setIssuer(of: certificate, to: ca.leaf)
        let alternativeNames = (dnsNames.map { "DNS:" + $0 } + ipAddresses.map { "IP:" + $0 }).joined(separator: ",")
        let keyUsage = keyType == .ecdsaP256 ? "critical,digitalSignature" : "critical,digitalSignature,keyEncipherment"
        try Self.addExtensions(
            to: certificate, issuer: ca.leaf,
            [
                (albatross_NID_basic_constraints(), "critical,CA:FALSE"),
                (albatross_NID_key_usage(), keyUsage),
                (albatross_NID_ext_key_usage(), "serverAuth"),
                (albatross_NID_subject_alt_name(), alternativeNames),
                (albatross_NID_subject_key_identifier(), "hash"),
                (albatross_NID_authority_key_identifier(), "keyid:always"),
            ]
        )
        try Self.sign(certificate, with: ca.key)

        try FileAccess.makeDirectory(outputDirectory, mode: 0o700)
        let certificatePath = outputDirectory + "/" + stem + ".pem"
        let keyPath = outputDirectory + "/" + stem + "-key.pem"
        try FileAccess.writeAtomically(keyPath, try Self.pem(privateKey: key), mode: 0o600)
        try FileAccess.writeAtomically(certificatePath, try Self.pem(certificate: certificate), mode: 0o644)
        return IssuedCertificate(
            certificatePath: certificatePath, privateKeyPath: keyPath, caCertificatePath: self.certificatePath,
            dnsNames: dnsNames, ipAddresses: ipAddresses
        )
    }

    // MARK: OpenSSL steps

    private static func generateKey(_ type: KeyType) throws -> OpaquePointer {
        OpenSSLErrorQueue.clear()
        let key: OpaquePointer?
        switch type {
        case .ecdsaP256: key = albatross_generate_ec_key("P-256")
        case .rsa(let bits):
            guard bits >= 2048 else { throw TLSError.invalidConfiguration("RSA keys need at least 2048 bits") }
            key = albatross_generate_rsa_key(bits)
        }
        guard let key else { throw OpenSSLErrorQueue.error("EVP_PKEY_Q_keygen") }
        return key
    }

    private static func fill(
        _ certificate: OpaquePointer, subjectCN: String, publicKey: OpaquePointer, validityDays: Int
    ) throws {
        OpenSSLErrorQueue.clear()
        guard X509_set_version(certificate, 2) == 1,  // v3
            albatross_x509_set_random_serial(certificate) == 1,
            X509_gmtime_adj(X509_getm_notBefore(certificate), -300) != nil,  // tolerate small clock skew
            X509_time_adj_ex(X509_getm_notAfter(certificate), Int32(validityDays), 0, nil) != nil,
            X509_set_pubkey(certificate, publicKey) == 1,
            let name = X509_get_subject_name(certificate),
            albatross_x509_name_add_text(name, "CN", subjectCN) == 1
        else { throw OpenSSLErrorQueue.error("building the certificate for \(subjectCN)") }
    }

    private static func setIssuer(of certificate: OpaquePointer, to issuer: OpaquePointer) throws {
        guard X509_set_issuer_name(certificate, X509_get_subject_name(issuer)) == 1 else {
            throw OpenSSLErrorQueue.error("X509_set_issuer_name")
        }
    }

    private static func addExtensions(
        to certificate: OpaquePointer, issuer: OpaquePointer, _ extensions: [(Int32, String)]
    ) throws {
        for (nid, value) in extensions {
            OpenSSLErrorQueue.clear()
            guard albatross_x509_add_extension(certificate, issuer, nid, value) == 1 else {
                throw OpenSSLErrorQueue.error("adding the X.509 extension '\(value)'")
            }
        }
    }

    private static func sign(_ certificate: OpaquePointer, with key: OpaquePointer) throws {
        OpenSSLErrorQueue.clear()
        guard X509_sign(certificate, key, EVP_sha256()) > 0 else { throw OpenSSLErrorQueue.error("X509_sign") }
    }

    private static func pem(certificate: OpaquePointer) throws -> [UInt8] {
        try withMemoryBIO { PEM_write_bio_X509($0, certificate) }
    }

    private static func pem(privateKey: OpaquePointer) throws -> [UInt8] {
        try withMemoryBIO { PEM_write_bio_PrivateKey($0, privateKey, nil, nil, 0, nil, nil) }
    }

    private static func withMemoryBIO(_ write: (OpaquePointer) -> Int32) throws -> [UInt8] {
        OpenSSLErrorQueue.clear()
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLErrorQueue.error("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw OpenSSLErrorQueue.error("PEM_write_bio") }
        var data: UnsafeMutablePointer<CChar>?
        let length = albatross_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { throw OpenSSLErrorQueue.error("BIO_get_mem_data") }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    // MARK: Names

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// Letters, digits, hyphens and dots, labels of 1–63 bytes, with an optional leading `*.` wildcard label.
    static func isValidDNSName(_ name: String) -> Bool {
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*" { labels.removeFirst() }
        guard !labels.isEmpty, name.utf8.count <= 253 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy {
                    $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0)
                        || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0)
                }
        }
    }
}
