internal import COpenSSL

/// The OpenSSL the binary was compiled against and the one it runs with. They can differ after a distribution
/// update, and the difference matters when a TLS behaviour changes, so the server logs both at start.
public struct OpenSSLVersion: Sendable, Hashable, CustomStringConvertible {
    /// `OPENSSL_VERSION_TEXT` of the headers at build time, e.g. "OpenSSL 3.0.19 27 Jan 2026".
    public let compiled: String
    /// `OpenSSL_version(OPENSSL_VERSION)` of the loaded libcrypto.
    public let running: String
    /// `OPENSSL_VERSION_NUMBER` at build time (0xMNN00PP0L).
    public let compiledNumber: UInt
    /// `OpenSSL_version_num()` at run time.
    public let runningNumber: UInt

    /// The versions of this process.
    public static var current: OpenSSLVersion {
        OpenSSLVersion(
            compiled: String(cString: albatross_compiled_version_text()),
            running: String(cString: albatross_running_version_text()),
            compiledNumber: UInt(albatross_compiled_version_number()),
            runningNumber: UInt(albatross_running_version_number())
        )
    }

    /// One line for the start-up log: "OpenSSL compiled: …; running: …".
    public var description: String { "OpenSSL compiled: \(compiled); running: \(running)" }
}
