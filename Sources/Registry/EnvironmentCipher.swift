import AlbatrossCrypto
import Foundation

/// AES-256-GCM sealing of one record's environment variables (the local stand-in for Lambda's KMS encryption).
///
/// A sealed value is `0x01 ‖ IV (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)` (`AESGCM`'s value after a format
/// byte). The additional authenticated data names the row (function and version), so a sealed value copied onto
/// another row fails its tag check.
struct EnvironmentCipher: Sendable {
    static let keyLength = AESGCM.keyLength
    static let formatVersion: UInt8 = 1

    private let cipher: AESGCM

    init(key: [UInt8]) {
        self.cipher = AESGCM(key: key)
    }

    /// The authenticated data binding a sealed value to its row.
    static func associatedData(function: String, version: String) -> [UInt8] {
        Array("albatross-registry-environment:\(function):\(version)".utf8)
    }

    func seal(_ plaintext: [UInt8], associatedData: [UInt8]) throws(RegistryError) -> Data {
        guard let sealed = cipher.seal(plaintext, associatedData: associatedData) else {
            throw .store("AES-256-GCM encryption of environment variables failed")
        }
        return Data([Self.formatVersion] + sealed)
    }

    func open(_ sealed: Data, associatedData: [UInt8], what: String) throws(RegistryError) -> [UInt8] {
        guard sealed.count >= 1 + AESGCM.overhead, sealed.first == Self.formatVersion else {
            throw .store("the encrypted environment variables of \(what) are malformed")
        }
        guard let plaintext = cipher.open(sealed.dropFirst(), associatedData: associatedData) else {
            throw .store(
                "the encrypted environment variables of \(what) fail their authentication check "
                    + "(wrong registry.key, or the database was altered)")
        }
        return plaintext
    }

    /// Bytes from the kernel's CSPRNG.
    static func randomBytes(_ count: Int) -> [UInt8] {
        AESGCM.randomBytes(count)
    }
}
