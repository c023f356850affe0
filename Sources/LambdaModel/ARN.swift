/// The account and Region the local platform pretends to live in; used to build ARNs.
public struct AccountContext: Sendable, Hashable {
    public var region: String
    public var accountID: String

    public init(region: String = "us-east-1", accountID: String = "123456789012") {
        self.region = region
        self.accountID = accountID
    }

    /// `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`
    public func functionARN(_ name: String, qualifier: String? = nil) -> String {
        if let qualifier {
            return String(joining: ["arn:aws:lambda:", region, ":", accountID, ":function:", name, ":", qualifier])
        }
        return String(joining: ["arn:aws:lambda:", region, ":", accountID, ":function:", name])
    }

    /// `arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<16 hex>`; the suffix is derived
    /// from the name so the ARN is stable across restarts.
    public func targetGroupARN(_ name: String) -> String {
        "arn:aws:elasticloadbalancing:\(region):\(accountID):targetgroup/\(name)/\(Self.stableHex(name))"
    }

    /// 16 hex digits of FNV-1a 64 over the name: stable, not secret.
    public static func stableHex(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
