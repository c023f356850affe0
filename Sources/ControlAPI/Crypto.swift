import AlbatrossCrypto
internal import COpenSSL
import Foundation
import Registry

/// SHA-256 and HMAC-SHA256 from the system OpenSSL: what SigV4 and the code download links need.
enum Crypto {
    static func sha256(_ bytes: some ContiguousBytes) -> [UInt8] { SHA256.digest(bytes) }

    static func hmacSHA256(key: [UInt8], _ message: some ContiguousBytes) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { keyBytes in
            message.withUnsafeBytes { input in
                mac.withUnsafeMutableBufferPointer { output in
                    HMAC(
                        EVP_sha256(), keyBytes.baseAddress, Int32(keyBytes.count),
                        input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count, output.baseAddress,
                        &length)
                }
            }
        }
        precondition(result != nil && length == 32, "HMAC(SHA-256) failed")
        return mac
    }

    static func hmacSHA256(key: [UInt8], _ message: String) -> [UInt8] { hmacSHA256(key: key, Array(message.utf8)) }

    static func hex(_ bytes: [UInt8]) -> String { SHA256.hex(bytes) }

    /// Compares without an early exit, so the time taken does not tell how much of a signature matched.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
