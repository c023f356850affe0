internal import COpenSSL
import Foundation

/// AES-256-GCM sealing of one record's environment variables (the local stand-in for Lambda's KMS encryption).
///
/// A sealed value is `0x01 ‖ IV (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)`. The additional authenticated
/// data names the row (function and version), so a sealed value copied onto another row fails its tag check.
struct EnvironmentCipher: Sendable {
    static let keyLength = 32
    static let ivLength = 12
    static let tagLength = 16
    static let formatVersion: UInt8 = 1
    // EVP_CTRL_GCM_SET_IVLEN, EVP_CTRL_GCM_GET_TAG, EVP_CTRL_GCM_SET_TAG (openssl/evp.h).
    private static let setIVLength: Int32 = 0x9
    private static let getTag: Int32 = 0x10
    private static let setTag: Int32 = 0x11

    private let key: [UInt8]

    init(key: [UInt8]) {
        precondition(key.count == Self.keyLength)
        self.key = key
    }

    /// The authenticated data binding a sealed value to its row.
    static func associatedData(function: String, version: String) -> [UInt8] {
        Array("albatross-registry-environment:\(function):\(version)".utf8)
    }

    func seal(_ plaintext: [UInt8], associatedData: [UInt8]) throws(RegistryError) -> Data {
        let iv = Self.randomBytes(Self.ivLength)
        guard let context = EVP_CIPHER_CTX_new() else { throw .store("cannot allocate an OpenSSL cipher context") }
        defer { EVP_CIPHER_CTX_free(context) }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var tag = [UInt8](repeating: 0, count: Self.tagLength)
        var length: Int32 = 0
        var total = 0
        var ok = EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1
        ok = ok && EVP_CIPHER_CTX_ctrl(context, Self.setIVLength, Int32(Self.ivLength), nil) == 1
        ok = ok && EVP_EncryptInit_ex(context, nil, nil, key, iv) == 1
        ok = ok && EVP_EncryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1
        ok =
            ok
            && ciphertext.withUnsafeMutableBufferPointer { out in
                guard EVP_EncryptUpdate(context, out.baseAddress, &length, plaintext, Int32(plaintext.count)) == 1
                else { return false }
                total = Int(length)
                guard EVP_EncryptFinal_ex(context, out.baseAddress! + total, &length) == 1 else { return false }
                total += Int(length)
                return true
            }
        ok = ok && EVP_CIPHER_CTX_ctrl(context, Self.getTag, Int32(Self.tagLength), &tag) == 1
        guard ok else { throw .store("AES-256-GCM encryption of environment variables failed") }
        return Data([Self.formatVersion] + iv + ciphertext.prefix(total) + tag)
    }

    func open(_ sealed: Data, associatedData: [UInt8], what: String) throws(RegistryError) -> [UInt8] {
        let bytes = [UInt8](sealed)
        guard bytes.count >= 1 + Self.ivLength + Self.tagLength, bytes[0] == Self.formatVersion else {
            throw .store("the encrypted environment variables of \(what) are malformed")
        }
        let iv = Array(bytes[1..<(1 + Self.ivLength)])
        let ciphertext = Array(bytes[(1 + Self.ivLength)..<(bytes.count - Self.tagLength)])
        var tag = Array(bytes[(bytes.count - Self.tagLength)...])
        guard let context = EVP_CIPHER_CTX_new() else { throw .store("cannot allocate an OpenSSL cipher context") }
        defer { EVP_CIPHER_CTX_free(context) }
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var length: Int32 = 0
        var total = 0
        var ok = EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1
        ok = ok && EVP_CIPHER_CTX_ctrl(context, Self.setIVLength, Int32(Self.ivLength), nil) == 1
        ok = ok && EVP_DecryptInit_ex(context, nil, nil, key, iv) == 1
        ok = ok && EVP_DecryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1
        ok =
            ok
            && plaintext.withUnsafeMutableBufferPointer { out in
                guard EVP_DecryptUpdate(context, out.baseAddress, &length, ciphertext, Int32(ciphertext.count)) == 1
                else { return false }
                total = Int(length)
                return true
            }
        ok = ok && EVP_CIPHER_CTX_ctrl(context, Self.setTag, Int32(Self.tagLength), &tag) == 1
        ok =
            ok
            && plaintext.withUnsafeMutableBufferPointer { out in
                guard EVP_DecryptFinal_ex(context, out.baseAddress! + total, &length) == 1 else { return false }
                total += Int(length)
                return true
            }
        guard ok else {
            throw .store(
                "the encrypted environment variables of \(what) fail their authentication check "
                    + "(wrong registry.key, or the database was altered)")
        }
        return Array(plaintext.prefix(total))
    }

    /// Bytes from the kernel's CSPRNG (`SystemRandomNumberGenerator` reads getrandom(2) on Linux).
    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 8)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes += $0 }
        }
        return Array(bytes.prefix(count))
    }
}
