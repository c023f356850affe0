internal import COpenSSL
package import Foundation

/// SHA-256 through OpenSSL's EVP interface: how packages are addressed and CodeSha256 is computed (and, for the
/// package's other modules, what SigV4 hashes).
package enum SHA256 {
    package static func digest(_ data: some ContiguousBytes) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { input in
            digest.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return digest
    }

    package static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(digest.count * 2)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// CodeSha256: base64 of the digest.
    static func base64(_ digest: [UInt8]) -> String { Data(digest).base64EncodedString() }
}
