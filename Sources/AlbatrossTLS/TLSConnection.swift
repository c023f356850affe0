internal import COpenSSL
import NIOCore
import Synchronization

/// The middle layer: one server-side `SSL*` between two memory BIOs. It turns OpenSSL's return codes into small
/// Swift enums and owns every C object of a connection; the handler above knows nothing of C. Not thread-safe:
/// it lives on its channel's event loop.
final class TLSConnection {
    /// The outcome of a step that may need more input from the peer.
    enum Outcome {
        case incomplete
        case complete
        case failed(TLSError)
    }

    /// The outcome of reading decrypted data.
    enum ReadOutcome {
        /// All available records were decrypted (the buffer may be empty); more input is needed.
        case wantMoreInput
        /// The peer sent close_notify: a clean end of its stream.
        case closeNotify
        case failed(TLSError)
    }

    /// Live connections, for leak tests.
    static let liveCount = Atomic<Int>(0)

    private var ssl: OpaquePointer?  // SSL*
    private let readBIO: OpaquePointer  // ciphertext from the network, read by OpenSSL
    private let writeBIO: OpaquePointer  // ciphertext written by OpenSSL, for the network
    /// Keeps the SSL_CTX and the objects its callbacks use alive for this connection's lifetime.
    private let generation: TLSContextGeneration

    init(generation: TLSContextGeneration) throws {
        self.generation = generation
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(generation.context) else { throw OpenSSLErrorQueue.error("SSL_new") }
        guard let readBIO = BIO_new(BIO_s_mem()), let writeBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw OpenSSLErrorQueue.error("BIO_new")
        }
        // An empty read BIO means "retry later", not end of file.
        _ = albatross_BIO_set_mem_eof_return(readBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)  // the SSL now owns both BIOs
        SSL_set_accept_state(ssl)
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        Self.liveCount.add(1, ordering: .relaxed)
    }

    deinit {
        free()
    }

    /// Frees the SSL and its BIOs now; later calls become no-ops or failures.
    func free() {
        guard let ssl else { return }
        SSL_free(ssl)
        self.ssl = nil
        Self.liveCount.subtract(1, ordering: .relaxed)
    }

    var isFreed: Bool { ssl == nil }

    /// Hands ciphertext received from the peer to OpenSSL.
    func receive(_ buffer: ByteBuffer) {
        guard ssl != nil else { return }
        buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = BIO_write(readBIO, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, 1 << 30)))
                if written <= 0 { break }  // memory BIOs only fail when out of memory
                offset += Int(written)
            }
        }
    }

    /// Ciphertext OpenSSL produced for the peer, if any, in one buffer.
    func takeOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = albatross_BIO_ctrl_pending(writeBIO)
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { target in
            Int(max(0, BIO_read(writeBIO, target.baseAddress, Int32(pending))))
        }
        return buffer
    }

    var hasOutput: Bool { albatross_BIO_ctrl_pending(writeBIO) > 0 }

    func handshake() -> Outcome {
        guard let ssl else { return .failed(.protocolError("connection already closed")) }
        OpenSSLErrorQueue.clear()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        return classify(result, ssl: ssl, failure: { .handshakeFailed($0) })
    }

    /// Decrypts everything available into `buffer`.
    func read(into buffer: inout ByteBuffer) -> ReadOutcome {
        guard let ssl else { return .failed(.protocolError("connection already closed")) }
        while true {
            OpenSSLErrorQueue.clear()
            var result: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16_384) { target in
                result = SSL_read(ssl, target.baseAddress, Int32(min(target.count, Int(Int32.max))))
                return result > 0 ? Int(result) : 0
            }
            if result > 0 { continue }
            let error = SSL_get_error(ssl, result)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                return .wantMoreInput
            case SSL_ERROR_ZERO_RETURN:
                return .closeNotify
            default:
                return .failed(.protocolError(describe(error)))
            }
        }
    }

    /// Encrypts `buffer` completely (memory BIOs never push back).
    func write(_ buffer: ByteBuffer) -> Outcome {
        guard let ssl else { return .failed(.protocolError("connection already closed")) }
        if buffer.readableBytes == 0 { return .complete }
        OpenSSLErrorQueue.clear()
        let result = buffer.withUnsafeReadableBytes { bytes in
            SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))
        }
        if result == buffer.readableBytes { return .complete }
        return classify(result, ssl: ssl, failure: { .protocolError($0) })
    }

    /// Sends close_notify. `.complete` when the peer's close_notify was already received too.
    func shutdown() -> Outcome {
        guard let ssl else { return .complete }
        OpenSSLErrorQueue.clear()
        let result = SSL_shutdown(ssl)
        if result == 1 { return .complete }
        if result == 0 { return .incomplete }
        return classify(result, ssl: ssl, failure: { .protocolError($0) })
    }

    /// What was negotiated; call after the handshake completed.
    func handshakeSummary() -> TLSHandshakeCompleted? {
        guard let ssl else { return nil }
        let version = String(cString: SSL_get_version(ssl))
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
        var alpnData: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnData, &alpnLength)
        let alpn = alpnData.flatMap { data in
            alpnLength == 0
                ? nil : String(decoding: UnsafeBufferPointer(start: data, count: Int(alpnLength)), as: UTF8.self)
        }
        let serverName = SSL_get_servername(ssl, albatross_TLSEXT_NAMETYPE_host_name()).map { String(cString: $0) }
        return TLSHandshakeCompleted(
            protocolVersion: version, cipherSuite: cipher, alpn: alpn, serverName: serverName,
            sessionReused: SSL_session_reused(ssl) == 1
        )
    }

    private func classify(_ result: Int32, ssl: OpaquePointer, failure: (String) -> TLSError) -> Outcome {
        let error = SSL_get_error(ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        default:
            return .failed(failure(describe(error)))
        }
    }

    private func describe(_ error: Int32) -> String {
        let queue = OpenSSLErrorQueue.drain()
        if !queue.isEmpty { return queue }
        switch error {
        case SSL_ERROR_SYSCALL: return "unexpected end of input"
        case SSL_ERROR_ZERO_RETURN: return "the peer closed the TLS session"
        default: return "SSL error \(error)"
        }
    }
}
