import AlbatrossCrypto
import CodeStore
public import Foundation
internal import GRDB
public import LambdaModel

/// The writes of the control API (CreateFunction, UpdateFunctionCode / Configuration, DeleteFunction, uploads,
/// UpdateAlias with partial members, tags): each one transaction, each checked before anything is stored.
extension Registry {
    /// The largest zipped package accepted by direct upload (50 MB, §6).
    public static let maximumZippedPackage = 52_428_800

    /// Checks an uploaded .zip by unpacking it once into a staging directory with ``ZipArchive``'s checks (`..`,
    /// absolute paths, links that escape or lie below links, the 250 MB unpacked bound, sizes and CRCs), so that a
    /// hostile archive is refused before anything is stored. Returns the staging directory (the caller removes it
    /// or moves it into place).
    func checkUpload(_ data: Data) throws(RegistryError) -> String {
        let unzipMessage = "Could not unzip uploaded file. Please check your file, then try to upload again."
        if data.count > Self.maximumZippedPackage {
            throw RegistryError(
                .invalidParameterValue,
                "Zipped size must be smaller than \(Self.maximumZippedPackage) bytes (it is \(data.count))")
        }
        let hex = SHA256.hex(SHA256.digest(data))
        let staging = "\(tasksDirectory)/.upload-\(hex)-\(UUID().uuidString)"
        let copy = "\(staging).zip"
        defer { unlink(copy) }
        guard FileManager.default.createFile(atPath: copy, contents: data) else {
            throw .store("cannot write \(copy)")
        }
        do {
            try ZipArchive.unpack(archive: copy, into: staging)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            if error.problem.contains("over the \(ZipArchive.maximumUnpackedSize)-byte limit") {
                throw RegistryError(
                    .invalidParameterValue,
                    "Unzipped size must be smaller than \(ZipArchive.maximumUnpackedSize) bytes")
            }
            let entry = error.entry.map { " (entry \($0) \(error.problem))" } ?? " (the archive \(error.problem))"
            throw RegistryError(.invalidParameterValue, unzipMessage + entry)
        }
        return staging
    }

    /// Checks an upload as ``checkUpload(_:)`` does and stores nothing: UpdateFunctionCode's DryRun.
    public func checkUploadOnly(_ data: Data) throws(RegistryError) -> (codeSha256: String, size: Int) {
        let staging = try checkUpload(data)
        try? FileManager.default.removeItem(atPath: staging)
        return (SHA256.base64(SHA256.digest(data)), data.count)
    }

    /// CreateFunction (§5.1): stores a new function's `$LATEST`, its execution role and its tags; 409 `Function
    /// already exist: <name>` when the name is taken. One transaction.
    @discardableResult
    public func createFunction(
        _ configuration: FunctionConfiguration, upload: Data? = nil, description: String = "", role: String = "",
        tags: [String: String] = [:]
    ) throws(RegistryError) -> FunctionVersionRecord {
        try Self.checkTags(tags)
        let name = configuration.name
        if try read({ db in try functionExists(db, name) }) {
            throw RegistryError(.resourceConflict, "Function already exist: \(name)")
        }
        let (stored, package, sealed) = try prepareLatest(configuration, upload: upload, description: description)
        return try write { db in
            if try functionExists(db, name) {
                throw RegistryError(.resourceConflict, "Function already exist: \(name)")
            }
            try checkLayerReferences(db, stored.layers)
            try db.execute(sql: "INSERT INTO functions (name) VALUES (?)", arguments: [name])
            let row = try Self.saveLatest(db, name, stored, sealed, package, description, role: role)
            try saveTags(db, function: name, tags)
            return try record(from: row)
        }
    }

