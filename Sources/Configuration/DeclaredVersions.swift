public import LambdaModel

/// Where a declaration stands in the configuration file, so that errors found when it is applied to the store
/// (a conflict, an alias AWS would refuse) can name the file, line and key path like load errors do.
public struct DeclarationSite: Sendable, Hashable {
    public var file: String
    public var line: Int?
    public var keyPath: String

    /// A ``ConfigurationError`` at this site.
    public func error(_ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: line, keyPath: keyPath, message: message)
    }
}

/// A published version declared in the configuration: the function's own settings with this version's overrides.
public struct DeclaredVersion: Sendable, Hashable {
    /// 1, 2, …: declared in order, without gaps.
    public var number: Int
    public var configuration: FunctionConfiguration
    public var description: String?
    public var site: DeclarationSite
    /// The version's `layers:` as written (the function's when the version gives none).
    public var layers: [LayerReference] = []
}

/// An alias declared in the configuration.
public struct DeclaredAlias: Sendable, Hashable {
    public var name: String
    public var routing: AliasRouting
    public var description: String?
    public var site: DeclarationSite
}
