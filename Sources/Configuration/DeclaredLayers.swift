public import LambdaModel

/// A layer declared under the top-level `layers:`: published (idempotently) on every start, before functions, so
/// that functions can name it.
public struct DeclaredLayer: Sendable, Hashable {
    public var name: String
    /// A directory (packed deterministically) or a .zip.
    public var code: CodeLocation
    public var description: String
    public var compatibleRuntimes: [String]
    public var site: DeclarationSite
}

/// One entry of a function's `layers:` list as written; the store resolves it to a layer version ARN when the
/// configuration is applied.
public struct LayerReference: Sendable, Hashable {
    /// What the entry names.
    public enum Target: Sendable, Hashable {
        /// `common`: the layer's latest version as published at start (for a published version that the store
        /// already has: the version of that layer it was published with).
        case latest(name: String)
        /// `common:2`.
        case version(name: String, number: Int)
        /// A full layer version ARN.
        case arn(String)
    }

    public var target: Target
    public var site: DeclarationSite

    /// The layer name the entry refers to.
    public var layerName: String {
        switch target {
        case .latest(let name), .version(let name, _): return name
        case .arn(let arn): return LayerNames.VersionARN(arn)?.name ?? arn
        }
    }
}
