import Foundation
internal import GRDB
import LambdaModel

/// A function's (or one qualifier's) resource-based policy as stored: AddPermission's statements in the order they
/// were added, each the JSON text of one IAM statement (the control API builds and reads them), and the RevisionId
/// of what the policy belongs to (`$LATEST`'s for the unqualified function, the version's or the alias's), as on
/// AWS: every policy change gives that a new RevisionId, and AddPermission and RemovePermission's precondition is
/// checked against it.
public struct ResourcePolicyRecord: Sendable, Hashable {
    public var statements: [(sid: String, json: String)]
    public var revisionId: String

    public static func == (lhs: ResourcePolicyRecord, rhs: ResourcePolicyRecord) -> Bool {
        lhs.revisionId == rhs.revisionId && lhs.statements.map(\.json) == rhs.statements.map(\.json)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(revisionId)
        hasher.combine(statements.map(\.json))
    }
}

extension Registry {
    /// The version or alias a policy belongs to must exist (§5.18's messages): a missing function 404 `Function not
    /// found: <ARN>`, a missing version 404 `Function not found: <ARN>:<N>`, a missing alias 404 `Cannot find alias
    /// arn: <ARN>:<alias>`. `qualifier` nil is the unqualified function.
    func checkPolicyTarget(_ db: Database, functionName: String, qualifier: String?) throws {
        guard try functionExists(db, functionName) else { throw functionNotFound(functionName) }
        guard let qualifier else { return }
        if qualifier.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let number = Self.versionNumber(qualifier),
                try fetchVersionRow(db, function: functionName, number: number) != nil
            else { throw functionNotFound(functionName, qualifier: qualifier) }
        } else if try fetchAlias(db, function: functionName, name: qualifier) == nil {
            throw RegistryError(
                .resourceNotFound,
                "Cannot find alias arn: \(account.functionARN(functionName, qualifier: qualifier))")
        }
    }

    /// The RevisionId of what a policy belongs to: `$LATEST` for `""`, else the version or the alias.
    func policyTargetRevision(_ db: Database, functionName: String, qualifier: String) throws -> String? {
        if qualifier.isEmpty {
            return try String.fetchOne(
                db, sql: "SELECT revision_id FROM versions WHERE function_name = ? AND number = 0",
                arguments: [functionName])
        }
        if let number = Self.versionNumber(qualifier) {
            return try String.fetchOne(
                db, sql: "SELECT revision_id FROM versions WHERE function_name = ? AND number = ?",
                arguments: [functionName, number])
        }
        return try String.fetchOne(
            db, sql: "SELECT revision_id FROM aliases WHERE function_name = ? AND name = ?",
            arguments: [functionName, qualifier])
    }

    /// A policy change: what the policy belongs to gets a new RevisionId (returned).
    func renewPolicyTargetRevision(_ db: Database, functionName: String, qualifier: String) throws -> String {
        let revision = Timestamps.newRevisionId()
        if qualifier.isEmpty {
            try db.execute(
                sql: "UPDATE versions SET revision_id = ? WHERE function_name = ? AND number = 0",
                arguments: [revision, functionName])
        } else if let number = Self.versionNumber(qualifier) {
            try db.execute(
                sql: "UPDATE versions SET revision_id = ? WHERE function_name = ? AND number = ?",
                arguments: [revision, functionName, number])
        } else {
            try db.execute(
                sql: "UPDATE aliases SET revision_id = ? WHERE function_name = ? AND name = ?",
                arguments: [revision, functionName, qualifier])
        }
        return revision
    }

    func fetchPolicy(_ db: Database, functionName: String, qualifier: String) throws -> ResourcePolicyRecord? {
        guard
            let stored = try String.fetchOne(
                db, sql: "SELECT revision_id FROM policies WHERE function_name = ? AND qualifier = ?",
                arguments: [functionName, qualifier])
        else { return nil }
        let revision = try policyTargetRevision(db, functionName: functionName, qualifier: qualifier) ?? stored
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT sid, statement FROM policy_statements WHERE function_name = ? AND qualifier = ?
                ORDER BY position
                """,
            arguments: [functionName, qualifier])
        return ResourcePolicyRecord(
            statements: rows.map { (sid: $0["sid"], json: $0["statement"]) }, revisionId: revision)
    }

    /// The policy of a function (`qualifier` nil) or of one version or alias; nil when it has no statement. The
    /// target's absence is the errors of ``checkPolicyTarget``.
    public func policy(functionName: String, qualifier: String?) throws(RegistryError) -> ResourcePolicyRecord? {
        try read { db in
            try checkPolicyTarget(db, functionName: functionName, qualifier: qualifier)
            return try fetchPolicy(db, functionName: functionName, qualifier: qualifier ?? "")
        }
    }

    /// AddPermission (§5.18), one transaction: the target must exist, `$LATEST` has no policy of its own (400 `We
    /// currently do not support adding policies for $LATEST.`), a statement id is unique within its policy (409),
    /// `expectedRevisionId` is the target's RevisionId (412), which the change renews. `check` sees the statements with the new one and may refuse them
    /// (the policy size limit).
    public func addPermission(
        functionName: String, qualifier: String?, statementId: String, statement: String,
        expectedRevisionId: String?, check: ([String]) throws(RegistryError) -> Void
    ) throws(RegistryError) -> ResourcePolicyRecord {
        if qualifier == Self.latest {
            throw RegistryError(.invalidParameterValue, "We currently do not support adding policies for $LATEST.")
        }
        return try write { db in
            try checkPolicyTarget(db, functionName: functionName, qualifier: qualifier)
            let key = qualifier ?? ""
            let current = try fetchPolicy(db, functionName: functionName, qualifier: key)
            if let expectedRevisionId,
                try expectedRevisionId != policyTargetRevision(db, functionName: functionName, qualifier: key)
            {
                throw RegistryError(LambdaError.revisionMismatch)
            }
            let statements = current?.statements ?? []
            if statements.contains(where: { $0.sid == statementId }) {
                throw RegistryError(
                    .resourceConflict,
                    "The statement id (\(statementId)) provided already exists. Please provide a new statement id, "
                        + "or remove the existing statement.")
            }
            try check(statements.map(\.json) + [statement])
            let revision = try appendStatement(
                db, functionName: functionName, qualifier: key, statementId: statementId, statement: statement)
            return ResourcePolicyRecord(
                statements: statements + [(sid: statementId, json: statement)], revisionId: revision)
        }
    }

    /// RemovePermission (§5.19), one transaction, with AWS's 404s: a missing function `No policy found for:
    /// <ARN>`, a missing alias or version as ``checkPolicyTarget``, no policy `No policy is associated with the
    /// given resource.`, an unknown statement `Statement <sid> is not found in resource policy.`; 412 for another
    /// RevisionId. The last statement removed removes the policy.
    public func removePermission(
        functionName: String, qualifier: String?, statementId: String, expectedRevisionId: String?
    ) throws(RegistryError) {
        try write { db in
            guard try functionExists(db, functionName) else {
                throw RegistryError(
                    .resourceNotFound, "No policy found for: \(account.functionARN(functionName))")
            }
            try checkPolicyTarget(db, functionName: functionName, qualifier: qualifier)
            let key = qualifier ?? ""
            guard let current = try fetchPolicy(db, functionName: functionName, qualifier: key) else {
                throw RegistryError(.resourceNotFound, "No policy is associated with the given resource.")
            }
            if let expectedRevisionId, expectedRevisionId != current.revisionId {
                throw RegistryError(LambdaError.revisionMismatch)
            }
            guard current.statements.contains(where: { $0.sid == statementId }) else {
                throw RegistryError(.resourceNotFound, "Statement \(statementId) is not found in resource policy.")
            }
            try dropStatement(
                db, functionName: functionName, qualifier: key, statementId: statementId,
                remaining: current.statements.count - 1)
        }
    }

    /// Adds one statement at the end of a policy (created if need be) and renews its target's RevisionId
    /// (returned). `qualifier` is the key: `""` for the unqualified function.
    func appendStatement(
        _ db: Database, functionName: String, qualifier: String, statementId: String, statement: String
    ) throws -> String {
        let revision = try renewPolicyTargetRevision(db, functionName: functionName, qualifier: qualifier)
        try db.execute(
            sql: "INSERT OR REPLACE INTO policies (function_name, qualifier, revision_id) VALUES (?, ?, ?)",
            arguments: [functionName, qualifier, revision])
        let position =
            try Int.fetchOne(
                db, sql: "SELECT MAX(position) FROM policy_statements WHERE function_name = ? AND qualifier = ?",
                arguments: [functionName, qualifier]) ?? 0
        try db.execute(
            sql: """
                INSERT INTO policy_statements (function_name, qualifier, sid, position, statement)
                VALUES (?, ?, ?, ?, ?)
                """,
            arguments: [functionName, qualifier, statementId, position + 1, statement])
        return revision
    }

    /// Removes one statement that exists, renewing its target's RevisionId; the policy goes with its last
    /// statement (`remaining` is how many are left).
    func dropStatement(
        _ db: Database, functionName: String, qualifier: String, statementId: String, remaining: Int
    ) throws {
        let revision = try renewPolicyTargetRevision(db, functionName: functionName, qualifier: qualifier)
        try db.execute(
            sql: "DELETE FROM policy_statements WHERE function_name = ? AND qualifier = ? AND sid = ?",
            arguments: [functionName, qualifier, statementId])
        if remaining == 0 {
            try db.execute(
                sql: "DELETE FROM policies WHERE function_name = ? AND qualifier = ?",
                arguments: [functionName, qualifier])
        } else {
            try db.execute(
                sql: "UPDATE policies SET revision_id = ? WHERE function_name = ? AND qualifier = ?",
                arguments: [revision, functionName, qualifier])
        }
    }

    /// Deletes the policy of one version or alias (with the version or alias).
    func deletePolicy(_ db: Database, functionName: String, qualifier: String) throws {
        for table in ["policy_statements", "policies", "load_balancer_grants"] {
            try db.execute(
                sql: "DELETE FROM \(table) WHERE function_name = ? AND qualifier = ?",
                arguments: [functionName, qualifier])
        }
    }
}
