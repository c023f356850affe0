import Foundation
import LambdaModel
import Registry

/// Resource-based policies (§5.18–§5.20): AddPermission, RemovePermission, GetPolicy, per function and per version
/// or alias (each qualifier has a policy of its own, as on AWS), with the statement documents AWS returns: the
/// `Statement` and `Policy` members are JSON *strings*.
extension ControlAPI {
    static let addPermissionMembers: Set<String> = [
        "StatementId", "Action", "Principal", "SourceArn", "SourceAccount", "EventSourceToken", "RevisionId",
        "PrincipalOrgID", "FunctionUrlAuthType", "InvokedViaFunctionUrl",
    ]
    /// AWS's limit on a policy document (20 KB).
    static let maximumPolicyBytes = 20 * 1024

    static func check(
        _ value: String?, member: String, pattern: String, maximum: Int? = nil
    ) throws(APIError) {
        guard let value else { return }
        if let maximum, value.utf8.count > maximum {
            throw .validation(
                value: value, member: member, constraint: "Member must have length less than or equal to \(maximum)")
        }
        if (try? Regex(pattern).wholeMatch(in: value)) == nil {
            throw .validation(
                value: value, member: member, constraint: "Member must satisfy regular expression pattern: \(pattern)")
        }
    }

    /// `Principal` as a statement writes it: a service, an account's root, an IAM ARN, or `*`.
    static func principal(_ text: String, accountPattern: Bool) throws(APIError) -> JSONValue {
        if text == "*" { return .string("*") }
        if text.hasSuffix(".amazonaws.com") { return .object([("Service", .string(text))]) }
        if accountPattern { return .object([("AWS", .string("arn:aws:iam::\(text):root"))]) }
        if text.hasPrefix("arn:aws:iam::") || text.hasPrefix("arn:aws:sts::") {
            return .object([("AWS", .string(text))])
        }
        throw .invalidParameter("The provided principal was invalid. Please check the principal and try again.")
    }