    /// UpdateFunctionCode / UpdateFunctionConfiguration (§5.5, §5.6): `change` edits the current `$LATEST`
    /// (configuration and description), `role` replaces its execution role (nil keeps it); the result is checked
    /// like CreateFunction's and stored with a new RevisionId and LastModified, even when nothing changed (AWS does
    /// the same).
    ///
    /// Errors: 404 `Function not found: <ARN>`; 412 when `expectedRevisionId` is not `$LATEST`'s; 409 when another
    /// writer changed `$LATEST` between the read and the write (AWS's "update is in progress" answer).
    @discardableResult
    public func updateLatest(
        functionName: String, upload: Data? = nil, expectedRevisionId: String? = nil, role: String? = nil,
        _ change: (inout FunctionConfiguration, inout String) throws(RegistryError) -> Void
    ) throws(RegistryError) -> FunctionVersionRecord {
        let current = try version(functionName: functionName, version: Self.latest)
        if let expectedRevisionId, expectedRevisionId != current.revisionId {
            throw RegistryError(LambdaError.revisionMismatch)
        }
        var configuration = current.configuration
        var description = current.description
        try change(&configuration, &description)
        configuration.name = functionName
        // A layer version deleted since the function started using it stays usable by it (§5.25).
        let keeping = current.configuration.layers
        let (stored, package, sealed) = try prepareLatest(
            configuration, upload: upload, description: description, keeping: keeping)
        return try write { db in
            guard let row = try fetchVersionRow(db, function: functionName, number: 0) else {
                throw functionNotFound(functionName)
            }
            guard row.revisionId == current.revisionId else {
                throw RegistryError(
                    .resourceConflict,
                    "The operation cannot be performed at this time. An update is in progress for resource: "
                        + account.functionARN(functionName))
            }
            try checkLayerReferences(db, stored.layers, keeping: keeping)
            return try record(
                from: Self.saveLatest(
                    db, functionName, stored, sealed, package, description, role: role ?? row.role))
        }
    }

    /// The checks and the stored package of a `$LATEST` about to be written, done before the transaction: the
    /// configuration, the upload (when given, it replaces `configuration.code`) and the layers, so that a refused
    /// request stores nothing. An upload's unpacked tree becomes its package's `tasks/<hex>`, so the first invoke
    /// does not unpack it again.
    private func prepareLatest(
        _ configuration: FunctionConfiguration, upload: Data?, description: String, keeping: [String] = []
    ) throws(RegistryError) -> (FunctionConfiguration, StoredPackage, Data) {
        try FunctionChecks.check(configuration, description: description)
        try read { db in try checkLayerReferences(db, configuration.layers, keeping: keeping) }
        let package: StoredPackage
        if let upload {
            let staging = try checkUpload(upload)
            defer { try? FileManager.default.removeItem(atPath: staging) }
            package = try store(package: upload)
            let target = "\(tasksDirectory)/\(package.hexDigest)"
            if !Self.isDirectory(target) { try Self.moveIntoPlace(staging, target) }
        } else {
            package = try store(
                package: try packageBytes(configuration.code, what: "function \(configuration.name)"))
        }
        var stored = configuration
        stored.code = .zip(package.path)
        let sealed = try seal(configuration.environment, function: configuration.name, number: 0)
        return (stored, package, sealed)
    }

    /// DeleteFunction without a qualifier (§5.7): the function, every version, alias and tag; 404 when missing.
    /// Packages stay in the code store (other versions or functions may share them).
    public func deleteFunction(name: String) throws(RegistryError) {
        try write { db in
            guard try functionExists(db, name) else { throw functionNotFound(name) }
            for table in [
                "tags", "reserved_concurrency", "provisioned_concurrency", "policy_statements", "policies",
                "load_balancer_grants", "aliases", "versions",
            ] {
                try db.execute(sql: "DELETE FROM \(table) WHERE function_name = ?", arguments: [name])
            }
            try db.execute(sql: "DELETE FROM functions WHERE name = ?", arguments: [name])
        }
    }

    /// DeleteFunction with a version qualifier (§5.7): that published version only. `$LATEST` cannot be deleted
    /// alone (400), a version an alias routes to cannot be deleted (409), a missing function is 404, a missing
    /// version of an existing function is no error (as LocalStack answers; AWS's answer is unconfirmed).
    public func deleteVersion(functionName: String, version: String) throws(RegistryError) {
        if version == Self.latest {
            throw RegistryError(
                .invalidParameterValue, "$LATEST version cannot be deleted without deleting the function.")
        }
        try write { db in
            guard try functionExists(db, functionName) else { throw functionNotFound(functionName) }
            guard let number = Self.versionNumber(version) else {
                throw RegistryError(.invalidParameterValue, "Deletion of aliases is not currently supported.")
            }
            let aliases = try String.fetchAll(
                db,
                sql: """
                    SELECT name FROM aliases WHERE function_name = ? AND (primary_version = ? OR additional_version = ?)
                    ORDER BY name
                    """,
                arguments: [functionName, version, version])
            if !aliases.isEmpty {
                throw RegistryError(
                    .resourceConflict,
                    "Unable to delete version \(version) of \(account.functionARN(functionName)) because the "
                        + "following aliases reference it: [\(aliases.joined(separator: ", "))]")
            }
            try db.execute(
                sql: "DELETE FROM versions WHERE function_name = ? AND number = ?", arguments: [functionName, number])
            try db.execute(
                sql: "DELETE FROM provisioned_concurrency WHERE function_name = ? AND qualifier = ?",
                arguments: [functionName, version])
            try deletePolicy(db, functionName: functionName, qualifier: version)
        }
    }

