internal import COpenSSL

/// One immutable OpenSSL server context built from the files as they were at load time. `reload()` builds a
/// new generation and swaps it in; connections keep a strong reference to the generation they started with,
/// so the `SSL_CTX` and the certificates its callbacks use outlive every connection made from it.
final class TLSContextGeneration: @unchecked Sendable {
    let context: OpaquePointer  // SSL_CTX*
    let configuration: TLSServerConfiguration
    let certificates: [LoadedCertificate]
    let matcher: ServerNameMatcher
    let ticketKeys: TicketKeyRing
    /// ALPN protocols in wire format (length-prefixed), read by the ALPN callback.
    private let alpnWire: UnsafeMutableBufferPointer<UInt8>

    init(configuration: TLSServerConfiguration, ticketKeys: TicketKeyRing) throws {
        try configuration.validate()
        let certificates = try configuration.allCertificates.map { try LoadedCertificate(files: $0) }
        self.certificates = certificates
        self.configuration = configuration
        self.ticketKeys = ticketKeys
        self.matcher = ServerNameMatcher(
            certificates.map {
                .init(dnsNames: $0.dnsNames, isECDSA: $0.keyType == .ecdsa, keyBits: $0.keyBits, notAfter: $0.notAfter)
            }
        )
        var wire: [UInt8] = []
        for name in configuration.alpnProtocols {
            wire.append(UInt8(name.utf8.count))
            wire.append(contentsOf: name.utf8)
        }
        alpnWire = .allocate(capacity: max(1, wire.count))
        _ = alpnWire.initialize(from: wire)
        let alpnCount = wire.count

        OpenSSLErrorQueue.clear()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            alpnWire.deallocate()
            throw OpenSSLErrorQueue.error("SSL_CTX_new")
        }
        self.context = context
        try configure(alpnCount: alpnCount)
    }

    deinit {
        SSL_CTX_free(context)
        alpnWire.deallocate()
    }

    private func configure(alpnCount: Int) throws {
        let policy = configuration.policy
        func check(_ result: Int32, _ operation: String) throws {
            if result != 1 { throw OpenSSLErrorQueue.error(operation + " (policy \(policy.name))") }
        }
        SSL_CTX_set_security_level(context, Int32(policy.securityLevel))
        try check(
            albatross_SSL_CTX_set_min_proto_version(context, Int32(policy.minimumVersion.rawValue)),
            "SSL_CTX_set_min_proto_version")
        try check(
            albatross_SSL_CTX_set_max_proto_version(context, Int32(policy.maximumVersion.rawValue)),
            "SSL_CTX_set_max_proto_version")
        try check(SSL_CTX_set_cipher_list(context, policy.openSSLCipherList), "SSL_CTX_set_cipher_list")
        try check(SSL_CTX_set_ciphersuites(context, policy.openSSLCipherSuites), "SSL_CTX_set_ciphersuites")
        try check(albatross_SSL_CTX_set1_groups_list(context, "X25519:P-256:P-384"), "SSL_CTX_set1_groups_list")

        _ = albatross_SSL_CTX_set_options(
            context,
            albatross_SSL_OP_NO_RENEGOTIATION() | albatross_SSL_OP_CIPHER_SERVER_PREFERENCE()
                | albatross_SSL_OP_NO_COMPRESSION()
        )
        _ = albatross_SSL_CTX_clear_options(context, albatross_SSL_OP_ALLOW_CLIENT_RENEGOTIATION())
        _ = albatross_SSL_CTX_set_mode(
            context, albatross_SSL_MODE_RELEASE_BUFFERS() | albatross_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER()
        )

        // Resumption: a server-side cache for TLS 1.2 session IDs, and tickets under rotating keys.
        if configuration.sessionCacheSize > 0 {
            _ = albatross_SSL_CTX_set_session_cache_mode(context, albatross_SSL_SESS_CACHE_SERVER())
            _ = albatross_SSL_CTX_sess_set_cache_size(context, configuration.sessionCacheSize)
        } else {
            _ = albatross_SSL_CTX_set_session_cache_mode(context, albatross_SSL_SESS_CACHE_OFF())
        }
        _ = SSL_CTX_set_timeout(context, configuration.sessionTimeoutSeconds)
        let sessionContext = Array("albatross".utf8)
        try check(
            SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count)),
            "SSL_CTX_set_session_id_context")
        try check(SSL_CTX_set_num_tickets(context, configuration.ticketsPerHandshake), "SSL_CTX_set_num_tickets")
        try check(
            albatross_SSL_CTX_set_tlsext_ticket_key_evp_cb(context, ticketKeyCallback),
            "SSL_CTX_set_tlsext_ticket_key_evp_cb")

        let this = Unmanaged.passUnretained(self).toOpaque()
        _ = albatross_SSL_CTX_set_app_data(context, this)
        _ = albatross_SSL_CTX_set_tlsext_servername_callback(context, serverNameCallback)
        _ = albatross_SSL_CTX_set_tlsext_servername_arg(context, this)
        if alpnCount > 0 {
            SSL_CTX_set_alpn_select_cb(context, alpnSelectCallback, this)
        }
        _ = alpnCount
    }

    /// The generation whose context `ssl` was made from (valid while the connection holds the generation).
    static func of(_ ssl: OpaquePointer) -> TLSContextGeneration? {
        guard let context = SSL_get_SSL_CTX(ssl), let raw = albatross_SSL_CTX_get_app_data(context) else {
            return nil
        }
        return Unmanaged<TLSContextGeneration>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Installs the certificate chosen for `serverName` on `ssl`.
    func useCertificate(on ssl: OpaquePointer, serverName: String?) -> Bool {
        let certificate = certificates[matcher.select(serverName: serverName)]
        return SSL_use_cert_and_key(ssl, certificate.leaf, certificate.key, certificate.chain, 1) == 1
    }

    func selectALPN(
        _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>,
        _ outLength: UnsafeMutablePointer<UInt8>,
        _ offered: UnsafePointer<UInt8>,
        _ offeredLength: UInt32
    ) -> Int32 {
        var selected: UnsafeMutablePointer<UInt8>?
        var selectedLength: UInt8 = 0
        let result = SSL_select_next_proto(
            &selected, &selectedLength, alpnWire.baseAddress, UInt32(alpnWire.count), offered, offeredLength
        )
        guard result == OPENSSL_NPN_NEGOTIATED, let selected else { return albatross_SSL_TLSEXT_ERR_NOACK() }
        out.pointee = UnsafePointer(selected)
        outLength.pointee = selectedLength
        return albatross_SSL_TLSEXT_ERR_OK()
    }
}

