/// One published layer version as stored: content that functions list in `layers` and that is merged into their
/// `/opt` (here `<data>/opt/<hex>/`). Layer versions are immutable; their numbers are never reused.
public struct LayerVersionRecord: Sendable, Hashable {
    /// The layer name.
    public var name: String
    /// 1, 2, … per layer.
    public var version: Int
    /// `arn:aws:lambda:<region>:<account>:layer:<name>:<version>`.
    public var arn: String
    /// `arn:aws:lambda:<region>:<account>:layer:<name>`.
    public var layerArn: String
    /// Base64 of the SHA-256 of the stored .zip, 44 characters.
    public var codeSha256: String
    /// Bytes of the stored .zip.
    public var codeSize: Int
    /// `""` when none was given.
    public var description: String
    /// As given at publish time; `[]` when none.
    public var compatibleRuntimes: [String]
    /// `YYYY-MM-DDThh:mm:ss.sss+0000`.
    public var createdDate: String
    /// `x86_64` / `arm64` as given at publish time; `[]` when none.
    public var compatibleArchitectures: [String] = []
    /// PublishLayerVersion's `LicenseInfo`; nil when none was given.
    public var licenseInfo: String?
}