    /// UpdateAlias (§5.12) with AWS's partial members: nil leaves `FunctionVersion`, the weights or the
    /// description as they are; the result is checked as a whole (§5.15 rule 9) inside the transaction, and gets a
    /// new RevisionId even when nothing changed. Stickiness (an Albatross addition) is kept.
    @discardableResult
    public func updateAlias(
        functionName: String, name: String, functionVersion: String?, additionalVersionWeights: [String: Double]?,
        description: String?, expectedRevisionId: String?
    ) throws(RegistryError) -> AliasRecord {
        let current: AliasRecord
        do {
            current = try alias(functionName: functionName, name: name)
        } catch  where error.message.hasPrefix("Cannot find alias") {
            // UpdateAlias's own wording (§5.12).
            throw RegistryError(
                .resourceNotFound, "Alias not found: \(account.functionARN(functionName, qualifier: name))")
        }
        var weights: [String: Double] = [:]
        if let extra = current.routing.additionalVersion { weights[extra] = current.routing.additionalWeight }
        let routing: AliasRouting
        do {
            routing = try AliasValidation.validate(
                name: name, functionVersion: functionVersion ?? current.routing.primaryVersion,
                additionalVersionWeights: additionalVersionWeights ?? weights, description: description,
                stickiness: current.routing.stickiness)
        } catch {
            throw RegistryError(error)
        }
        return try updateAlias(
            functionName: functionName, name: name, routing: routing, description: description,
            expectedRevisionId: expectedRevisionId)
    }

    // MARK: Tags (§5.28)

    /// A function's tags, by key; 404 when the function is missing.
    public func tags(functionName: String) throws(RegistryError) -> [String: String] {
        try read { db in
            guard try functionExists(db, functionName) else { throw functionNotFound(functionName) }
            var tags: [String: String] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT key, value FROM tags WHERE function_name = ?", arguments: [functionName])
            {
                tags[row["key"]] = row["value"]
            }
            return tags
        }
    }

    /// TagResource: adds or replaces tags (at most 50 per function in all).
    public func tagFunction(name: String, tags: [String: String]) throws(RegistryError) {
        try Self.checkTags(tags)
        try write { db in
            guard try functionExists(db, name) else { throw functionNotFound(name) }
            try saveTags(db, function: name, tags)
            let count =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM tags WHERE function_name = ?", arguments: [name]) ?? 0
            if count > Self.maximumTags {
                throw RegistryError(
                    .invalidParameterValue,
                    "Number of tags exceeds resource tag limit: a function has at most \(Self.maximumTags) tags")
            }
        }
    }

    /// UntagResource: removes the keys given (absent keys are no error).
    public func untagFunction(name: String, keys: [String]) throws(RegistryError) {
        try write { db in
            guard try functionExists(db, name) else { throw functionNotFound(name) }
            for key in keys {
                try db.execute(
                    sql: "DELETE FROM tags WHERE function_name = ? AND key = ?", arguments: [name, key])
            }
        }
    }

    static let maximumTags = 50

    /// Tag keys of 1–128 characters, values of at most 256 (the Tagging API's limits), at most 50.
    static func checkTags(_ tags: [String: String]) throws(RegistryError) {
        var violations: [LambdaError.ConstraintViolation] = []
        for (key, value) in tags.sorted(by: { $0.key < $1.key }) {
            if key.isEmpty || key.count > 128 {
                violations.append(
                    .init(
                        value: key, member: "tags",
                        constraint: key.isEmpty
                            ? "Map keys must satisfy constraint: [Member must have length greater than or equal to 1]"
                            : "Map keys must satisfy constraint: [Member must have length less than or equal to 128]"
                    ))
            }
            if value.count > 256 {
                violations.append(
                    .init(
                        value: value, member: "tags",
                        constraint: "Map value must satisfy constraint: [Member must have length less than or "
                            + "equal to 256]"))
            }
        }
        if !violations.isEmpty { throw RegistryError(LambdaError.validation(violations)) }
        if tags.count > maximumTags {
            throw RegistryError(
                .invalidParameterValue,
                "Number of tags exceeds resource tag limit: a function has at most \(maximumTags) tags")
        }
    }

    private func saveTags(_ db: Database, function: String, _ tags: [String: String]) throws {
        for (key, value) in tags {
            try db.execute(
                sql: "INSERT OR REPLACE INTO tags (function_name, key, value) VALUES (?, ?, ?)",
                arguments: [function, key, value])
        }
    }
}
