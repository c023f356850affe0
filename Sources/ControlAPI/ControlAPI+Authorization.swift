import Foundation
import LambdaModel
import Registry

/// Who may do what (issue 10, "Resource policies"): with `auth: sigv4`, each request's signer is checked against
/// its credential's identity-based policy and the function's resource-based policy, as AWS evaluates them: an
/// explicit Deny in either always wins; within the platform's account an Allow in either is enough; a key of another
/// account needs both (its own account's identity policy, and a resource-policy statement naming its account or
/// its ARN). A key without a `policy` in the platform's account may do everything, as before identity policies
/// existed; `auth: none` checks nothing.
///
/// Denials are 403 `AccessDeniedException` with AWS's message: `User: <principal> is not authorized to perform:
/// lambda:<Action> on resource: <ARN> because no identity-based policy allows the lambda:<Action> action` (or `…
/// because no resource-based policy allows …`, `… with an explicit deny in an identity-based policy`, `… in a
/// resource-based policy`).
extension ControlAPI {
    /// The IAM action a request needs; nil for requests that are not Lambda actions (the signed code download, the
    /// CodeDeploy hook status, which are authorized by their own means).
    static func iamAction(_ operation: Operation) -> String? {
        switch operation {
        case .downloadCode, .codeDeploy: return nil
        case .invoke, .emulatorInvoke: return "lambda:InvokeFunction"
        case .getLayerVersionByArn: return "lambda:GetLayerVersion"
        default: return "lambda:" + operation.rawValue
        }
    }

    /// The resource a request acts on, as IAM names it, and the function (and qualifier) whose resource policy
    /// applies, when there is one.
    func iamResource(_ context: Context) -> (arn: String, function: FunctionReference?) {
        let operation = context.match.operation
        let region = account.region
        let accountID = account.accountID
        switch operation {
        case .listFunctions, .getAccountSettings, .listLayers: return ("*", nil)
        case .emulatorInvoke:
            return (account.functionARN("function"), FunctionReference(name: "function", qualifier: nil))
        case .createFunction:
            let object = try? JSONSerialization.jsonObject(with: Data(context.request.body)) as? [String: Any]
            guard let name = object?["FunctionName"] as? String else { return ("*", nil) }
            return (account.functionARN(name), nil)
        case .tagResource, .untagResource, .listTags: return (context.parameter("Resource"), nil)
        case .publishLayerVersion, .listLayerVersions:
            return ("arn:aws:lambda:\(region):\(accountID):layer:\(context.parameter("LayerName"))", nil)
        case .getLayerVersion, .deleteLayerVersion:
            return (
                "arn:aws:lambda:\(region):\(accountID):layer:\(context.parameter("LayerName")):"
                    + context.parameter("VersionNumber"), nil
            )
        case .getLayerVersionByArn: return (context.match.query("Arn") ?? "*", nil)
        default:
            guard var reference = try? reference(context) else { return ("*", nil) }
            if [.getAlias, .updateAlias, .deleteAlias].contains(operation) {
                reference.qualifier = context.parameter("Name")
            }
            if reference.qualifier == "$LATEST" { reference.qualifier = nil }
            return (account.functionARN(reference.name, qualifier: reference.qualifier), reference)
        }
    }

    /// Refuses the request when the signer may not make it (see the type's comment). `identity` is nil with
    /// `auth: none`.
    func authorize(_ identity: SigV4Verifier.Identity?, _ context: Context) async throws(APIError) {
        guard let identity, let credential = credentials[identity.accessKeyId],
            let action = Self.iamAction(context.match.operation)
        else { return }
        let sameAccount = credential.accountId == account.accountID
        if sameAccount && credential.policy == nil { return }
        let (resource, function) = iamResource(context)
        let principal = AccessPolicy.Request.Principal.aws(arn: credential.principal, account: credential.accountId)
        let request = AccessPolicy.Request(principal: principal, action: action, resource: resource)
        // No policy: the key may do everything in its own account (an account administrator's).
        let identityDecision =
            credential.policy == nil ? .allow : identityPolicies[identity.accessKeyId]?.evaluate(request) ?? .none
        func denied(_ reason: String) -> APIError {
            APIError(
                type: "AccessDeniedException", status: 403,
                message: "User: \(credential.principal) is not authorized to perform: \(action) on resource: "
                    + "\(resource) \(reason)")
        }
        if identityDecision == .deny { throw denied("with an explicit deny in an identity-based policy") }
        if sameAccount && identityDecision == .allow { return }
        var resourceDecision = AccessPolicy.Decision.none
        if let function {
            let registry = self.registry
            let statements =
                (try? await store { () throws(RegistryError) in
                    try registry.policy(functionName: function.name, qualifier: function.qualifier)?.statements.map(
                        \.json)
                }) ?? nil
            resourceDecision = AccessPolicy(statements: statements ?? []).evaluate(request)
        }
        if resourceDecision == .deny { throw denied("with an explicit deny in a resource-based policy") }
        if sameAccount {
            if resourceDecision == .allow { return }
            throw denied("because no identity-based policy allows the \(action) action")
        }
        guard resourceDecision == .allow else {
            throw denied("because no resource-based policy allows the \(action) action")
        }
        guard identityDecision == .allow else {
            throw denied("because no identity-based policy allows the \(action) action")
        }
    }
}
