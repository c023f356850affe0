import COpenSSL
import NIOCore

/// A test-only OpenSSL *client* over two memory BIOs, independent of the server code under test, so the
/// in-memory tests exercise the server handler against a real TLS peer.
final class TestTLSClient {
    struct Options {
        var trustedCAPath: String?
        var serverName: String?
        /// Host name to verify the certificate against (defaults to `serverName`).
        var verifyHost: String?
        var alpn: [String] = []
        var minVersion: Int32?
        var maxVersion: Int32?
        var cipherList: String?
        var cipherSuites: String?
        var session: OpaquePointer?
        var disableTickets = false
    }

    enum Status: Equatable {
        case handshaking
        case established
        case failed(String)
    }

    private let context: OpaquePointer
    let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    private(set) var status: Status = .handshaking
    private(set) var received: [UInt8] = []
    private(set) var receivedCloseNotify = false
    private(set) var readError: String?

    init(_ options: Options) {
        context = SSL_CTX_new(TLS_client_method())!
        if let ca = options.trustedCAPath {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            precondition(SSL_CTX_load_verify_locations(context, ca, nil) == 1)
        }
        if let list = options.cipherList { precondition(SSL_CTX_set_cipher_list(context, list) == 1) }
        if let suites = options.cipherSuites { precondition(SSL_CTX_set_ciphersuites(context, suites) == 1) }
        if options.disableTickets { _ = albatross_SSL_CTX_set_options(context, albatross_SSL_OP_NO_TICKET()) }
        _ = albatross_SSL_CTX_set_session_cache_mode(context, albatross_SSL_SESS_CACHE_CLIENT())
        ssl = SSL_new(context)!
        readBIO = BIO_new(BIO_s_mem())!
        writeBIO = BIO_new(BIO_s_mem())!
        _ = albatross_BIO_set_mem_eof_return(readBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)
        SSL_set_connect_state(ssl)
        if let v = options.minVersion { _ = albatross_SSL_set_min_proto_version(ssl, v) }
        if let v = options.maxVersion { _ = albatross_SSL_set_max_proto_version(ssl, v) }
        if let name = options.serverName { _ = albatross_SSL_set_tlsext_host_name(ssl, name) }
        if options.trustedCAPath != nil, let host = options.verifyHost {
            _ = SSL_set1_host(ssl, host)
        }
        if !options.alpn.isEmpty {
            var wire: [UInt8] = []
            for name in options.alpn { wire.append(UInt8(name.utf8.count)); wire += Array(name.utf8) }
            _ = SSL_set_alpn_protos(ssl, wire, UInt32(wire.count))
        }
        if let session = options.session { _ = SSL_set_session(ssl, session) }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            if bytes.count > 0 { _ = BIO_write(readBIO, bytes.baseAddress, Int32(bytes.count)) }
        }
    }

    func takeOutput() -> ByteBuffer? {
        let pending = albatross_BIO_ctrl_pending(writeBIO)
        guard pending > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: pending)
        let count = BIO_read(writeBIO, &bytes, Int32(pending))
        return ByteBuffer(bytes: bytes.prefix(Int(max(0, count))))
    }

    /// Advances the handshake, or reads application data once established.
    func step() {
        switch status {
        case .handshaking:
            ERR_clear_error()
            let result = SSL_do_handshake(ssl)
            if result == 1 {
                status = .established
                readAvailable()
            } else {
                let error = SSL_get_error(ssl, result)
                if error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE {
                    status = .failed(Self.drainErrors() + " verify=\(SSL_get_verify_result(ssl))")
                }
            }
        case .established:
            readAvailable()
        case .failed:
            break
        }
    }

    private func readAvailable() {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            ERR_clear_error()
            let count = SSL_read(ssl, &chunk, Int32(chunk.count))
            if count > 0 {
                received += chunk[0..<Int(count)]
                continue
            }
            let error = SSL_get_error(ssl, count)
            if error == SSL_ERROR_ZERO_RETURN {
                receivedCloseNotify = true
            } else if error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE {
                readError = Self.drainErrors()
            }
            return
        }
    }

    func write(_ bytes: [UInt8]) {
        ERR_clear_error()
        let result = SSL_write(ssl, bytes, Int32(bytes.count))
        precondition(result == bytes.count, "client SSL_write failed: \(Self.drainErrors())")
    }

    /// Sends close_notify.
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
    }

    func takeReceived() -> [UInt8] {
        defer { received = [] }
        return received
    }

    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }
    var sessionReused: Bool { SSL_session_reused(ssl) == 1 }

    var alpn: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The subject CN of the certificate the server presented.
    var peerCommonName: String? {
        guard let certificate = SSL_get0_peer_certificate(ssl), let name = X509_get_subject_name(certificate) else {
            return nil
        }
        var buffer = [CChar](repeating: 0, count: 256)
        let length = X509_NAME_get_text_by_NID(name, NID_commonName, &buffer, Int32(buffer.count))
        guard length > 0 else { return nil }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "EC" or "RSA" for the server's certificate key.
    var peerKeyType: String? {
        guard let certificate = SSL_get0_peer_certificate(ssl), let key = X509_get0_pubkey(certificate) else {
            return nil
        }
        return EVP_PKEY_get_base_id(key) == albatross_EVP_PKEY_EC() ? "EC" : "RSA"
    }

    /// A resumable session (caller frees with SSL_SESSION_free via `freeSession`).
    func session() -> OpaquePointer? {
        guard let session = SSL_get1_session(ssl) else { return nil }
        if SSL_SESSION_is_resumable(session) != 1 {
            SSL_SESSION_free(session)
            return nil
        }
        return session
    }

    static func freeSession(_ session: OpaquePointer?) {
        if let session { SSL_SESSION_free(session) }
    }

    /// Starts a TLS 1.2 renegotiation; returns whether OpenSSL accepted to start it.
    func renegotiate() -> Bool {
        ERR_clear_error()
        let started = SSL_renegotiate(ssl) == 1
        _ = SSL_do_handshake(ssl)
        return started
    }

    var renegotiationPending: Bool { SSL_renegotiate_pending(ssl) == 1 }

    static func drainErrors() -> String {
        var entries: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while case let code = ERR_get_error(), code != 0 {
            ERR_error_string_n(code, &buffer, buffer.count)
            entries.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return entries.joined(separator: "; ")
    }

    static let tls1_1 = albatross_TLS1_1_VERSION()
    static let tls1_0 = albatross_TLS1_VERSION()
    static let tls1_2 = albatross_TLS1_2_VERSION()
    static let tls1_3 = albatross_TLS1_3_VERSION()
}
