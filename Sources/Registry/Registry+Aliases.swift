import Foundation
internal import GRDB
public import LambdaModel

extension Registry {
    /// Creates an alias (CreateAlias, §5.10) after the checks of ``AliasValidation`` and the existence of the
    /// function and of every version it names; one transaction.
    ///
    /// Errors, in order: 400 ValidationException (name, version, description, weights), 400
    /// InvalidParameterValueException (routing rules), 404 `Function not found: …:<FunctionVersion>` (no such
    /// function), 409 `Alias already exists: <alias ARN>`, 404 `Function not found: …:<version>` (a version the
    /// alias names does not exist).
    @discardableResult
    public func createAlias(
        functionName: String, name: String, routing: AliasRouting, description: String = ""
    ) throws(RegistryError) -> AliasRecord {
        let routing = try validated(name: name, routing: routing, description: description)
        return try write { db in
            guard try functionExists(db, functionName) else {
                throw functionNotFound(functionName, qualifier: routing.primaryVersion)
            }
            if try fetchAlias(db, function: functionName, name: name) != nil {
                throw RegistryError(
                    .resourceConflict, "Alias already exists: \(account.functionARN(functionName, qualifier: name))")
            }
            try checkVersionsExist(db, routing: routing, function: functionName)
            let alias = AliasRecord(
                functionName: functionName, name: name, routing: routing, description: description,
                revisionId: Timestamps.newRevisionId(), arn: account.functionARN(functionName, qualifier: name))
            try save(db, alias)
            return alias
        }
    }

    /// Changes an alias (UpdateAlias, §5.12) in one transaction; nil leaves a member as it is. The checks apply to
    /// the resulting alias (§5.15 rule 9). Every call gets a new RevisionId, even one that changes nothing.
    ///
    /// Errors: those of ``createAlias(functionName:name:routing:description:)``, 404
    /// `Alias not found: <alias ARN>`, 412 when `expectedRevisionId` is not the alias's RevisionId.
    @discardableResult
    public func updateAlias(
        functionName: String, name: String, routing: AliasRouting? = nil, description: String? = nil,
        expectedRevisionId: String? = nil
    ) throws(RegistryError) -> AliasRecord {
        var checkedRouting: AliasRouting?
        if let routing {
            checkedRouting = try validated(name: name, routing: routing, description: description)
        } else {
            try validated(name: name, description: description)
        }
        return try write { db in
            guard var alias = try fetchAlias(db, function: functionName, name: name) else {
                throw RegistryError(
                    .resourceNotFound, "Alias not found: \(account.functionARN(functionName, qualifier: name))")
            }
            if let expectedRevisionId, expectedRevisionId != alias.revisionId {
                throw RegistryError(LambdaError.revisionMismatch)
            }
            if let checkedRouting { alias.routing = checkedRouting }
            if let description { alias.description = description }
            try checkVersionsExist(db, routing: alias.routing, function: functionName)
            alias.revisionId = Timestamps.newRevisionId()
            try save(db, alias)
            return alias
        }
    }

    /// One alias (GetAlias, §5.11); 404 `Cannot find alias arn: <alias ARN>` when missing.
    public func alias(functionName: String, name: String) throws(RegistryError) -> AliasRecord {
        try validated(name: name, description: nil)
        let alias = try read { db in
            guard try functionExists(db, functionName) else { throw functionNotFound(functionName) }
            return try fetchAlias(db, function: functionName, name: name)
        }
        guard let alias else {
            throw RegistryError(
                .resourceNotFound, "Cannot find alias arn: \(account.functionARN(functionName, qualifier: name))")
        }
        return alias
    }

    /// The aliases of a function, by name (ListAliases, §5.13).
    public func aliases(functionName: String) throws(RegistryError) -> [AliasRecord] {
        try read { db in
            guard try functionExists(db, functionName) else { throw functionNotFound(functionName) }
            return try Row.fetchAll(
                db, sql: "SELECT * FROM aliases WHERE function_name = ? ORDER BY name", arguments: [functionName]
            ).map(aliasRecord(from:))
        }
    }

    /// Deletes an alias (DeleteAlias, §5.14). Deleting one that does not exist is not an error, as on AWS.
    ///
    /// - Returns: whether an alias was deleted.
    @discardableResult
    public func deleteAlias(functionName: String, name: String) throws(RegistryError) -> Bool {
        try validated(name: name, description: nil)
        return try write { db in
            try db.execute(
                sql: "DELETE FROM aliases WHERE function_name = ? AND name = ?", arguments: [functionName, name])
            let deleted = db.changesCount > 0
            try db.execute(
                sql: "DELETE FROM provisioned_concurrency WHERE function_name = ? AND qualifier = ?",
                arguments: [functionName, name])
            try deletePolicy(db, functionName: functionName, qualifier: name)
            return deleted
        }
    }

    // MARK: Helpers

    private func validated(
        name: String, routing: AliasRouting, description: String?
    ) throws(RegistryError)
        -> AliasRouting
    {
        do {
            return try AliasValidation.validate(name: name, routing: routing, description: description)
        } catch {
            throw RegistryError(error)
        }
    }

    /// The name and description constraints alone (a ValidationException listing the violations).
    private func validated(name: String, description: String?) throws(RegistryError) {
        do {
            _ = try AliasValidation.validate(
                name: name, routing: AliasRouting(primaryVersion: Self.latest), description: description)
        } catch {
            throw RegistryError(error)
        }
    }

    private func checkVersionsExist(_ db: Database, routing: AliasRouting, function: String) throws {
        var existing: Set<String> = []
        for version in [routing.primaryVersion] + (routing.additionalVersion.map { [$0] } ?? []) {
            if let number = Self.versionNumber(version),
                try fetchVersionRow(db, function: function, number: number) != nil
            {
                existing.insert(version)
            }
        }
        do {
            try AliasValidation.checkVersionsExist(routing, functionName: function, account: account) {
                existing.contains($0)
            }
        } catch {
            throw RegistryError(error)
        }
    }

    func fetchAlias(_ db: Database, function: String, name: String) throws -> AliasRecord? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM aliases WHERE function_name = ? AND name = ?", arguments: [function, name]
        ).map(aliasRecord(from:))
    }

    func aliasRecord(from row: Row) throws -> AliasRecord {
        let functionName: String = row["function_name"]
        let name: String = row["name"]
        let stickinessText: String? = row["stickiness"]
        var stickiness: Stickiness?
        if let stickinessText {
            guard let parsed = Stickiness(stickinessText) else {
                throw RegistryError.store(
                    "alias \(functionName):\(name) has an unreadable stickiness '\(stickinessText)'")
            }
            stickiness = parsed
        }
        return AliasRecord(
            functionName: functionName, name: name,
            routing: AliasRouting(
                primaryVersion: row["primary_version"], additionalVersion: row["additional_version"],
                additionalWeight: row["additional_weight"], stickiness: stickiness),
            description: row["description"], revisionId: row["revision_id"],
            arn: account.functionARN(functionName, qualifier: name))
    }

    private func save(_ db: Database, _ alias: AliasRecord) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO aliases (function_name, name, primary_version, additional_version,
                    additional_weight, stickiness, description, revision_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                alias.functionName, alias.name, alias.routing.primaryVersion, alias.routing.additionalVersion,
                alias.routing.additionalVersion == nil ? 0 : alias.routing.additionalWeight,
                alias.routing.stickiness?.description, alias.description, alias.revisionId,
            ])
    }
}
