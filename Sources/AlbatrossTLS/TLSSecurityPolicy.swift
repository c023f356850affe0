/// An ALB security policy: which TLS versions and cipher suites a listener accepts. ALB lets users pick only
/// predefined policies by name, so Albatross does the same and maps each name to OpenSSL settings.
public struct TLSSecurityPolicy: Sendable, Hashable {
    /// A TLS protocol version a policy can allow.
    public enum ProtocolVersion: Int, Sendable, Hashable, Comparable, CustomStringConvertible {
        case tls1_0 = 0x0301
        case tls1_1 = 0x0302
        case tls1_2 = 0x0303
        case tls1_3 = 0x0304

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

        /// OpenSSL's spelling ("TLSv1.2").
        public var description: String {
            switch self {
            case .tls1_0: "TLSv1"
            case .tls1_1: "TLSv1.1"
            case .tls1_2: "TLSv1.2"
            case .tls1_3: "TLSv1.3"
            }
        }
    }

    /// The ALB name, e.g. `ELBSecurityPolicy-TLS13-1-2-2021-06`.
    public let name: String
    public let minimumVersion: ProtocolVersion
    public let maximumVersion: ProtocolVersion
    /// TLS 1.0–1.2 cipher suites in OpenSSL names, in server preference order (empty when TLS 1.2 is off).
    public let tls12CipherSuites: [String]
    /// TLS 1.3 cipher suites in IANA/OpenSSL names (empty when TLS 1.3 is off).
    public let tls13CipherSuites: [String]
    /// OpenSSL security level. OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1/MD5 handshake signatures) above level 0.
    public let securityLevel: Int

    static let tls13Suites = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]

    /// TLS 1.2 and 1.3; ALB's recommended policy and Albatross's default.
    public static let tls13_1_2_2021_06 = TLSSecurityPolicy(
        name: "ELBSecurityPolicy-TLS13-1-2-2021-06",
        minimumVersion: .tls1_2,
        maximumVersion: .tls1_3,
        tls12CipherSuites: [
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384",
        ],
        tls13CipherSuites: tls13Suites,
        securityLevel: 1
    )

    /// TLS 1.3 only.
    public static let tls13_1_3_2021_06 = TLSSecurityPolicy(
        name: "ELBSecurityPolicy-TLS13-1-3-2021-06",
        minimumVersion: .tls1_3,
        maximumVersion: .tls1_3,
        tls12CipherSuites: [],
        tls13CipherSuites: tls13Suites,
        securityLevel: 1
    )

    /// TLS 1.2 and 1.3 restricted to AEAD suites with forward secrecy.
    public static let tls13_1_2_Res_2021_06 = TLSSecurityPolicy(
        name: "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        minimumVersion: .tls1_2,
        maximumVersion: .tls1_3,
        tls12CipherSuites: [
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        ],
        tls13CipherSuites: tls13Suites,
        securityLevel: 1
    )

    /// TLS 1.0 to 1.2, the API/CLI default of real ALBs. Needs OpenSSL security level 0 for TLS 1.0/1.1.
    public static let elb2016_08 = TLSSecurityPolicy(
        name: "ELBSecurityPolicy-2016-08",
        minimumVersion: .tls1_0,
        maximumVersion: .tls1_2,
        tls12CipherSuites: [
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
            "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
            "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384",
            "ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES256-SHA",
            "AES128-GCM-SHA256", "AES128-SHA256", "AES128-SHA",
            "AES256-GCM-SHA384", "AES256-SHA256", "AES256-SHA",
        ],
        tls13CipherSuites: [],
        securityLevel: 0
    )

    /// Albatross's default policy.
    public static let `default` = tls13_1_2_2021_06

    /// Every policy Albatross knows.
    public static let all: [TLSSecurityPolicy] = [
        tls13_1_2_2021_06, tls13_1_3_2021_06, tls13_1_2_Res_2021_06, elb2016_08,
    ]

    /// Looks a policy up by its ALB name.
    /// - Throws: `TLSError` with code `.unknownPolicy`, listing the known names.
    public static func named(_ name: String) throws -> TLSSecurityPolicy {
        guard let policy = all.first(where: { $0.name == name }) else { throw TLSError.unknownPolicy(name) }
        return policy
    }

    /// The cipher string given to `SSL_CTX_set_cipher_list` (with the security level).
    var openSSLCipherList: String {
        // A TLS 1.3-only policy still needs a syntactically valid TLS 1.2 list; it is never used.
        let suites = tls12CipherSuites.isEmpty ? ["ECDHE-ECDSA-AES128-GCM-SHA256"] : tls12CipherSuites
        return suites.joined(separator: ":") + ":@SECLEVEL=\(securityLevel)"
    }

    /// The string given to `SSL_CTX_set_ciphersuites`.
    var openSSLCipherSuites: String { tls13CipherSuites.joined(separator: ":") }
}
