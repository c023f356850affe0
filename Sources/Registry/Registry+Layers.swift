public import Foundation
internal import GRDB
public import LambdaModel

extension Registry {
    /// Publishes a layer version from the configuration or `albatross layers publish`, in one transaction, and
    /// returns it.
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
        return try insertLayerVersion(
            name: name, package: package, description: description, compatibleRuntimes: compatibleRuntimes,
            compatibleArchitectures: [], licenseInfo: nil, deduplicate: true)
    }

    /// PublishLayerVersion through the control API (§5.23): the uploaded .zip is unpacked once with the checks
    /// CreateFunction's code gets (``checkUpload(_:)``) before it is stored, and every call makes a new version,
    /// as on AWS.
    public func publishLayerVersion(
        name: String, upload: Data, description: String = "", compatibleRuntimes: [String] = [],
        compatibleArchitectures: [String] = [], licenseInfo: String? = nil
    ) throws(RegistryError) -> LayerVersionRecord {
        try LayerChecks.checkPublish(name: name, description: description, compatibleRuntimes: compatibleRuntimes)
        _ = try checkUploadOnly(upload)
        let package = try store(package: upload)
        return try insertLayerVersion(
            name: name, package: package, description: description, compatibleRuntimes: compatibleRuntimes,
            compatibleArchitectures: compatibleArchitectures, licenseInfo: licenseInfo, deduplicate: false)
    }

    private func insertLayerVersion(
        name: String, package: StoredPackage, description: String, compatibleRuntimes: [String],
        compatibleArchitectures: [String], licenseInfo: String?, deduplicate: Bool
    ) throws(RegistryError) -> LayerVersionRecord {
        try write { db in
            let last = try Int.fetchOne(db, sql: "SELECT last_version FROM layers WHERE name = ?", arguments: [name])
            if last == nil {
                try db.execute(sql: "INSERT INTO layers (name) VALUES (?)", arguments: [name])
            }
            let lastVersion = last ?? 0
            if deduplicate, lastVersion > 0, let previous = try fetchLayerVersion(db, name: name, number: lastVersion),
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
                        compatible_runtimes, created_date, compatible_architectures, license_info)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    name, number, package.codeSha256, package.size, description,
                    Self.encodeStrings(compatibleRuntimes), created, Self.encodeStrings(compatibleArchitectures),
                    licenseInfo,
                ])
            try db.execute(sql: "UPDATE layers SET last_version = ? WHERE name = ?", arguments: [number, name])
            return LayerVersionRecord(
                name: name, version: number, arn: account.layerVersionARN(name, version: number),
                layerArn: account.layerARN(name), codeSha256: package.codeSha256, codeSize: package.size,
                description: description, compatibleRuntimes: compatibleRuntimes, createdDate: created,
                compatibleArchitectures: compatibleArchitectures, licenseInfo: licenseInfo)
        }
    }

    /// DeleteLayerVersion (§5.25): the version is no longer listed, found or usable in a new configuration;
    /// versions that already use it keep running it (its package and merged `/opt` trees stay). Its number is
    /// never reused. Whether a version was deleted (deleting an unknown one is no error, as on AWS).
    @discardableResult
    public func deleteLayerVersion(name: String, version: Int) throws(RegistryError) -> Bool {
        try write { db in
            try db.execute(
                sql: "UPDATE layer_versions SET deleted = 1 WHERE layer_name = ? AND number = ? AND deleted = 0",
                arguments: [name, version])
            return db.changesCount > 0
        }
    }

    /// The versions of one layer, newest first (ListLayerVersions, §5.25); `[]` for an unknown layer.
    public func layerVersions(name: String) throws(RegistryError) -> [LayerVersionRecord] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM layer_versions WHERE layer_name = ? AND deleted = 0 ORDER BY number DESC",
                arguments: [name]
            ).map { row throws in try layerRecord(row) }
        }
    }

    /// The latest version of every layer, by name (ListLayers, §5.25), deleted versions left out; with `matching`,
    /// the latest version of each layer that it accepts (AWS's `LatestMatchingVersion`).
    public func latestLayerVersions(
        matching: (LayerVersionRecord) -> Bool = { _ in true }
    ) throws(RegistryError) -> [LayerVersionRecord] {
        let all = try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM layer_versions WHERE deleted = 0 ORDER BY layer_name, number DESC"
            ).map { row throws in try layerRecord(row) }
        }
        var latest: [LayerVersionRecord] = []
        for record in all where latest.last?.name != record.name && matching(record) {
            latest.append(record)
        }
        return latest
    }

    /// One layer version by its ARN (GetLayerVersionByArn, §5.24): 404 `The resource you requested does not
    /// exist.` when it is unknown (or deleted, unless `includingDeleted`: a version that uses it still runs it),
    /// 400 ValidationException at `arn` when the ARN is not a layer version ARN.
    public func layerVersion(arn: String, includingDeleted: Bool = false) throws(RegistryError) -> LayerVersionRecord {
        guard let parsed = LayerNames.VersionARN(arn) else {
            throw RegistryError(
                LambdaError.validation([
                    .init(value: arn, member: "arn", constraint: LayerChecks.versionARNConstraint)
                ]))
        }
        guard parsed.region == account.region, parsed.accountID == account.accountID else {
            throw RegistryError(.resourceNotFound, "The resource you requested does not exist.")
        }
        let record = try read { db in
            try fetchLayerVersion(
                db, name: parsed.name, number: parsed.version, includingDeleted: includingDeleted)
        }
        guard let record else { throw RegistryError(.resourceNotFound, "The resource you requested does not exist.") }
        return record
    }

    func fetchLayerVersion(
        _ db: Database, name: String, number: Int, includingDeleted: Bool = false
    ) throws -> LayerVersionRecord? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM layer_versions WHERE layer_name = ? AND number = ? AND (deleted = 0 OR ?)",
            arguments: [name, number, includingDeleted]
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
            createdDate: row["created_date"],
            compatibleArchitectures: try Self.decodeStrings(
                row["compatible_architectures"], what: "the compatible architectures of layer \(name):\(number)"),
            licenseInfo: row["license_info"])
    }

    /// Refuses a function's `layers` the way CreateFunction does (§5.1): more than 5, a malformed ARN, another
    /// region, a missing version, two versions of one layer. Runs inside the write transaction of `putLatest`.
    /// A deleted version counts as missing, except those in `keeping` (what the function already uses).
    func checkLayerReferences(_ db: Database, _ layers: [String], keeping: [String] = []) throws {
        try LayerChecks.checkReferenceShapes(layers, region: account.region)
        for arn in layers {
            guard let parsed = LayerNames.VersionARN(arn), parsed.accountID == account.accountID,
                try fetchLayerVersion(
                    db, name: parsed.name, number: parsed.version, includingDeleted: keeping.contains(arn)) != nil
            else {
                throw RegistryError(.invalidParameterValue, "Layer version \(arn) does not exist.")
            }
        }
    }
}
