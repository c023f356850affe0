/// One access key of the control API (`api.credentials` in the configuration): what a caller signs with, and the
/// account it acts as. The configuration parses it and the SigV4 verifier checks against it.
public struct APICredential: Sendable, Hashable {
    public var accessKeyId: String
    public var secretAccessKey: String
    /// When set, requests must carry it in `X-Amz-Security-Token` (temporary credentials); when nil, a request that
    /// carries a token is refused.
    public var sessionToken: String?
    /// The account the key belongs to; the platform's account by default. A key of another account reaches the
    /// platform's functions only where their resource policies allow it (cross-account access).
    public var accountId: String
    /// The IAM identity the key signs as (`arn:aws:iam::<account>:user/<name>`), named in AccessDeniedException
    /// messages and matched by resource policies' `Principal`; `…:user/<accessKeyId>` by default.
    public var principalArn: String?
    /// The key's identity-based policy: an IAM policy document (JSON text). Nil: the key may do everything in its
    /// own account, as before identity policies existed.
    public var policy: String?

    public init(
        accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, accountId: String,
        principalArn: String? = nil, policy: String? = nil
    ) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.accountId = accountId
        self.principalArn = principalArn
        self.policy = policy
    }

    /// The principal ARN that messages name and policies match.
    public var principal: String { principalArn ?? "arn:aws:iam::\(accountId):user/\(accessKeyId)" }
}
