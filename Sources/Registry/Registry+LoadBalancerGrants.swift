internal import GRDB
import LambdaModel

/// The statement a target group of the configuration needs in its function's resource policy (the function as the
/// group names it: the alias's policy for `web:live`, the unqualified function's for `web` or `web:$LATEST`) for
/// the load balancer to invoke it, as a SAM template adds an `AWS::Lambda::Permission` for an ALB event.
public struct LoadBalancerGrant: Sendable, Hashable {
    public var targetGroup: String
    public var functionName: String
    /// nil for the unqualified function; else a version number or an alias name.
    public var qualifier: String?
    public var targetGroupARN: String
    public var statementId: String
    /// The statement's JSON, as AddPermission writes one.
    public var statement: String

    public init(
        targetGroup: String, functionName: String, qualifier: String?, targetGroupARN: String, statementId: String,
        statement: String
    ) {
        self.targetGroup = targetGroup
        self.functionName = functionName
        self.qualifier = qualifier
        self.targetGroupARN = targetGroupARN
        self.statementId = statementId
        self.statement = statement
    }
}

extension Registry {
    /// One change ``reconcileLoadBalancerGrants(_:)`` made.
    public enum LoadBalancerGrantChange: Sendable, Hashable, CustomStringConvertible {
        /// The statement was added to the policy (or was there already, added by hand with the same id).
        case granted(LoadBalancerGrant, policyARN: String)
        /// The group left the configuration or names another function: its statement was removed (if still
        /// there).
        case revoked(targetGroup: String, statementId: String, policyARN: String)

        public var description: String {
            switch self {
            case .granted(let grant, let policyARN):
                "target group \(grant.targetGroup): statement \(grant.statementId) allowing "
                    + "elasticloadbalancing.amazonaws.com added to the resource policy of \(policyARN)"
            case .revoked(let targetGroup, let statementId, let policyARN):
                "target group \(targetGroup) is gone or names another function: statement \(statementId) removed "
                    + "from the resource policy of \(policyARN)"
            }
        }
    }

    private struct GrantRecord {
        var targetGroup: String
        var functionName: String
        var qualifier: String
        var targetGroupARN: String
        var statementId: String
    }

    /// Makes the stored grants match `desired`, the target groups the configuration declares now. A group granted
    /// once is not granted again while it stays as it is: a statement the user removed with RemovePermission stays
    /// removed (the group answers `LambdaAccessDenied`), as a permission deleted by hand stays deleted under an
    /// unchanged SAM stack. A group that leaves, or names another function, qualifier or ARN, takes its statement
    /// with it (if the user has not removed it already). A group whose function, version or alias does not exist
    /// (yet) is granted once it does. Deleting a function, version or alias forgets its grants with its policy.
    /// Reads first, and takes the write lock only when there is something to change. Blocking (SQLite).
    @discardableResult
    public func reconcileLoadBalancerGrants(
        _ desired: [LoadBalancerGrant]
    ) throws(RegistryError) -> [LoadBalancerGrantChange] {
        let pending = try read { db in try grantChanges(db, desired: desired, apply: false) }
        if pending.isEmpty { return [] }
        return try write { db in try grantChanges(db, desired: desired, apply: true) }
    }

    private func grantChanges(
        _ db: Database, desired: [LoadBalancerGrant], apply: Bool
    ) throws -> [LoadBalancerGrantChange] {
        let records = try Row.fetchAll(db, sql: "SELECT * FROM load_balancer_grants").map {
            GrantRecord(
                targetGroup: $0["target_group"], functionName: $0["function_name"], qualifier: $0["qualifier"],
                targetGroupARN: $0["target_group_arn"], statementId: $0["sid"])
        }
        var wanted: [String: LoadBalancerGrant] = [:]
        for grant in desired { wanted[grant.targetGroup] = grant }
        var changes: [LoadBalancerGrantChange] = []
        var kept: Set<String> = []
        for record in records {
            if let grant = wanted[record.targetGroup], grant.functionName == record.functionName,
                (grant.qualifier ?? "") == record.qualifier, grant.targetGroupARN == record.targetGroupARN,
                grant.statementId == record.statementId
            {
                kept.insert(record.targetGroup)
                continue
            }
            changes.append(
                .revoked(
                    targetGroup: record.targetGroup, statementId: record.statementId,
                    policyARN: policyARN(record.functionName, record.qualifier)))
            guard apply else { continue }
            try db.execute(
                sql: "DELETE FROM load_balancer_grants WHERE target_group = ?", arguments: [record.targetGroup])
            let statements =
                try fetchPolicy(db, functionName: record.functionName, qualifier: record.qualifier)?
                .statements ?? []
            if statements.contains(where: { $0.sid == record.statementId }) {
                try dropStatement(
                    db, functionName: record.functionName, qualifier: record.qualifier,
                    statementId: record.statementId, remaining: statements.count - 1)
            }
        }
        for grant in desired where !kept.contains(grant.targetGroup) {
            let key = grant.qualifier ?? ""
            // Not there (yet): granted by a later call once it is.
            guard (try? checkPolicyTarget(db, functionName: grant.functionName, qualifier: grant.qualifier)) != nil
            else { continue }
            changes.append(.granted(grant, policyARN: policyARN(grant.functionName, key)))
            guard apply else { continue }
            let statements = try fetchPolicy(db, functionName: grant.functionName, qualifier: key)?.statements ?? []
            if !statements.contains(where: { $0.sid == grant.statementId }) {
                _ = try appendStatement(
                    db, functionName: grant.functionName, qualifier: key, statementId: grant.statementId,
                    statement: grant.statement)
            }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO load_balancer_grants
                        (target_group, function_name, qualifier, target_group_arn, sid)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [grant.targetGroup, grant.functionName, key, grant.targetGroupARN, grant.statementId])
        }
        return changes
    }

    private func policyARN(_ functionName: String, _ qualifier: String) -> String {
        qualifier.isEmpty
            ? account.functionARN(functionName) : account.functionARN(functionName, qualifier: qualifier)
    }
}
