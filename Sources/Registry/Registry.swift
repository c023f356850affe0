import AlbatrossCrypto
import Foundation
internal import GRDB
public import LambdaModel

/// The durable home of functions, their published versions, their aliases and layer versions: what lets a canary
/// rollout survive restarts and crashes.
///
/// Everything lives under one data directory:
/// - `registry.sqlite` (+ `-wal`, `-shm`): the tables, in SQLite WAL mode through GRDB; every publish and every
///   alias change is one immediate transaction, so a crash leaves the old or the new state, never half of one;
/// - `registry.key`: the 32-byte AES-256-GCM key (mode 0600) that encrypts environment variables at rest;
/// - `code-store/<hex sha256>.zip`: each code package once, addressed by its SHA-256;
/// - `tasks/<hex sha256>/`: packages unpacked for execution environments, once per hash;
/// - `opt/<hex>/`: the layers of a function merged in order (AWS's `/opt`), once per list of layer versions.
///
/// All calls are synchronous and may block on disk; several processes (a server and the CLI) may share a data
/// directory. See docs/registry.md.
public final class Registry: Sendable {
    /// The version name of the mutable version.
    public static let latest = "$LATEST"

    public let dataDirectory: String
    public let account: AccountContext
    let pool: DatabasePool
    let cipher: EnvironmentCipher

    public var databasePath: String { "\(dataDirectory)/registry.sqlite" }
    public var keyPath: String { "\(dataDirectory)/registry.key" }
    public var codeStoreDirectory: String { "\(dataDirectory)/code-store" }
    public var tasksDirectory: String { "\(dataDirectory)/tasks" }
    /// Where merged layers are unpacked: `<data>/opt/<hex>/` stands for AWS's `/opt`.
    public var layersDirectory: String { "\(dataDirectory)/opt" }