/// SNI: runs for every ClientHello (with or without a server_name extension) and installs the certificate.
private let serverNameCallback: albatross_servername_cb = { ssl, alert, _ in
    guard let ssl, let generation = TLSContextGeneration.of(ssl) else { return albatross_SSL_TLSEXT_ERR_ALERT_FATAL() }
    let name = SSL_get_servername(ssl, albatross_TLSEXT_NAMETYPE_host_name()).map { String(cString: $0) }
    if generation.useCertificate(on: ssl, serverName: name) { return albatross_SSL_TLSEXT_ERR_OK() }
    alert?.pointee = Int32(SSL_AD_INTERNAL_ERROR)
    return albatross_SSL_TLSEXT_ERR_ALERT_FATAL()
}

private let alpnSelectCallback:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { _, out, outLength, offered, offeredLength, arg in
        guard let out, let outLength, let offered, let arg else { return albatross_SSL_TLSEXT_ERR_NOACK() }
        let generation = Unmanaged<TLSContextGeneration>.fromOpaque(arg).takeUnretainedValue()
        return generation.selectALPN(out, outLength, offered, offeredLength)
    }

/// Session ticket keys: `enc == 1` asks for the key of a new ticket, otherwise for the key a ticket names.
/// Returns 1 (use), 2 (use and renew the ticket: it was made with an older key), 0 (unknown: full handshake),
/// -1 (failure).
private let ticketKeyCallback: albatross_ticket_key_cb = { ssl, keyName, iv, cipherContext, macContext, enc in
    guard let ssl, let keyName, let iv, let cipherContext, let macContext,
        let generation = TLSContextGeneration.of(ssl)
    else { return -1 }
    let cipher = EVP_aes_256_cbc()
    let ivLength = EVP_CIPHER_get_iv_length(cipher)
    if enc == 1 {
        guard let key = try? generation.ticketKeys.encryptionKey() else { return -1 }
        key.name.withUnsafeBufferPointer { keyName.update(from: $0.baseAddress!, count: TicketKeyRing.Key.nameLength) }
        guard RAND_bytes(iv, ivLength) == 1,
            EVP_EncryptInit_ex(cipherContext, cipher, nil, key.cipherKey, iv) == 1,
            albatross_ticket_mac_init(macContext, key.macKey, key.macKey.count) == 1
        else { return -1 }
        return 1
    }
    guard let (key, isCurrent) = generation.ticketKeys.decryptionKey(named: keyName) else { return 0 }
    guard albatross_ticket_mac_init(macContext, key.macKey, key.macKey.count) == 1,
        EVP_DecryptInit_ex(cipherContext, cipher, nil, key.cipherKey, iv) == 1
    else { return -1 }
    return isCurrent ? 1 : 2
}
