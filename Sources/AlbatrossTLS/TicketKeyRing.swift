internal import COpenSSL
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The keys that encrypt session tickets. Keys are random (RAND_bytes), live only in memory, and rotate: the
/// newest encrypts, the few before it still decrypt (their tickets are renewed), older tickets fall back to a
/// full handshake. One ring serves every generation of a `TLSServerContext`, so tickets survive `reload()`.
final class TicketKeyRing: Sendable {
    struct Key: Sendable {
        static let nameLength = 16
        let name: [UInt8]
        let cipherKey: [UInt8]  // AES-256-CBC
        let macKey: [UInt8]  // HMAC-SHA256
        let created: UInt64  // monotonic seconds
    }

    private let keys: Mutex<[Key]>  // newest first
    private let rotationSeconds: UInt64
    private let retained: Int

    init(rotationSeconds: Int, retained: Int) throws {
        self.rotationSeconds = UInt64(max(1, rotationSeconds))
        self.retained = max(0, retained)
        self.keys = Mutex([try Self.makeKey()])
    }

    /// The key for new tickets, rotating first when the current one is older than the rotation interval.
    func encryptionKey() throws -> Key {
        let now = Self.monotonicSeconds()
        if let key = keys.withLock({ $0[0].created + rotationSeconds > now ? $0[0] : nil }) { return key }
        let fresh = try Self.makeKey()
        return keys.withLock { keys in
            // Another thread may have rotated meanwhile; keep whichever is current then.
            if keys[0].created + rotationSeconds > now { return keys[0] }
            insert(fresh, into: &keys)
            return fresh
        }
    }

    /// The key a ticket names, and whether it is the current one (old keys ask OpenSSL to renew the ticket).
    func decryptionKey(named name: UnsafePointer<UInt8>) -> (key: Key, isCurrent: Bool)? {
        let wanted = UnsafeBufferPointer(start: name, count: Key.nameLength)
        return keys.withLock { keys in
            for (index, key) in keys.enumerated() where key.name.elementsEqual(wanted) {
                return (key, index == 0)
            }
            return nil
        }
    }

    /// Puts a fresh key in front now (for operators and tests).
    func rotate() throws {
        let fresh = try Self.makeKey()
        keys.withLock { insert(fresh, into: &$0) }
    }

    var count: Int { keys.withLock { $0.count } }

    private func insert(_ key: Key, into keys: inout [Key]) {
        keys.insert(key, at: 0)
        if keys.count > retained + 1 { keys.removeLast(keys.count - retained - 1) }
    }

    private static func makeKey() throws -> Key {
        func random(_ count: Int) throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            OpenSSLErrorQueue.clear()
            guard RAND_bytes(&bytes, Int32(count)) == 1 else { throw OpenSSLErrorQueue.error("RAND_bytes") }
            return bytes
        }
        return Key(
            name: try random(Key.nameLength), cipherKey: try random(32), macKey: try random(32),
            created: monotonicSeconds()
        )
    }

    private static func monotonicSeconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec)
    }
}
