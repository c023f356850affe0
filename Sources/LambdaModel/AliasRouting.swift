/// Where an alias sends invokes: its primary version and, optionally, a share of traffic to one more version.
///
/// This is AWS's `FunctionVersion` + `RoutingConfig.AdditionalVersionWeights` (at most one entry), plus
/// Albatross's sticky assignment, which AWS does not have.
public struct AliasRouting: Sendable, Hashable {
    /// `$LATEST` or a version number.
    public var primaryVersion: String
    /// A published version number, when traffic is split.
    public var additionalVersion: String?
    /// The share of invokes for `additionalVersion`, 0.0–1.0.
    public var additionalWeight: Double
    /// How a caller is pinned to one version; nil picks independently for every invoke (AWS's behaviour).
    public var stickiness: Stickiness?

    public init(
        primaryVersion: String, additionalVersion: String? = nil, additionalWeight: Double = 0,
        stickiness: Stickiness? = nil
    ) {
        self.primaryVersion = primaryVersion
        self.additionalVersion = additionalVersion
        self.additionalWeight = additionalWeight
        self.stickiness = stickiness
    }
}

/// The request property that keeps a caller on one version of a weighted alias.
public enum Stickiness: Sendable, Hashable, CustomStringConvertible {
    /// A request header's value (name compared case-insensitively).
    case header(String)
    /// A cookie's value.
    case cookie(String)
    /// The TCP peer address.
    case clientAddress

    /// `header:x-user`, `cookie:session`, `client-address`: the form the CLI and configuration accept.
    public var description: String {
        switch self {
        case .header(let name): return "header:\(name)"
        case .cookie(let name): return "cookie:\(name)"
        case .clientAddress: return "client-address"
        }
    }

    /// Parses the ``description`` form; nil when it is none of them.
    public init?(_ text: String) {
        if text == "client-address" {
            self = .clientAddress
        } else if text.hasPrefix("header:"), text.count > 7 {
            self = .header(String(text.dropFirst(7)).lowercased())
        } else if text.hasPrefix("cookie:"), text.count > 7 {
            self = .cookie(String(text.dropFirst(7)))
        } else {
            return nil
        }
    }
}