    func addPermission(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let body = try RequestBody(context.request.body, allowed: Self.addPermissionMembers)
        guard let statementId = try body.string("StatementId") else { throw Self.missing("statementId") }
        guard let action = try body.string("Action") else { throw Self.missing("action") }
        guard let principalText = try body.string("Principal") else { throw Self.missing("principal") }
        let sourceArn = try body.string("SourceArn")
        let sourceAccount = try body.string("SourceAccount")
        let token = try body.string("EventSourceToken")
        let organization = try body.string("PrincipalOrgID")
        let urlAuthType = try body.string("FunctionUrlAuthType")
        let viaURL = try body.bool("InvokedViaFunctionUrl")
        let revisionId = try body.string("RevisionId")
        try Self.check(statementId, member: "statementId", pattern: "([a-zA-Z0-9-_]+)", maximum: 100)
        try Self.check(action, member: "action", pattern: "(lambda:[*]|lambda:[a-zA-Z]+|[*])")
        try Self.check(principalText, member: "principal", pattern: #"[^\s]+"#)
        try Self.check(
            sourceArn, member: "sourceArn",
            pattern: #"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)"#)
        try Self.check(sourceAccount, member: "sourceAccount", pattern: #"\d{12}"#, maximum: 12)
        try Self.check(token, member: "eventSourceToken", pattern: "[a-zA-Z0-9._\\-]+", maximum: 256)
        try Self.check(organization, member: "principalOrgID", pattern: "o-[a-z0-9]{10,32}", maximum: 34)
        if let urlAuthType, urlAuthType != "NONE", urlAuthType != "AWS_IAM" {
            throw .validation(
                value: urlAuthType, member: "functionUrlAuthType",
                constraint: "Member must satisfy enum value set: [NONE, AWS_IAM]")
        }
        let principal = try Self.principal(
            principalText,
            accountPattern: principalText.utf8.count == 12 && principalText.utf8.allSatisfy { $0 >= 48 && $0 <= 57 })
        var stringEquals: [(String, JSONValue)] = []
        if let sourceAccount { stringEquals.append(("AWS:SourceAccount", .string(sourceAccount))) }
        if let organization { stringEquals.append(("aws:PrincipalOrgID", .string(organization))) }
        if let token { stringEquals.append(("lambda:EventSourceToken", .string(token))) }
        if let urlAuthType { stringEquals.append(("lambda:FunctionUrlAuthType", .string(urlAuthType))) }
        var condition: [(String, JSONValue)] = []
        if !stringEquals.isEmpty { condition.append(("StringEquals", .object(stringEquals))) }
        if let sourceArn { condition.append(("ArnLike", .object([("AWS:SourceArn", .string(sourceArn))]))) }
        if viaURL == true {
            condition.append(("Bool", .object([("lambda:InvokedViaFunctionUrl", .string("true"))])))
        }
        let resource =
            reference.qualifier.map { account.functionARN(reference.name, qualifier: $0) }
            ?? account.functionARN(reference.name)
        var members: [(String, JSONValue)] = [
            ("Sid", .string(statementId)), ("Effect", .string("Allow")), ("Principal", principal),
            ("Action", .string(action)), ("Resource", .string(resource)),
        ]
        if !condition.isEmpty { members.append(("Condition", .object(condition))) }
        let statement = JSONValue.object(members).serialized
        let registry = self.registry
        let hooks = self.hooks
        let function = reference.name
        let qualifier = reference.qualifier
        do {
            _ = try await store { () throws(RegistryError) in
                let record = try registry.addPermission(
                    functionName: function, qualifier: qualifier, statementId: statementId, statement: statement,
                    expectedRevisionId: revisionId
                ) { statements throws(RegistryError) in
                    let size = Self.policyDocument(statements).utf8.count
                    if size > Self.maximumPolicyBytes {
                        throw RegistryError(
                            .invalidParameterValue,
                            "The final policy size (\(size)) is bigger than the limit (\(Self.maximumPolicyBytes)).")
                    }
                }
                // The catalog's revisions and the load balancer's permissions (LambdaAccessDenied) follow at once.
                hooks.committed()
                return record
            }
        } catch  where error.message.hasPrefix("The final policy size") {
            // The registry's error types have no PolicyLengthExceededException; the wording is ours (§9).
            throw APIError(type: "PolicyLengthExceededException", status: 400, message: error.message)
        }
        return .json(201, .object([("Statement", .string(statement))]))
    }

    /// The policy document: `{"Version":"2012-10-17","Id":"default","Statement":[…]}`, statements in the order
    /// they were added.
    static func policyDocument(_ statements: [String]) -> String {
        #"{"Version":"2012-10-17","Id":"default","Statement":["# + statements.joined(separator: ",") + "]}"
    }

    func getPolicy(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let registry = self.registry
        let notFound = APIError.resourceNotFound("The resource you requested does not exist.")
        let policy: ResourcePolicyRecord?
        do {
            policy = try await store { () throws(RegistryError) in
                try registry.policy(functionName: reference.name, qualifier: reference.qualifier)
            }
        } catch  where error.status == 404 {
            throw notFound
        }
        guard let policy else { throw notFound }
        return .json(
            200,
            .object([
                ("Policy", .string(Self.policyDocument(policy.statements.map(\.json)))),
                ("RevisionId", .string(policy.revisionId)),
            ]))
    }

    func removePermission(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let statementId = context.parameter("StatementId")
        try Self.check(statementId, member: "statementId", pattern: "([a-zA-Z0-9-_.]+)", maximum: 100)
        let revisionId = context.match.query("RevisionId")
        let registry = self.registry
        let hooks = self.hooks
        try await store { () throws(RegistryError) in
            try registry.removePermission(
                functionName: reference.name, qualifier: reference.qualifier, statementId: statementId,
                expectedRevisionId: revisionId)
            // The catalog's revisions and the load balancer's permissions (LambdaAccessDenied) follow at once.
            hooks.committed()
        }
        return Response(status: 204)
    }
}
