import Foundation
internal import GRDB
public import LambdaModel

extension Registry {
    /// Publishes a layer version (PublishLayerVersion, §5.23) in one transaction and returns it.
    ///
    /// A directory is packed deterministically, a .zip stored as is, both in the content-addressed code store.
    /// Numbers come from a per-layer counter and are never reused. When the content (CodeSha256), description and
    /// compatible runtimes equal those of the latest version, that version is returned and nothing is written.
    @discardableResult
    public func publishLayerVersion(
        name: String, content: CodeLocation, description: String = "", compatibleRuntimes: [String] = []
    ) throws(RegistryError) -> LayerVersionRecord {
        try LayerChecks.checkPublish(name: name, description: description, compatibleRuntimes: compatibleRuntimes)
        let package = try store(package: try packageBytes(content, what: "layer \(name)"))
        return try write { db in
            let last = try Int.fetchOne(db, sql: "SELECT last_version FROM layers WHERE name = ?", arguments: [name])
            if last == nil {
                try db.execute(sql: "INSERT INTO layers (name) VALUES (?)", arguments: [name])
            }
            let lastVersion = last ?? 0
            if lastVersion > 0, let previous = try fetchLayerVersion(db, name: name, number: lastVersion),
                previous.codeSha256 == package.codeSha256, previous.description == description,
                previous.compatibleRuntimes == compatibleRuntimes
            {
                return previous
            }
            let number = lastVersion + 1
            let created = Timestamps.now()
            try db.execute(
                sql: """
                    INSERT INTO layer_versions (layer_name, number, code_sha256, code_size, description,
                        compatible_runtimes, created_date)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    name, number, package.codeSha256, package.size, description,
                    Self.encodeStrings(compatibleRuntimes), created,
                ])
            try db.execute(sql: "UPDATE layers SET last_version = ? WHERE name = ?", arguments: [number, name])
            return LayerVersionRecord(
                name: name, version: number, arn: account.layerVersionARN(name, version: number),
                layerArn: account.layerARN(name), codeSha256: package.codeSha256, codeSize: package.size,
                description: description, compatibleRuntimes: compatibleRuntimes, createdDate: created)
        }
    }

    /// The versions of one layer, newest first (ListLayerVersions, §5.25); `[]` for an unknown layer.
    public func layerVersions(name: String) throws(RegistryError) -> [LayerVersionRecord] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM layer_versions WHERE layer_name = ? ORDER BY number DESC", arguments: [name]
            ).map { row throws in try layerRecord(row) }
        }
    }

    /// The latest version of every layer, by name (ListLayers, §5.25).
    public func latestLayerVersions() throws(RegistryError) -> [LayerVersionRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT v.* FROM layer_versions v JOIN layers l
                        ON v.layer_name = l.name AND v.number = l.last_version
                    ORDER BY v.layer_name
                    """
            ).map { row throws in try layerRecord(row) }
        }
    }

    /// One layer version by its ARN (GetLayerVersionByArn, §5.24): 404 `The resource you requested does not
    /// exist.` when it is unknown, 400 ValidationException at `arn` when the ARN is not a layer version ARN.
    public func layerVersion(arn: String) throws(RegistryError) -> LayerVersionRecord {
        guard let parsed = LayerNames.VersionARN(arn) else {
            throw RegistryError(
                LambdaError.validation([
                    .init(value: arn, member: "arn", constraint: LayerChecks.versionARNConstraint)
                ]))
        }
        guard parsed.region == account.region, parsed.accountID == account.accountID else {
            throw RegistryError(.resourceNotFound, "The resource you requested does not exist.")
        }
        let record = try read { db in try fetchLayerVersion(db, name: parsed.name, number: parsed.version) }
        guard let record else { throw RegistryError(.resourceNotFound, "The resource you requested does not exist.") }
        return record
    }

    func fetchLayerVersion(_ db: Database, name: String, number: Int) throws -> LayerVersionRecord? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM layer_versions WHERE layer_name = ? AND number = ?", arguments: [name, number]
        ).map { row throws in try layerRecord(row) }
    }

    func layerRecord(_ row: Row) throws -> LayerVersionRecord {
        let name: String = row["layer_name"]
        let number: Int = row["number"]
        return LayerVersionRecord(
            name: name, version: number, arn: account.layerVersionARN(name, version: number),
            layerArn: account.layerARN(name), codeSha256: row["code_sha256"], codeSize: row["code_size"],
            description: row["description"],
            compatibleRuntimes: try Self.decodeStrings(
                row["compatible_runtimes"], what: "the compatible runtimes of layer \(name):\(number)"),
            createdDate: row["created_date"])
    }

    /// Refuses a function's `layers` the way CreateFunction does (§5.1): more than 5, a malformed ARN, another
    /// region, a missing version, two versions of one layer. Runs inside the write transaction of `putLatest`.
    func checkLayerReferences(_ db: Database, _ layers: [String]) throws {
        try LayerChecks.checkReferenceShapes(layers, region: account.region)
        for arn in layers {
            guard let parsed = LayerNames.VersionARN(arn), parsed.accountID == account.accountID,
                try fetchLayerVersion(db, name: parsed.name, number: parsed.version) != nil
            else {
                throw RegistryError(.invalidParameterValue, "Layer version \(arn) does not exist.")
            }
        }
    }
}
