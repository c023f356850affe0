internal import COpenSSL

/// AES-256-GCM from the system's OpenSSL: the one authenticated cipher of Albatross (the registry's sealed
/// environment variables, the load balancer's stickiness cookies).
///
/// A sealed value is `IV (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)`; callers add their own framing. The
/// additional authenticated data binds a value to where it belongs, so one copied elsewhere fails its tag check.
public struct AESGCM: Sendable {
    public static let keyLength = 32
    public static let ivLength = 12
    public static let tagLength = 16
    /// What sealing adds to the plaintext's length.
    public static let overhead = ivLength + tagLength
    // EVP_CTRL_GCM_SET_IVLEN, EVP_CTRL_GCM_GET_TAG, EVP_CTRL_GCM_SET_TAG (openssl/evp.h).
    private static let setIVLength: Int32 = 0x9
    private static let getTag: Int32 = 0x10
    private static let setTag: Int32 = 0x11

    private let key: [UInt8]

    /// - Parameter key: 32 bytes.
    public init(key: [UInt8]) {
        precondition(key.count == Self.keyLength, "AES-256 needs a 32-byte key")
        self.key = key
    }

    /// A cipher with a new random key (for values that live as long as the process).
    public static func withRandomKey() -> AESGCM {
        AESGCM(key: randomBytes(keyLength))
    }

    /// `IV ‖ ciphertext ‖ tag`, or nil when OpenSSL fails (it does not for valid keys).
    public func seal(_ plaintext: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        let iv = Self.randomBytes(Self.ivLength)
        guard let context = EVP_CIPHER_CTX_new() else { return nil }
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
        guard ok else { return nil }
        return iv + ciphertext.prefix(total) + tag
    }

    /// The plaintext of `IV ‖ ciphertext ‖ tag`, or nil when it is too short or fails its authentication check.
    public func open(_ sealed: some Collection<UInt8>, associatedData: [UInt8]) -> [UInt8]? {
        let bytes = Array(sealed)
        guard bytes.count >= Self.overhead else { return nil }
        let iv = Array(bytes[0..<Self.ivLength])
        let ciphertext = Array(bytes[Self.ivLength..<(bytes.count - Self.tagLength)])
        var tag = Array(bytes[(bytes.count - Self.tagLength)...])
        guard let context = EVP_CIPHER_CTX_new() else { return nil }
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
        return ok ? Array(plaintext.prefix(total)) : nil
    }

    /// Bytes from the kernel's CSPRNG (`SystemRandomNumberGenerator` reads getrandom(2) on Linux).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 8)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes += $0 }
        }
        return Array(bytes.prefix(count))
    }
}
