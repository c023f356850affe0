import Foundation
internal import GRDB
public import LambdaModel

/// One provisioned-concurrency configuration set through the control API (PutProvisionedConcurrencyConfig).
public struct ProvisionedConcurrencyRecord: Sendable, Hashable {
    public var functionName: String
    /// A version number or an alias name (never `$LATEST`).
    public var qualifier: String
    public var requested: Int
    /// `YYYY-MM-DDThh:mm:ss+0000`, the form AWS uses for these (no milliseconds).
    public var lastModified: String
}

/// What the configuration file declares about concurrency, so that the store's settings (made through the control
/// API) and the file's combine into what the server runs: the file's for what it declares, the store's for the rest.
public struct DeclaredConcurrency: Sendable, Hashable {
    /// Functions the file declares: their reserved concurrency is the file's (none when it sets none).
    public var functions: Set<String>
    /// Versions (numbers) and aliases the file declares, by function: their provisioned concurrency is the file's.
    public var qualifiers: [String: Set<String>]
    /// The file's settings (`reservedConcurrentExecutions`, `provisionedConcurrentExecutions`).
    public var settings: [String: FunctionConcurrency]

    public init(
        functions: Set<String> = [], qualifiers: [String: Set<String>] = [:],
        settings: [String: FunctionConcurrency] = [:]
    ) {
        self.functions = functions
        self.qualifiers = qualifiers
        self.settings = settings
    }
}

extension Registry {
    /// Every function's reserved and provisioned concurrency as stored (functions without any are absent).
    public func storedConcurrency() throws(RegistryError) -> [String: FunctionConcurrency] {
        try read { db in try fetchConcurrency(db) }
    }

