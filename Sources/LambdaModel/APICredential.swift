/// One access key of the control API (`api.credentials` in the configuration): what a caller signs with, and the
/// account it acts as. The configuration parses it and the SigV4 verifier checks against it.
public struct APICredential: Sendable, Hashable {
    public var accessKeyId: String
    public var secretAccessKey: String
    /// When set, requests must carry it in `X-Amz-Security-Token` (temporary credentials); when nil, a request that
    /// carries a token is refused.
    public var sessionToken: String?
    /// The account the key belongs to (for policies, later); the platform's account by default.
    public var accountId: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, accountId: String) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.accountId = accountId
    }
}
