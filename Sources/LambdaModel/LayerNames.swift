/// Layer names and layer version ARNs (control-api.md §3.1, §3.2), so that the store, the configuration loader
/// and the CLI accept and refuse the same references.
public enum LayerNames {
    /// The most layers one function may reference.
    public static let maximumLayersPerFunction = 5

    /// A bare layer name: 1–140 characters of `[a-zA-Z0-9-_]`. Returns the problem, or nil when valid.
    public static func validateLayerName(_ name: String) -> String? {
        if name.isEmpty || name.utf8.count > 140 {
            return "layer name must be 1 to 140 characters long"
        }
        for byte in name.utf8 where !isNameByte(byte) {
            return "layer name may contain only letters, digits, hyphens (-) and underscores (_)"
        }
        return nil
    }

    /// The parts of a layer version ARN `arn:<partition>:lambda:<region>:<account>:layer:<name>:<N>`.
    public struct VersionARN: Sendable, Hashable {
        public var partition: String
        public var region: String
        public var accountID: String
        public var name: String
        public var version: Int

        /// Parses `arn` against `arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+`
        /// (1–140 characters); nil when it does not match.
        public init?(_ arn: String) {
            guard arn.utf8.count <= 140 else { return nil }
            let parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 8, parts[0] == "arn", parts[2] == "lambda", parts[5] == "layer" else { return nil }
            func plain(_ text: String) -> Bool {
                !text.isEmpty && text.utf8.allSatisfy { LayerNames.isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
            }
            guard plain(parts[1]), plain(parts[3]),
                parts[4].utf8.count == 12, parts[4].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                LayerNames.validateLayerName(parts[6]) == nil,
                !parts[7].isEmpty, parts[7].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let version = Int(parts[7])
            else { return nil }
            partition = parts[1]
            region = parts[3]
            accountID = parts[4]
            name = parts[6]
            self.version = version
        }

        /// The layer's ARN without the version: `arn:<partition>:lambda:<region>:<account>:layer:<name>`.
        public var layerARN: String { "arn:\(partition):lambda:\(region):\(accountID):layer:\(name)" }
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        isAlphanumeric(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }
}

extension AccountContext {
    /// `arn:aws:lambda:<region>:<account>:layer:<name>`
    public func layerARN(_ name: String) -> String { "arn:aws:lambda:\(region):\(accountID):layer:\(name)" }

    /// `arn:aws:lambda:<region>:<account>:layer:<name>:<version>`
    public func layerVersionARN(_ name: String, version: Int) -> String { "\(layerARN(name)):\(version)" }
}