    func fetchConcurrency(_ db: Database) throws -> [String: FunctionConcurrency] {
        var result: [String: FunctionConcurrency] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT function_name, reserved FROM reserved_concurrency") {
            result[row["function_name"], default: FunctionConcurrency()].reserved = row["reserved"]
        }
        for row in try Row.fetchAll(db, sql: "SELECT function_name, qualifier, requested FROM provisioned_concurrency")
        {
            result[row["function_name"], default: FunctionConcurrency()].provisioned[row["qualifier"]] =
                row["requested"]
        }
        return result
    }

    /// The settings the server runs: the configuration's for the functions and qualifiers it declares, the
    /// store's for the others. One place for the rule, used by the catalog and by the control API's checks.
    public static func effectiveConcurrency(
        stored: [String: FunctionConcurrency], declared: DeclaredConcurrency
    ) -> [String: FunctionConcurrency] {
        var result = stored
        for name in declared.functions {
            var settings = result[name] ?? FunctionConcurrency()
            let file = declared.settings[name] ?? FunctionConcurrency()
            settings.reserved = file.reserved
            for qualifier in declared.qualifiers[name] ?? [] { settings.provisioned[qualifier] = nil }
            for (qualifier, count) in file.provisioned { settings.provisioned[qualifier] = count }
            result[name] = settings.isEmpty ? nil : settings
        }
        return result
    }

    /// A summary of the stored settings, for the catalog's change detection.
    public func concurrencyFingerprint() throws(RegistryError) -> String {
        let stored = try storedConcurrency()
        return stored.keys.sorted().map { name in
            let settings = stored[name]!
            let provisioned = settings.provisioned.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            return "\(name):\(settings.reserved.map(String.init) ?? "-"):\(provisioned.joined(separator: ","))"
        }.joined(separator: "|")
    }

    /// PutFunctionConcurrency / DeleteFunctionConcurrency (nil): one transaction. `check` sees every function's
    /// stored settings with the change applied and throws to refuse it (the account's unreserved minimum).
    /// 404 `Function not found: …:$LATEST` for a missing function.
    public func setReservedConcurrency(
        functionName: String, _ reserved: Int?,
        check: ([String: FunctionConcurrency]) throws(RegistryError) -> Void
    ) throws(RegistryError) {
        try write { db in
            guard try functionExists(db, functionName) else {
                throw functionNotFound(functionName, qualifier: Self.latest)
            }
            var stored = try fetchConcurrency(db)
            stored[functionName, default: FunctionConcurrency()].reserved = reserved
            try check(stored)
            if let reserved {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO reserved_concurrency (function_name, reserved) VALUES (?, ?)",
                    arguments: [functionName, reserved])
            } else {
                try db.execute(
                    sql: "DELETE FROM reserved_concurrency WHERE function_name = ?", arguments: [functionName])
            }
        }
    }

    /// The target of a provisioned-concurrency call: a published version or an alias of an existing function.
    /// 400 for `$LATEST` (`putMessage` on Put, AWS's other wording on Get and Delete), 404 `Function not found:
    /// …:<N>` for a missing version or function, 404 `Cannot find alias arn: …` for a missing alias. Returns the
    /// function's aliases' routing (what the Put checks need).
    func provisionedTarget(
        _ db: Database, functionName: String, qualifier: String, latestMessage: String
    ) throws -> [String: AliasRouting] {
        if qualifier == Self.latest { throw RegistryError(.invalidParameterValue, latestMessage) }
        guard try functionExists(db, functionName) else { throw functionNotFound(functionName, qualifier: qualifier) }
        let aliases = try Row.fetchAll(
            db, sql: "SELECT * FROM aliases WHERE function_name = ?", arguments: [functionName]
        ).map(aliasRecord(from:))
        let routings = Dictionary(aliases.map { ($0.name, $0.routing) }, uniquingKeysWith: { first, _ in first })
        if qualifier.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let number = Self.versionNumber(qualifier),
                try fetchVersionRow(db, function: functionName, number: number) != nil
            else { throw functionNotFound(functionName, qualifier: qualifier) }
        } else if let routing = routings[qualifier] {
            if routing.primaryVersion == Self.latest || routing.additionalVersion == Self.latest {
                throw RegistryError(
                    .invalidParameterValue,
                    "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
            }
        } else {
            throw RegistryError(
                .resourceNotFound,
                "Cannot find alias arn: \(account.functionARN(functionName, qualifier: qualifier))")
        }
        return routings
    }

    /// PutProvisionedConcurrencyConfig (§5.22), one transaction: the target must exist (see `provisionedTarget`);
    /// `check` sees every function's stored settings with the change applied and the function's aliases, and
    /// throws to refuse it.
    public func putProvisionedConcurrency(
        functionName: String, qualifier: String, requested: Int,
        check: ([String: FunctionConcurrency], [String: AliasRouting]) throws(RegistryError) -> Void
    ) throws(RegistryError) -> ProvisionedConcurrencyRecord {
        try write { db in
            let routings = try provisionedTarget(
                db, functionName: functionName, qualifier: qualifier,
                latestMessage: "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
            var stored = try fetchConcurrency(db)
            stored[functionName, default: FunctionConcurrency()].provisioned[qualifier] = requested
            try check(stored, routings)
            let record = ProvisionedConcurrencyRecord(
                functionName: functionName, qualifier: qualifier, requested: requested,
                lastModified: Timestamps.nowWithoutMilliseconds())
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO provisioned_concurrency (function_name, qualifier, requested, last_modified)
                    VALUES (?, ?, ?, ?)
                    """,
                arguments: [functionName, qualifier, requested, record.lastModified])
            return record
        }
    }

    /// The stored provisioned-concurrency configurations of a function, by qualifier; after the checks of
    /// Get/Delete when `qualifier` is given (it must be a version or alias that exists).
    public func provisionedConcurrency(
        functionName: String, qualifier: String? = nil
    ) throws(RegistryError) -> [ProvisionedConcurrencyRecord] {
        try read { db in
            if let qualifier {
                _ = try provisionedTarget(
                    db, functionName: functionName, qualifier: qualifier,
                    latestMessage: "The function resource provided must be an alias or a published version.")
            } else if try !functionExists(db, functionName) {
                throw functionNotFound(functionName)
            }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM provisioned_concurrency WHERE function_name = ? AND (? IS NULL OR qualifier = ?)
                    ORDER BY qualifier
                    """,
                arguments: [functionName, qualifier, qualifier]
            ).map { row in
                ProvisionedConcurrencyRecord(
                    functionName: row["function_name"], qualifier: row["qualifier"], requested: row["requested"],
                    lastModified: row["last_modified"])
            }
        }
    }

    /// DeleteProvisionedConcurrencyConfig: after the checks of `provisionedTarget`; whether there was one.
    @discardableResult
    public func deleteProvisionedConcurrency(functionName: String, qualifier: String) throws(RegistryError) -> Bool {
        try write { db in
            _ = try provisionedTarget(
                db, functionName: functionName, qualifier: qualifier,
                latestMessage: "The function resource provided must be an alias or a published version.")
            try db.execute(
                sql: "DELETE FROM provisioned_concurrency WHERE function_name = ? AND qualifier = ?",
                arguments: [functionName, qualifier])
            return db.changesCount > 0
        }
    }
}
