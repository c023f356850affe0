public import LambdaModel

/// One version of a function as stored: `$LATEST` (mutable) or a published, immutable number.
///
/// `configuration.code` is `.zip` of the stored package under `<data>/code-store/`; unpack it with
/// ``Registry/taskRoot(for:)``. `arn` is the version-qualified ARN (`…:function:<name>:<version>`, `$LATEST`
/// included, as ListVersionsByFunction returns it); ``unqualifiedArn`` is the bare function ARN.
public struct FunctionVersionRecord: Sendable, Hashable, CustomDebugStringConvertible {
    public var functionName: String
    /// `$LATEST` or `"1"`, `"2"`, ….
    public var version: String
    /// The configuration (environment decrypted), with the code pointing at the stored package.
    public var configuration: FunctionConfiguration
    /// Base64 of the SHA-256 of the stored .zip, 44 characters.
    public var codeSha256: String
    /// Bytes of the stored .zip.
    public var codeSize: Int
    /// A UUID, new on every effective change (§4.5).
    public var revisionId: String
    /// `YYYY-MM-DDThh:mm:ss.sss+0000`.
    public var lastModified: String
    /// The description; `""` when none was given.
    public var description: String
    /// The execution role CreateFunction or UpdateFunctionConfiguration gave, kept by each published version;
    /// nil for a function the configuration file declares (it names no role).
    public var role: String? = nil
    /// `arn:aws:lambda:<region>:<account>:function:<name>:<version>`.
    public var arn: String
    /// `arn:aws:lambda:<region>:<account>:function:<name>`.
    public var unqualifiedArn: String

    /// The version number, nil for `$LATEST`.
    public var number: Int? { version == Registry.latest ? nil : Int(version) }

    /// A summary for logs and `print`: names the version, its code and its variable names, never a value.
    public var debugDescription: String {
        let names = configuration.environment.map(\.name).joined(separator: ",")
        return "\(functionName):\(version) (CodeSha256 \(codeSha256), RevisionId \(revisionId), "
            + "runtime \(configuration.runtime), environment [\(names)])"
    }
}

/// An alias as stored: a name pointing at a version, optionally sending a share of invokes to a second one.
public struct AliasRecord: Sendable, Hashable {
    public var functionName: String
    public var name: String
    public var routing: AliasRouting
    /// `""` when none was given.
    public var description: String
    /// A UUID, new on every create and update.
    public var revisionId: String
    /// `arn:aws:lambda:<region>:<account>:function:<name>:<alias>`.
    public var arn: String
}