    /// Opens (creating when missing) the registry in `dataDirectory` and brings its schema up to date.
    ///
    /// Fails when the key file exists with permissions wider than 0600, naming the file.
    public init(dataDirectory: String, account: AccountContext) throws(RegistryError) {
        let directory =
            dataDirectory.count > 1 && dataDirectory.hasSuffix("/")
            ? String(dataDirectory.dropLast()) : dataDirectory
        self.dataDirectory = directory
        self.account = account
        try FileStore.createDirectory(directory)
        cipher = EnvironmentCipher(key: try KeyFile.loadOrCreate(at: "\(directory)/registry.key"))
        try FileStore.createDirectory("\(directory)/code-store")
        try FileStore.createDirectory("\(directory)/tasks")
        try FileStore.createDirectory("\(directory)/opt")
        var configuration = Configuration()
        configuration.label = "registry"
        configuration.busyMode = .timeout(30)
        // Committed publishes survive power loss too, not only a killed process.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        do {
            pool = try DatabasePool(path: "\(directory)/registry.sqlite", configuration: configuration)
            try Schema.migrator.migrate(pool)
        } catch {
            throw .store("cannot open the registry database \(directory)/registry.sqlite: \(error)")
        }
    }

    // MARK: Transactions

    /// Runs `body` in one IMMEDIATE transaction (the write lock is taken up front, so concurrent writers from
    /// other processes wait instead of failing on a lock upgrade).
    func write<T>(_ body: (Database) throws -> T) throws(RegistryError) -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .store("the registry database \(databasePath) failed: \(error)")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(RegistryError) -> T {
        do {
            return try pool.read { db in try body(db) }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .store("the registry database \(databasePath) failed: \(error)")
        }
    }

    // MARK: Rows

    /// One row of `versions`, environment still sealed.
    struct VersionRow {
        var functionName: String
        var number: Int
        var runtime: String
        var pythonInterpreter: String?
        var handler: String
        var memorySize: Int
        var timeout: Int
        var maximumConcurrency: Int
        var environment: Data
        var codeSha256: String
        var codeSize: Int
        var description: String
        /// The execution role; '' for none (a function of the configuration file).
        var role: String
        var revisionId: String
        var lastModified: String
        /// The layer version ARNs as a JSON array of strings.
        var layers: String
        /// The LoggingConfiguration as JSON, '' for the default.
        var loggingConfig: String
        /// The TracingConfig mode (`Active` / `PassThrough`).
        var tracingMode: String

        init(row: Row) {
            functionName = row["function_name"]
            number = row["number"]
            runtime = row["runtime"]
            pythonInterpreter = row["python_interpreter"]
            handler = row["handler"]
            memorySize = row["memory_size"]
            timeout = row["timeout"]
            maximumConcurrency = row["maximum_concurrency"]
            environment = row["environment"]
            codeSha256 = row["code_sha256"]
            codeSize = row["code_size"]
            description = row["description"]
            role = row["role"]
            revisionId = row["revision_id"]
            lastModified = row["last_modified"]
            layers = row["layers"]
            loggingConfig = row["logging_config"]
            tracingMode = row["tracing_mode"]
        }

        init(
            functionName: String, number: Int, configuration: FunctionConfiguration, environment: Data,
            codeSha256: String, codeSize: Int, description: String, role: String, revisionId: String,
            lastModified: String
        ) {
            self.functionName = functionName
            self.number = number
            runtime = configuration.runtime.identifier
            pythonInterpreter = configuration.runtime.pythonInterpreter
            handler = configuration.handler
            memorySize = configuration.memorySize
            timeout = configuration.timeout
            maximumConcurrency = configuration.maximumConcurrency
            self.environment = environment
            self.codeSha256 = codeSha256
            self.codeSize = codeSize
            self.description = description
            self.role = role
            self.revisionId = revisionId
            self.lastModified = lastModified
            layers = Registry.encodeStrings(configuration.layers)
            loggingConfig = Registry.encodeLogging(configuration.logging)
            tracingMode = configuration.tracing.mode.rawValue
        }

        /// Writes the row; only `$LATEST` may replace an existing row, a published version is written once.
        func save(_ db: Database) throws {
            try db.execute(
                sql: """
                    INSERT \(number == 0 ? "OR REPLACE " : "")INTO versions (function_name, number, runtime,
                        python_interpreter, handler, memory_size, timeout, maximum_concurrency, environment,
                        code_sha256, code_size, description, revision_id, last_modified, layers, logging_config,
                        tracing_mode, role)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    functionName, number, runtime, pythonInterpreter, handler, memorySize, timeout,
                    maximumConcurrency, environment, codeSha256, codeSize, description, revisionId, lastModified,
                    layers, loggingConfig, tracingMode, role,
                ])
        }
    }

    static func versionName(_ number: Int) -> String { number == 0 ? latest : String(number) }

    /// `$LATEST` → 0, `"7"` → 7, anything else (`"07"`, `"0"`, `"live"`) nil.
    static func versionNumber(_ version: String) -> Int? {
        if version == latest { return 0 }
        guard let number = Int(version), number > 0, String(number) == version else { return nil }
        return number
    }

    func fetchVersionRow(_ db: Database, function: String, number: Int) throws -> VersionRow? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM versions WHERE function_name = ? AND number = ?", arguments: [function, number]
        ).map(VersionRow.init(row:))
    }

    func functionExists(_ db: Database, _ name: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM functions WHERE name = ?", arguments: [name]) ?? false
    }

    // MARK: Records

    func seal(_ variables: [EnvironmentVariable], function: String, number: Int) throws(RegistryError) -> Data {
        let pairs = variables.map { [$0.name, $0.value] }
        let plaintext: Data
        do {
            plaintext = try JSONEncoder().encode(pairs)
        } catch {
            throw .store("cannot encode the environment variables of \(function)")
        }
        return try cipher.seal(
            [UInt8](plaintext),
            associatedData: EnvironmentCipher.associatedData(function: function, version: Self.versionName(number)))
    }

    func record(from row: VersionRow) throws(RegistryError) -> FunctionVersionRecord {
        let version = Self.versionName(row.number)
        let what = "\(row.functionName):\(version)"
        let plaintext = try cipher.open(
            row.environment,
            associatedData: EnvironmentCipher.associatedData(function: row.functionName, version: version),
            what: what)
        let pairs: [[String]]
        do {
            pairs = try JSONDecoder().decode([[String]].self, from: Data(plaintext))
        } catch {
            throw .store("the environment variables of \(what) cannot be decoded")
        }
        guard let runtime = Runtime(identifier: row.runtime, pythonInterpreter: row.pythonInterpreter) else {
            throw .store("\(what) has the runtime \(row.runtime), which this platform cannot run")
        }
        let configuration = FunctionConfiguration(
            name: row.functionName, runtime: runtime, handler: row.handler,
            code: .zip(packagePath(hex: try Self.hex(ofCodeSha256: row.codeSha256, what: what))),
            memorySize: row.memorySize, timeout: row.timeout,
            environment: pairs.compactMap { $0.count == 2 ? EnvironmentVariable(name: $0[0], value: $0[1]) : nil },
            maximumConcurrency: row.maximumConcurrency,
            layers: try Self.decodeStrings(row.layers, what: "the layers of \(what)"),
            logging: try Self.decodeLogging(row.loggingConfig, what: what),
            tracing: try Self.decodeTracing(row.tracingMode, what: what))
        return FunctionVersionRecord(
            functionName: row.functionName, version: version, configuration: configuration,
            codeSha256: row.codeSha256, codeSize: row.codeSize, revisionId: row.revisionId,
            lastModified: row.lastModified, description: row.description, role: row.role.isEmpty ? nil : row.role,
            arn: account.functionARN(row.functionName, qualifier: version),
            unqualifiedArn: account.functionARN(row.functionName))
    }

    /// A logging configuration as stored in `versions.logging_config`: '' for the default one.
    static func encodeLogging(_ logging: LoggingConfiguration) -> String {
        if logging == LoggingConfiguration() { return "" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(logging)).flatMap { String(data: $0, encoding: .utf8) } ?? ""
    }

    static func decodeLogging(_ json: String, what: String) throws(RegistryError) -> LoggingConfiguration {
        if json.isEmpty { return LoggingConfiguration() }
        do {
            return try JSONDecoder().decode(LoggingConfiguration.self, from: Data(json.utf8))
        } catch {
            throw .store("the logging configuration of \(what) cannot be decoded")
        }
    }

    static func decodeTracing(_ mode: String, what: String) throws(RegistryError) -> TracingConfiguration {
        guard let mode = TracingConfiguration.Mode(rawValue: mode) else {
            throw .store("the tracing mode of \(what) is \(mode), neither Active nor PassThrough")
        }
        return TracingConfiguration(mode: mode)
    }

    /// A list of strings as the JSON array stored in a TEXT column.
    static func encodeStrings(_ strings: [String]) -> String {
        "[" + strings.map(JSONText.quoted).joined(separator: ",") + "]"
    }

    static func decodeStrings(_ json: String, what: String) throws(RegistryError) -> [String] {
        do {
            return try JSONDecoder().decode([String].self, from: Data(json.utf8))
        } catch {
            throw .store("\(what) cannot be decoded from '\(json)'")
        }
    }

    static func hex(ofCodeSha256 codeSha256: String, what: String) throws(RegistryError) -> String {
        guard let digest = Data(base64Encoded: codeSha256), digest.count == 32 else {
            throw .store("\(what) has a malformed CodeSha256 '\(codeSha256)'")
        }
        return SHA256.hex([UInt8](digest))
    }

    func functionNotFound(_ name: String, qualifier: String? = nil) -> RegistryError {
        RegistryError(.resourceNotFound, "Function not found: \(account.functionARN(name, qualifier: qualifier))")
    }
}
