internal import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// One certificate with its chain and private key, parsed and checked, owning its OpenSSL objects.
/// Immutable after init and only read afterwards (OpenSSL reference counting is thread-safe), hence Sendable.
final class LoadedCertificate: @unchecked Sendable {
    enum KeyType: String, Sendable { case ecdsa = "ECDSA", rsa = "RSA" }

    let files: TLSCertificateFiles
    let leaf: OpaquePointer  // X509*
    let chain: OpaquePointer  // STACK_OF(X509)*, intermediates only
    let key: OpaquePointer  // EVP_PKEY*
    let keyType: KeyType
    let keyBits: Int
    /// Lower-cased DNS names of the subjectAltName (or the subject CN when there is none).
    let dnsNames: [String]
    let subject: String
    /// Seconds since the epoch of notAfter, for ranking equal matches.
    let notAfter: Int64
    /// The bytes read, so a reload can tell whether anything changed.
    let fileContents: [[UInt8]]

    init(files: TLSCertificateFiles) throws {
        self.files = files
        let chainBytes = try FileAccess.readFile(files.certificateChainPath)
        let keyBytes = try FileAccess.readFile(files.privateKeyPath)
        fileContents = [chainBytes, keyBytes]

        let certificates = try Self.readCertificates(chainBytes, path: files.certificateChainPath)
        let key = try Self.readPrivateKey(keyBytes, path: files.privateKeyPath)

        let base = EVP_PKEY_get_base_id(key)
        let keyType: KeyType
        if base == albatross_EVP_PKEY_EC() {
            keyType = .ecdsa
        } else if base == albatross_EVP_PKEY_RSA() {
            keyType = .rsa
        } else {
            EVP_PKEY_free(key)
            certificates.forEach { X509_free($0) }
            throw TLSError.unsupportedKey(files.privateKeyPath, "only ECDSA and RSA keys are supported, as on ALB")
        }
        OpenSSLErrorQueue.clear()
        guard X509_check_private_key(certificates[0], key) == 1 else {
            OpenSSLErrorQueue.clear()
            EVP_PKEY_free(key)
            certificates.forEach { X509_free($0) }
            throw TLSError.keyMismatch(certificatePath: files.certificateChainPath, keyPath: files.privateKeyPath)
        }
        let stack = albatross_x509_stack_new()!
        for intermediate in certificates.dropFirst() { _ = albatross_x509_stack_push(stack, intermediate) }

        self.leaf = certificates[0]
        self.chain = stack
        self.key = key
        self.keyType = keyType
        self.keyBits = Int(EVP_PKEY_get_bits(key))
        self.subject = Self.subjectLine(certificates[0])
        let sanNames = Self.subjectAltDNSNames(certificates[0])
        self.dnsNames = sanNames.isEmpty ? Self.commonNames(certificates[0]) : sanNames
        self.notAfter = Self.notAfterSeconds(certificates[0])
    }

    deinit {
        X509_free(leaf)
        albatross_x509_stack_free(chain)
        EVP_PKEY_free(key)
    }

    private static func readCertificates(_ bytes: [UInt8], path: String) throws -> [OpaquePointer] {
        OpenSSLErrorQueue.clear()
        guard let bio = bytes.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw OpenSSLErrorQueue.error("BIO_new_mem_buf")
        }
        defer { BIO_free(bio) }
        var certificates: [OpaquePointer] = []
        while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
            certificates.append(certificate)
        }
        // Reaching the end of the input leaves a "no start line" entry; anything else means a damaged block.
        let trailing = ERR_peek_last_error()
        let endOfInput = ERR_GET_REASON(trailing) == PEM_R_NO_START_LINE
        let detail = OpenSSLErrorQueue.drain()
        if certificates.isEmpty || !endOfInput {
            certificates.forEach { X509_free($0) }
            throw TLSError.badPEM(path, expected: "certificate chain", detail: detail)
        }
        return certificates
    }

    private static func readPrivateKey(_ bytes: [UInt8], path: String) throws -> OpaquePointer {
        OpenSSLErrorQueue.clear()
        guard let bio = bytes.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw OpenSSLErrorQueue.error("BIO_new_mem_buf")
        }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
            throw TLSError.badPEM(path, expected: "private key", detail: OpenSSLErrorQueue.drain())
        }
        return key
    }

    static func subjectAltDNSNames(_ certificate: OpaquePointer) -> [String] {
        guard let names = albatross_x509_subject_alt_names(certificate) else {
            OpenSSLErrorQueue.clear()
            return []
        }
        defer { albatross_general_names_free(names) }
        var result: [String] = []
        for index in 0..<albatross_general_names_count(names) {
            var data: UnsafePointer<UInt8>?
            var length: Int32 = 0
            if albatross_general_name_dns(names, index, &data, &length) == 1, let data {
                let name = String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
                result.append(ServerNameMatcher.normalize(name))
            }
        }
        return result
    }

    private static func commonNames(_ certificate: OpaquePointer) -> [String] {
        guard let name = X509_get_subject_name(certificate) else { return [] }
        var result: [String] = []
        var last: Int32 = -1
        while true {
            last = X509_NAME_get_index_by_NID(name, albatross_NID_commonName(), last)
            if last < 0 { break }
            guard let entry = X509_NAME_get_entry(name, last), let data = X509_NAME_ENTRY_get_data(entry) else {
                continue
            }
            let bytes = UnsafeBufferPointer(start: ASN1_STRING_get0_data(data), count: Int(ASN1_STRING_length(data)))
            result.append(ServerNameMatcher.normalize(String(decoding: bytes, as: UTF8.self)))
        }
        return result
    }

    static func subjectLine(_ certificate: OpaquePointer) -> String {
        guard let name = X509_get_subject_name(certificate), let text = X509_NAME_oneline(name, nil, 0) else {
            return ""
        }
        defer { CRYPTO_free(text, #fileID, #line) }
        return String(cString: text)
    }

    private static func notAfterSeconds(_ certificate: OpaquePointer) -> Int64 {
        guard let time = X509_get0_notAfter(certificate) else { return 0 }
        var tm = tm()
        guard ASN1_TIME_to_tm(time, &tm) == 1 else { return 0 }
        return Int64(timegm(&tm))
    }
}
