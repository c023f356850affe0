import Foundation
internal import GRDB
public import LambdaModel

extension Registry {
    /// Stores `configuration` as the function's `$LATEST` (creating the function when new) and returns it.
    ///
    /// The code is packed (a directory) or taken as is (a .zip) and stored once under its SHA-256. Putting the
    /// same configuration, code and description again changes nothing (same RevisionId and LastModified);
    /// any effective change gets a new RevisionId and LastModified. `configuration.layers` must name existing layer
    /// versions of this region, at most 5 and one per layer (AWS's CreateFunction messages otherwise, §5.1).
    @discardableResult
    public func putLatest(
        _ configuration: FunctionConfiguration, description: String = ""
    ) throws(RegistryError)
        -> FunctionVersionRecord
    {
        try FunctionChecks.check(configuration, description: description)
        let name = configuration.name
        let package = try store(package: try packageBytes(configuration.code, what: "function \(name)"))
        var stored = configuration
        stored.code = .zip(package.path)
        let sealed = try seal(configuration.environment, function: name, number: 0)
        return try write { db in
            try checkLayerReferences(db, configuration.layers)
            let existing = try fetchVersionRow(db, function: name, number: 0)
            if let existing {
                let current = try record(from: existing)
                if current.configuration == stored && current.codeSha256 == package.codeSha256
                    && current.description == description
                {
                    return current
                }
            } else {
                try db.execute(sql: "INSERT INTO functions (name) VALUES (?)", arguments: [name])
            }
            return try record(
                from: Self.saveLatest(db, name, stored, sealed, package, description, role: existing?.role ?? ""))
        }
    }

    /// Publishes `$LATEST` as the next version number (PublishVersion, §5.8), in one transaction.
    ///
    /// Numbers come from a per-function counter and are never reused. When neither code nor configuration
    /// changed since the latest published version, that version is returned and nothing is written. Otherwise the
    /// new version gets its own RevisionId and `$LATEST` a new one.
    ///
    /// - Parameters:
    ///   - description: the version's description; `$LATEST`'s when nil.
    ///   - expectedCodeSha256: when given, must equal `$LATEST`'s CodeSha256 (else 400).
    ///   - expectedRevisionId: when given, must equal `$LATEST`'s RevisionId (else 412).
    @discardableResult
    public func publishVersion(
        functionName: String, description: String? = nil, expectedCodeSha256: String? = nil,
        expectedRevisionId: String? = nil
    ) throws(RegistryError) -> FunctionVersionRecord {
        if let description, description.count > 256 {
            throw RegistryError(
                LambdaError.validation([
                    .init(
                        value: description, member: "description",
                        constraint: "Member must have length less than or equal to 256")
                ]))
        }
        return try write { db in
            guard let latestRow = try fetchVersionRow(db, function: functionName, number: 0) else {
                throw functionNotFound(functionName)
            }
            if let expectedCodeSha256, expectedCodeSha256 != latestRow.codeSha256 {
                throw RegistryError(
                    .invalidParameterValue,
                    "CodeSHA256 (\(expectedCodeSha256)) is different from current CodeSHA256 in $LATEST "
                        + "(\(latestRow.codeSha256)). Please try again with the CodeSHA256 in $LATEST.")
            }
            if let expectedRevisionId, expectedRevisionId != latestRow.revisionId {
                throw RegistryError(LambdaError.revisionMismatch)
            }
            let lastPublished =
                try Int.fetchOne(
                    db, sql: "SELECT last_published FROM functions WHERE name = ?", arguments: [functionName]) ?? 0
            let latest = try record(from: latestRow)
            if lastPublished > 0,
                let previousRow = try fetchVersionRow(db, function: functionName, number: lastPublished)
            {
                let previous = try record(from: previousRow)
                if previous.configuration == latest.configuration && previous.codeSha256 == latest.codeSha256
                    && previousRow.role == latestRow.role
                {
                    return previous
                }
            }
            let number = lastPublished + 1
            let row = VersionRow(
                functionName: functionName, number: number, configuration: latest.configuration,
                environment: try seal(latest.configuration.environment, function: functionName, number: number),
                codeSha256: latestRow.codeSha256, codeSize: latestRow.codeSize,
                description: description ?? latestRow.description, role: latestRow.role,
                revisionId: Timestamps.newRevisionId(), lastModified: Timestamps.now())
            try row.save(db)
            try db.execute(
                sql: "UPDATE functions SET last_published = ? WHERE name = ?", arguments: [number, functionName])
            try db.execute(
                sql: "UPDATE versions SET revision_id = ? WHERE function_name = ? AND number = 0",
                arguments: [Timestamps.newRevisionId(), functionName])
            return try record(from: row)
        }
    }

    /// Every version of a function: `$LATEST` first, then the published ones in ascending order (§5.9).
    public func versions(functionName: String) throws(RegistryError) -> [FunctionVersionRecord] {
        let rows = try read { db in
            guard try functionExists(db, functionName) else { throw functionNotFound(functionName) }
            return try Row.fetchAll(
                db, sql: "SELECT * FROM versions WHERE function_name = ? ORDER BY number", arguments: [functionName]
            ).map(VersionRow.init(row:))
        }
        var records: [FunctionVersionRecord] = []
        for row in rows { records.append(try record(from: row)) }
        return records
    }

    /// One version: `$LATEST` or a published number; 404 `Function not found: <qualified ARN>` otherwise.
    public func version(functionName: String, version: String) throws(RegistryError) -> FunctionVersionRecord {
        guard let number = Self.versionNumber(version) else { throw functionNotFound(functionName, qualifier: version) }
        let row = try read { db in try fetchVersionRow(db, function: functionName, number: number) }
        guard let row else { throw functionNotFound(functionName, qualifier: version) }
        return try record(from: row)
    }

    /// The `$LATEST` of every function, by name.
    public func functions() throws(RegistryError) -> [FunctionVersionRecord] {
        let rows = try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM versions WHERE number = 0 ORDER BY function_name")
                .map(VersionRow.init(row:))
        }
        var records: [FunctionVersionRecord] = []
        for row in rows { records.append(try record(from: row)) }
        return records
    }

    /// Writes `$LATEST`'s row (number 0) with a new RevisionId: the one place put, create and update store it.
    static func saveLatest(
        _ db: Database, _ name: String, _ stored: FunctionConfiguration, _ sealed: Data, _ package: StoredPackage,
        _ description: String, role: String
    ) throws -> VersionRow {
        let row = VersionRow(
            functionName: name, number: 0, configuration: stored, environment: sealed,
            codeSha256: package.codeSha256, codeSize: package.size, description: description, role: role,
            revisionId: Timestamps.newRevisionId(), lastModified: Timestamps.now())
        try row.save(db)
        return row
    }
}
