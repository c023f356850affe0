import AsyncInvocation
import Foundation
public import LambdaModel
import NIOPosix
public import Registry

/// What the control API's writes need from the application around it: which functions, versions and aliases the
/// configuration declares (those are changed in the configuration; the API refuses to change them, see
/// docs/control-api.md "YAML and API"), a way to make the running server serve a committed change before the
/// response goes out, and PublishVersion (the function `albatross publish` calls too).
public struct APIWriteHooks: Sendable {
    /// What the configuration declares, as last applied.
    public struct Declared: Sendable, Hashable {
        public var file: String
        public var functions: Set<String>
        /// `<function>:<number>`.
        public var versions: Set<String>
        /// `<function>:<alias>`.
        public var aliases: Set<String>
        /// The file's `reservedConcurrentExecutions` and `provisionedConcurrentExecutions`, by function.
        public var concurrency: [String: FunctionConcurrency]

        public init(
            file: String = "", functions: Set<String> = [], versions: Set<String> = [], aliases: Set<String> = [],
            concurrency: [String: FunctionConcurrency] = [:]
        ) {
            self.file = file
            self.functions = functions
            self.versions = versions
            self.aliases = aliases
            self.concurrency = concurrency
        }

        /// The same, as the registry's rule for combining the file's concurrency with the store's takes it.
        public var declaredConcurrency: DeclaredConcurrency {
            var qualifiers: [String: Set<String>] = [:]
            for entry in versions.union(aliases) {
                guard let colon = entry.lastIndex(of: ":") else { continue }
                qualifiers[String(entry[..<colon]), default: []].insert(String(entry[entry.index(after: colon)...]))
            }
            return DeclaredConcurrency(functions: functions, qualifiers: qualifiers, settings: concurrency)
        }
    }

    public var declared: @Sendable () -> Declared
    /// Runs on the blocking thread pool after a write has committed, before the response is sent: the server
    /// installs a catalog with the change, so the next invoke runs it.
    public var committed: @Sendable () -> Void
    /// PublishVersion's members.
    public struct PublishRequest: Sendable {
        public var functionName: String
        public var description: String?
        public var expectedCodeSha256: String?
        public var expectedRevisionId: String?
    }

    /// Runs on the blocking thread pool: publishes `$LATEST`, a declared function's stored as the configuration
    /// declares it now first. The application passes `ConfigurationApplier.publish`, which `albatross publish`
    /// calls too; nil (no configuration) publishes the store's `$LATEST` with the registry's `publishVersion`.
    public var publish: (@Sendable (PublishRequest) throws -> FunctionVersionRecord)?
    /// CodeDeploy's PutLifecycleEventHookExecutionStatus, answered by the rollout runner: the execution id, or
    /// CodeDeploy's error. Nil answers DeploymentDoesNotExistException.
    public var lifecycleHookStatus:
        (@Sendable (LifecycleHookStatusRequest) async -> Result<String, LifecycleHookStatusError>)?
    /// The account's concurrency (`environments.concurrentExecutions`, `minimumUnreservedConcurrency`).
    public var accountConcurrency: AccountConcurrency
    /// A version's provisioned environments as its pool has them now (AWS's Requested, Allocated and Available),
    /// nil when the server has no pool for it: what makes a provisioned-concurrency configuration READY.
    public var provisionedCounts: @Sendable (_ function: String, _ version: String) -> ProvisionedCounts?

    /// Provisioned environments of one version's pool.
    public struct ProvisionedCounts: Sendable, Hashable {
        public var requested: Int
        public var allocated: Int
        public var available: Int

        public init(requested: Int, allocated: Int, available: Int) {
            self.requested = requested
            self.allocated = allocated
            self.available = available
        }
    }

    public init(
        declared: @escaping @Sendable () -> Declared = { Declared() }, committed: @escaping @Sendable () -> Void = {},
        publish: (@Sendable (PublishRequest) throws -> FunctionVersionRecord)? = nil,
        lifecycleHookStatus: (
            @Sendable (LifecycleHookStatusRequest) async -> Result<String, LifecycleHookStatusError>
        )? =
            nil,
        accountConcurrency: AccountConcurrency = AccountConcurrency(),
        provisionedCounts: @escaping @Sendable (String, String) -> ProvisionedCounts? = { _, _ in nil }
    ) {
        self.declared = declared
        self.committed = committed
        self.publish = publish
        self.lifecycleHookStatus = lifecycleHookStatus
        self.accountConcurrency = accountConcurrency
        self.provisionedCounts = provisionedCounts
    }
}

/// The write operations (§5.1, §5.5–§5.8, §5.10, §5.12, §5.14, §5.28): CreateFunction, UpdateFunctionCode,
/// UpdateFunctionConfiguration, DeleteFunction, PublishVersion, CreateAlias, UpdateAlias, DeleteAlias,
/// TagResource, UntagResource, ListTags. Every request is checked in full before the store is called, and every
/// store write is one transaction, so a refused request stores nothing.
extension ControlAPI {
    /// The members of CreateFunction's input in the botocore 1.43 model; those Albatross cannot honour are refused
    /// by name (``unsupported``) rather than ignored.
    static let createFunctionMembers: Set<String> = [
        "FunctionName", "Runtime", "Role", "Handler", "Code", "Description", "Timeout", "MemorySize", "Publish",
        "VpcConfig", "PackageType", "DeadLetterConfig", "Environment", "KMSKeyArn", "TracingConfig", "Tags", "Layers",
        "FileSystemConfigs", "ImageConfig", "CodeSigningConfigArn", "Architectures", "EphemeralStorage", "SnapStart",
        "LoggingConfig", "CapacityProviderConfig", "PublishTo", "DurableConfig", "TenancyConfig",
    ]
    static let updateConfigurationMembers: Set<String> = [
        "Role", "Handler", "Description", "Timeout", "MemorySize", "VpcConfig", "Environment", "Runtime",
        "DeadLetterConfig", "KMSKeyArn", "TracingConfig", "RevisionId", "Layers", "FileSystemConfigs", "ImageConfig",
        "EphemeralStorage", "SnapStart", "LoggingConfig", "CapacityProviderConfig", "DurableConfig",
    ]
    static let updateCodeMembers: Set<String> = [
        "ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri", "Publish", "DryRun", "RevisionId",
        "Architectures", "SourceKMSKeyArn", "PublishTo",
    ]
    static let codeMembers: Set<String> = [
        "ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri", "SourceKMSKeyArn",
    ]
    /// Model members Albatross has no counterpart for: refused with InvalidParameterValueException naming them.
    static let unsupported: [String] = [
        "VpcConfig", "KMSKeyArn", "FileSystemConfigs", "ImageConfig", "CodeSigningConfigArn",
        "SnapStart", "CapacityProviderConfig", "PublishTo", "DurableConfig", "TenancyConfig", "SourceKMSKeyArn",
    ]

    static func missing(_ member: String) -> APIError {
        .validation(value: "null", member: member, constraint: "Member must not be null")
    }

    static func refuseUnsupported(_ body: RequestBody) throws(APIError) {
        for member in unsupported where body.has(member) {
            throw .invalidParameter(
                "\(member) is not supported by Albatross: functions run as local processes (docs/control-api.md)")
        }
    }

    /// `DeadLetterConfig: {"TargetArn": …}` (§5.27): nil when not given, `""` to clear (an empty or absent
    /// TargetArn), else an SQS queue or SNS topic ARN (the model's pattern, then the services a dead-letter queue
    /// can be).
    static func deadLetterTarget(_ body: RequestBody) throws(APIError) -> String? {
        guard let config = try body.object("DeadLetterConfig", allowed: ["TargetArn"]) else { return nil }
        let arn = try config.string("TargetArn") ?? ""
        if arn.isEmpty { return "" }
        let pattern = #"(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()"#
        if (try? Regex(pattern).wholeMatch(in: arn)) == nil {
            throw .validation(
                value: arn, member: "deadLetterConfig.targetArn",
                constraint: "Member must satisfy regular expression pattern: \(pattern)")
        }
        guard case .outbox(let service, _) = DestinationTarget.parse(arn), service == "sqs" || service == "sns" else {
            throw .invalidParameter(
                "The target ARN \(arn) of DeadLetterConfig is not an SQS queue or SNS topic ARN.")
        }
        return arn
    }

    /// Stores a function's dead-letter target (`""` clears it) in the event queue's store, after the registry
    /// write committed: the two live in different databases (async.sqlite holds what the queue reads).
    func setDeadLetterTarget(_ target: String, function: String) async throws(APIError) {
        guard let store = asyncQueue?.store else {
            throw .service("DeadLetterConfig needs the event queue, which this server has not started")
        }
        do {
            try await threadPool.runIfActive { try store.setDeadLetterTarget(function: function, target) }
        } catch {
            throw .service("the dead-letter target could not be stored: \(error)")
        }
    }

    /// What DeleteFunction leaves behind in the event queue's store: the event-invoke configurations of the
    /// function (every qualifier) or of one version, and the function's dead-letter target.
    func removeAsyncSettings(function: String, qualifier: String?) async {
        guard let store = asyncQueue?.store else { return }
        _ = try? await threadPool.runIfActive {
            if let qualifier {
                try store.deleteConfig(function: function, qualifier: qualifier)
            } else {
                for config in try store.configs(function: function) {
                    try store.deleteConfig(function: function, qualifier: config.qualifier)
                }
                try store.setDeadLetterTarget(function: function, nil)
            }
        }
    }

    // MARK: CreateFunction

    func createFunction(_ context: Context) async throws(APIError) -> Response {
        let body = try RequestBody(context.request.body, allowed: Self.createFunctionMembers)
        try Self.refuseUnsupported(body)
        guard let functionName = try body.string("FunctionName") else { throw Self.missing("functionName") }
        let name = try newFunctionName(functionName, region: context.region)
        guard let role = try body.string("Role") else { throw Self.missing("role") }
        try Self.checkRole(role)
        guard let code = try body.object("Code", allowed: Self.codeMembers) else { throw Self.missing("code") }
        try Self.checkPackageType(try body.string("PackageType"))
        let source = try Self.codeSource(code)
        guard let runtimeName = try body.string("Runtime"), let handler = try body.string("Handler") else {
            throw .invalidParameter(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
        }
        var configuration = FunctionConfiguration(
            name: name, runtime: try Self.runtime(runtimeName), handler: try Self.handler(handler),
            code: source.location)
        try Self.apply(body, to: &configuration)
        let description = try body.string("Description") ?? ""
        let tags = try body.stringMap("Tags") ?? [:]
        let publish = try body.bool("Publish") ?? false
        let deadLetter = try Self.deadLetterTarget(body)
        if deadLetter != nil && asyncQueue == nil {
            throw .service("DeadLetterConfig needs the event queue, which this server has not started")
        }
        let registry = self.registry
        let hooks = self.hooks
        let checked = configuration
        let (record, published) = try await store { () throws(RegistryError) in
            let record = try registry.createFunction(
                checked, upload: source.upload, description: description, role: role, tags: tags)
            let published = publish ? try registry.publishVersion(functionName: name) : nil
            hooks.committed()
            return (record, published)
        }
        // The queue reads the target when an event fails, so it needs no catalog change.
        if let deadLetter { try await setDeadLetterTarget(deadLetter, function: name) }
        // §4.3: CreateFunction's FunctionArn is unqualified, also with Publish (Version "1" then).
        let shown = published ?? record
        return .json(
            201, await configurationJSON(shown, functionArn: record.unqualifiedArn, forList: false, state: .creating))
    }

    /// CreateFunction's `FunctionName`: a name, or an ARN of this region and account, without a qualifier; the
    /// name itself 1–64 characters of `[a-zA-Z0-9-_]`.
    func newFunctionName(_ text: String, region: String) throws(APIError) -> String {
        if text.utf8.count > 140 {
            throw .validation(
                value: text, member: "functionName", constraint: "Member must have length less than or equal to 140")
        }
        let reference = try FunctionReference.resolve(
            functionName: text, qualifier: nil, region: region, account: account)
        if reference.qualifier != nil {
            throw .invalidParameter("A function name given to CreateFunction cannot carry a version or alias.")
        }
        let name = reference.name
        if !name.utf8.allSatisfy(FunctionReference.isNameCharacter) {
            throw .validation(
                value: text, member: "functionName",
                constraint: "Member must satisfy regular expression pattern: \(Self.functionNamePattern)")
        }
        if name.utf8.count > 64 {
            throw APIError(
                type: "InvalidParameterValueException", status: 400,
                message: LambdaError.validation([
                    .init(
                        value: name, member: "functionName",
                        constraint: "Member must have length less than or equal to 64")
                ]).message)
        }
        return name
    }

    static let functionNamePattern =
        #"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"#
        + #"([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"#
    static let rolePattern = #"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"#

    static func checkRole(_ role: String) throws(APIError) {
        // Stored and shown as given; functions here run as the local user whatever it names.
        let matches = (try? Regex(rolePattern).wholeMatch(in: role)) != nil
        if !matches {
            throw .validation(
                value: role, member: "role",
                constraint: "Member must satisfy regular expression pattern: \(rolePattern)")
        }
    }

    static func checkPackageType(_ type: String?) throws(APIError) {
        switch type {
        case nil, "Zip": return
        case "Image":
            throw .invalidParameter("Albatross runs Zip packages only: container images are not supported.")
        case let other?:
            throw .validation(
                value: other, member: "packageType", constraint: "Member must satisfy enum value set: [Zip, Image]")
        }
    }

    /// Where new code comes from: an upload, or (an Albatross extension) a directory on this machine.
    enum CodeSource: Sendable {
        case upload(Data)
        case directory(String)

        var upload: Data? {
            if case .upload(let data) = self { return data }
            return nil
        }

        /// The configuration's code: the directory, or a placeholder the upload replaces.
        var location: CodeLocation {
            switch self {
            case .upload: return .zip("upload")
            case .directory(let path): return .directory(path)
            }
        }
    }

    /// The bucket name that makes `S3Key` a local directory (an Albatross extension, docs/control-api.md).
    static let localCodeBucket = "albatross-local"

    /// The code a `Code` / UpdateFunctionCode body names: `ZipFile` (base64 in the JSON, as botocore sends a blob),
    /// or `S3Bucket: albatross-local` with `S3Key` an absolute directory path, packed deterministically when the
    /// call is made. Other S3 locations and images have no counterpart here.
    static func codeSource(_ code: RequestBody) throws(APIError) -> CodeSource {
        if code.has("ImageUri") {
            throw .invalidParameter("Albatross runs Zip packages only: container images are not supported.")
        }
        if code.has("SourceKMSKeyArn") {
            throw .invalidParameter("SourceKMSKeyArn is not supported by Albatross")
        }
        if code.has("S3Bucket") || code.has("S3Key") || code.has("S3ObjectVersion") {
            guard try code.string("S3Bucket") == localCodeBucket, !code.has("S3ObjectVersion"), !code.has("ZipFile"),
                let path = try code.string("S3Key"), path.hasPrefix("/")
            else {
                throw .invalidParameter(
                    "Albatross has no S3: upload the package as ZipFile (--zip-file fileb://function.zip), or give "
                        + "S3Bucket \(localCodeBucket) and an absolute directory path as S3Key")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .invalidParameter("S3Key \(path) is not a directory on the machine Albatross runs on")
            }
            return .directory(path)
        }
        guard let text = try code.string("ZipFile") else {
            throw .invalidParameter("Please provide a source for function code.")
        }
        guard let data = Data(base64Encoded: text) else {
            throw RequestBody.contentError("the member \"ZipFile\" is not valid base64")
        }
        return .upload(data)
    }

    static func runtime(_ name: String) throws(APIError) -> Runtime {
        guard let runtime = Runtime(identifier: name) else {
            throw .invalidParameter(
                "Value \(name) at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: ["
                    + Runtime.supportedIdentifiers.joined(separator: ", ") + "] or be a runtime Albatross can run")
        }
        return runtime
    }

    static func handler(_ handler: String) throws(APIError) -> String {
        if handler.count > 128 {
            throw .validation(
                value: handler, member: "handler", constraint: "Member must have length less than or equal to 128")
        }
        if handler.isEmpty || handler.contains(where: \.isWhitespace) {
            throw .validation(
                value: handler, member: "handler",
                constraint: #"Member must satisfy regular expression pattern: [^\s]+"#)
        }
        return handler
    }

    /// The configuration members CreateFunction and UpdateFunctionConfiguration share, applied when present:
    /// Timeout, MemorySize, Environment (replaces the whole map), Layers (replaces the list), TracingConfig,
    /// LoggingConfig, Architectures and EphemeralStorage (checked only: one machine, one size).
    static func apply(_ body: RequestBody, to configuration: inout FunctionConfiguration) throws(APIError) {
        if let timeout = try body.int("Timeout") { configuration.timeout = timeout }
        if let memory = try body.int("MemorySize") { configuration.memorySize = memory }
        if let environment = try body.object("Environment", allowed: ["Variables"]) {
            let variables = try environment.stringMap("Variables") ?? [:]
            configuration.environment = variables.sorted { $0.key < $1.key }.map {
                EnvironmentVariable(name: $0.key, value: $0.value)
            }
        }
        if let layers = try body.strings("Layers") { configuration.layers = layers }
        if let tracing = try body.object("TracingConfig", allowed: ["Mode"]) {
            let mode = try tracing.string("Mode") ?? "PassThrough"
            guard let parsed = TracingConfiguration.Mode(rawValue: mode) else {
                throw .validation(
                    value: mode, member: "tracingConfig.mode",
                    constraint: "Member must satisfy enum value set: [Active, PassThrough]")
            }
            configuration.tracing = TracingConfiguration(mode: parsed)
        }
        if let logging = try body.object(
            "LoggingConfig", allowed: ["LogFormat", "ApplicationLogLevel", "SystemLogLevel", "LogGroup"])
        {
            configuration.logging = try loggingConfiguration(logging, current: configuration.logging)
        }
        if let architectures = try body.strings("Architectures") {
            if architectures.count != 1 {
                throw .validation(
                    value: "[\(architectures.joined(separator: ", "))]", member: "architectures",
                    constraint: architectures.isEmpty
                        ? "Member must have length greater than or equal to 1"
                        : "Member must have length less than or equal to 1")
            }
            guard ["x86_64", "arm64"].contains(architectures[0]) else {
                throw .validation(
                    value: "[\(architectures[0])]", member: "architectures",
                    constraint:
                        "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], "
                        + "Member must not be null]")
            }
            if architectures[0] != Shapes.architecture {
                throw .invalidParameter(
                    "Albatross runs functions on this machine's architecture, \(Shapes.architecture), "
                        + "not \(architectures[0])")
            }
        }
        if let storage = try body.object("EphemeralStorage", allowed: ["Size"]) {
            let size = try storage.int("Size") ?? 512
            if size != 512 {
                throw .invalidParameter("Albatross gives every function 512 MB of ephemeral storage, not \(size)")
            }
        }
    }

    static func loggingConfiguration(
        _ body: RequestBody, current: LoggingConfiguration
    ) throws(APIError) -> LoggingConfiguration {
        var logging = current
        if let format = try body.string("LogFormat") {
            guard let parsed = LoggingConfiguration.LogFormat(rawValue: format) else {
                throw .validation(
                    value: format, member: "loggingConfig.logFormat",
                    constraint: "Member must satisfy enum value set: [JSON, Text]")
            }
            logging.logFormat = parsed
        }
        if let level = try body.string("ApplicationLogLevel") {
            guard let parsed = LoggingConfiguration.ApplicationLogLevel(rawValue: level) else {
                throw .validation(
                    value: level, member: "loggingConfig.applicationLogLevel",
                    constraint: "Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]")
            }
            logging.applicationLogLevel = parsed
        }
        if let level = try body.string("SystemLogLevel") {
            guard let parsed = LoggingConfiguration.SystemLogLevel(rawValue: level) else {
                throw .validation(
                    value: level, member: "loggingConfig.systemLogLevel",
                    constraint: "Member must satisfy enum value set: [DEBUG, INFO, WARN]")
            }
            logging.systemLogLevel = parsed
        }
        if let group = try body.string("LogGroup") {
            if let problem = LoggingConfiguration.logGroupProblem(group) { throw .invalidParameter(problem) }
            logging.logGroup = group
        }
        if logging.logFormat == .text && (logging.applicationLogLevel != nil || logging.systemLogLevel != nil) {
            logging.applicationLogLevel = nil
            logging.systemLogLevel = nil
        }
        return logging
    }

    // MARK: UpdateFunctionCode / UpdateFunctionConfiguration

    /// The function an update or delete names (only `$LATEST` or no qualifier), refused when the configuration
    /// declares it.
    func latestReference(_ context: Context, operation: String) throws(APIError) -> FunctionReference {
        let reference = try reference(context)
        if let qualifier = reference.qualifier, qualifier != Registry.latest {
            throw .invalidParameter("Current operation does not support versions other than $LATEST")
        }
        try refuseDeclared(function: reference.name, operation: operation)
        return reference
    }

    func refuseDeclared(function name: String, operation: String) throws(APIError) {
        let declared = hooks.declared()
        if declared.functions.contains(name) {
            throw APIError(
                type: "ResourceConflictException", status: 409,
                message: "The function \(account.functionARN(name)) is declared in \(declared.file), which manages "
                    + "its code and configuration: change it there (a running server applies the file when it "
                    + "changes). \(operation) applies to functions created through this API.")
        }
    }

    func updateFunctionCode(_ context: Context) async throws(APIError) -> Response {
        let reference = try latestReference(context, operation: "UpdateFunctionCode")
        let body = try RequestBody(context.request.body, allowed: Self.updateCodeMembers)
        try Self.refuseUnsupported(body)
        let source = try Self.codeSource(body)
        // Architectures is the only configuration member UpdateFunctionCode has; it is checked, not stored.
        var scratch = FunctionConfiguration(
            name: reference.name, runtime: Runtime(identifier: "provided")!, handler: "h", code: .zip(""))
        try Self.apply(body, to: &scratch)
        let publish = try body.bool("Publish") ?? false
        let dryRun = try body.bool("DryRun") ?? false
        let revisionId = try body.string("RevisionId")
        let registry = self.registry
        let hooks = self.hooks
        let name = reference.name
        if dryRun {
            var record = try await store { () throws(RegistryError) in
                let current = try registry.version(functionName: name, version: Registry.latest)
                if let revisionId, revisionId != current.revisionId {
                    throw RegistryError(LambdaError.revisionMismatch)
                }
                return current
            }
            let checked = try await store { () throws(RegistryError) in
                switch source {
                case .upload(let data): return try registry.checkUploadOnly(data)
                case .directory:
                    let sha = try registry.codeSha256(of: source.location, what: "function \(name)")
                    return (sha, -1)
                }
            }
            record.codeSha256 = checked.codeSha256
            if checked.size >= 0 { record.codeSize = checked.size }
            return .json(200, await configurationJSON(record, functionArn: record.unqualifiedArn, forList: false))
        }
        let (record, published) = try await store { () throws(RegistryError) in
            let record = try registry.updateLatest(
                functionName: name, upload: source.upload, expectedRevisionId: revisionId
            ) { (configuration, _) throws(RegistryError) in
                if case .directory = source { configuration.code = source.location }
            }
            let published = publish ? try registry.publishVersion(functionName: name) : nil
            hooks.committed()
            return (record, published)
        }
        if let published {
            return .json(
                200, await configurationJSON(published, functionArn: published.arn, forList: false, state: .creating))
        }
        return .json(
            200, await configurationJSON(record, functionArn: record.unqualifiedArn, forList: false, state: .updating))
    }

    func updateFunctionConfiguration(_ context: Context) async throws(APIError) -> Response {
        let reference = try latestReference(context, operation: "UpdateFunctionConfiguration")
        let body = try RequestBody(context.request.body, allowed: Self.updateConfigurationMembers)
        try Self.refuseUnsupported(body)
        let role = try body.string("Role")
        if let role { try Self.checkRole(role) }
        let runtime = try body.string("Runtime").map { name throws(APIError) in try Self.runtime(name) }
        let handler = try body.string("Handler").map { text throws(APIError) in try Self.handler(text) }
        let description = try body.string("Description")
        let revisionId = try body.string("RevisionId")
        let deadLetter = try Self.deadLetterTarget(body)
        if deadLetter != nil && asyncQueue == nil {
            throw .service("DeadLetterConfig needs the event queue, which this server has not started")
        }
        // Checked here once on a scratch configuration, so that the store's closure cannot fail on the body.
        var scratch = FunctionConfiguration(
            name: reference.name, runtime: Runtime(identifier: "provided")!, handler: "h", code: .zip(""))
        try Self.apply(body, to: &scratch)
        let timeout = try body.int("Timeout")
        let memory = try body.int("MemorySize")
        let environment = body.has("Environment") ? scratch.environment : nil
        let layers = try body.strings("Layers")
        let tracing = body.has("TracingConfig") ? scratch.tracing : nil
        let loggingBody = try body.object(
            "LoggingConfig", allowed: ["LogFormat", "ApplicationLogLevel", "SystemLogLevel", "LogGroup"])
        let loggingChange: (@Sendable (LoggingConfiguration) -> LoggingConfiguration)?
        if let loggingBody {
            // Applied to the stored configuration's logging (a partial LoggingConfig changes only what it names).
            let format = try loggingBody.string("LogFormat")
            let application = try loggingBody.string("ApplicationLogLevel")
            let system = try loggingBody.string("SystemLogLevel")
            let group = try loggingBody.string("LogGroup")
            loggingChange = { current in
                var logging = current
                if let format, let parsed = LoggingConfiguration.LogFormat(rawValue: format) {
                    logging.logFormat = parsed
                }
                if let application { logging.applicationLogLevel = .init(rawValue: application) }
                if let system { logging.systemLogLevel = .init(rawValue: system) }
                if let group { logging.logGroup = group }
                if logging.logFormat == .text {
                    logging.applicationLogLevel = nil
                    logging.systemLogLevel = nil
                }
                return logging
            }
        } else {
            loggingChange = nil
        }
        let registry = self.registry
        let hooks = self.hooks
        let name = reference.name
        let record = try await store { () throws(RegistryError) in
            let record = try registry.updateLatest(functionName: name, expectedRevisionId: revisionId, role: role) {
                (configuration, currentDescription) throws(RegistryError) in
                if let runtime {
                    var runtime = runtime
                    runtime.pythonInterpreter = configuration.runtime.pythonInterpreter
                    configuration.runtime = runtime
                }
                if let handler { configuration.handler = handler }
                if let description { currentDescription = description }
                if let timeout { configuration.timeout = timeout }
                if let memory { configuration.memorySize = memory }
                if let environment { configuration.environment = environment }
                if let layers { configuration.layers = layers }
                if let tracing { configuration.tracing = tracing }
                if let loggingChange { configuration.logging = loggingChange(configuration.logging) }
            }
            hooks.committed()
            return record
        }
        if let deadLetter { try await setDeadLetterTarget(deadLetter, function: name) }
        return .json(
            200, await configurationJSON(record, functionArn: record.unqualifiedArn, forList: false, state: .updating))
    }

    // MARK: DeleteFunction

    func deleteFunction(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let registry = self.registry
        let hooks = self.hooks
        let name = reference.name
        let declared = hooks.declared()
        if let qualifier = reference.qualifier {
            if declared.versions.contains("\(name):\(qualifier)") {
                throw APIError(
                    type: "ResourceConflictException", status: 409,
                    message: "Version \(qualifier) of \(account.functionARN(name)) is declared in \(declared.file); "
                        + "remove it there first.")
            }
            try await store { () throws(RegistryError) in
                try registry.deleteVersion(functionName: name, version: qualifier)
                hooks.committed()
            }
            await removeAsyncSettings(function: name, qualifier: qualifier)
        } else {
            try refuseDeclared(function: name, operation: "DeleteFunction")
            try await store { () throws(RegistryError) in
                try registry.deleteFunction(name: name)
                hooks.committed()
            }
            await removeAsyncSettings(function: name, qualifier: nil)
        }
        return Response(status: 204)
    }

    // MARK: PublishVersion

    func publishVersion(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let body = try RequestBody(
            context.request.body, allowed: ["CodeSha256", "Description", "RevisionId", "PublishTo"])
        if body.has("PublishTo") { throw .invalidParameter("PublishTo is not supported by Albatross") }
        let codeSha256 = try body.string("CodeSha256")
        let description = try body.string("Description")
        let revisionId = try body.string("RevisionId")
        let registry = self.registry
        let hooks = self.hooks
        let request = APIWriteHooks.PublishRequest(
            functionName: reference.name, description: description, expectedCodeSha256: codeSha256,
            expectedRevisionId: revisionId)
        let record = try await store { () throws(RegistryError) in
            let record: FunctionVersionRecord
            do {
                if let publish = hooks.publish {
                    record = try publish(request)
                } else {
                    record = try registry.publishVersion(
                        functionName: request.functionName, description: request.description,
                        expectedCodeSha256: request.expectedCodeSha256, expectedRevisionId: request.expectedRevisionId)
                }
            } catch let error as RegistryError {
                throw error
            } catch {
                // The configuration no longer declares what it did (a layer gone): not the caller's fault.
                throw RegistryError(.resourceConflict, "\(error)")
            }
            hooks.committed()
            return record
        }
        return .json(201, await configurationJSON(record, functionArn: record.arn, forList: false))
    }

    // MARK: Aliases

    func refuseDeclared(alias: String, function: String) throws(APIError) {
        let declared = hooks.declared()
        if declared.aliases.contains("\(function):\(alias)") {
            throw APIError(
                type: "ResourceConflictException", status: 409,
                message: "The alias \(account.functionARN(function, qualifier: alias)) is declared in "
                    + "\(declared.file), which manages it: change it there.")
        }
    }

    static func weights(_ body: RequestBody) throws(APIError) -> [String: Double]? {
        guard let routing = try body.object("RoutingConfig", allowed: ["AdditionalVersionWeights"]) else { return nil }
        return try routing.doubleMap("AdditionalVersionWeights") ?? [:]
    }

    func createAlias(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let body = try RequestBody(
            context.request.body, allowed: ["Name", "FunctionVersion", "Description", "RoutingConfig"])
        guard let name = try body.string("Name") else { throw Self.missing("name") }
        guard let version = try body.string("FunctionVersion") else { throw Self.missing("functionVersion") }
        let description = try body.string("Description") ?? ""
        let weights = try Self.weights(body) ?? [:]
        let routing: AliasRouting
        do {
            routing = try AliasValidation.validate(
                name: name, functionVersion: version, additionalVersionWeights: weights, description: description)
        } catch {
            throw APIError(error)
        }
        let registry = self.registry
        let hooks = self.hooks
        let function = reference.name
        let alias = try await store { () throws(RegistryError) in
            let alias = try registry.createAlias(
                functionName: function, name: name, routing: routing, description: description)
            hooks.committed()
            return alias
        }
        return .json(201, Shapes.alias(alias))
    }

    func updateAlias(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let name = context.parameter("Name")
        try refuseDeclared(alias: name, function: reference.name)
        let body = try RequestBody(
            context.request.body, allowed: ["FunctionVersion", "Description", "RoutingConfig", "RevisionId"])
        let version = try body.string("FunctionVersion")
        let description = try body.string("Description")
        let revisionId = try body.string("RevisionId")
        let weights = try Self.weights(body)
        let registry = self.registry
        let hooks = self.hooks
        let function = reference.name
        let alias = try await store { () throws(RegistryError) in
            let alias = try registry.updateAlias(
                functionName: function, name: name, functionVersion: version, additionalVersionWeights: weights,
                description: description, expectedRevisionId: revisionId)
            hooks.committed()
            return alias
        }
        return .json(200, Shapes.alias(alias))
    }

    func deleteAlias(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let name = context.parameter("Name")
        try refuseDeclared(alias: name, function: reference.name)
        let registry = self.registry
        let hooks = self.hooks
        let function = reference.name
        try await store { () throws(RegistryError) in
            if try registry.deleteAlias(functionName: function, name: name) { hooks.committed() }
        }
        await removeAsyncSettings(function: function, qualifier: name)
        return Response(status: 204)
    }

    // MARK: Tags

    /// The function a tagging call's `{Resource}` names: an unqualified function ARN (§5.28).
    func taggedFunction(_ context: Context) throws(APIError) -> String {
        let resource = context.parameter("Resource")
        guard resource.hasPrefix("arn:") else {
            throw .validation(
                value: resource, member: "resource",
                constraint: "Member must satisfy regular expression pattern: "
                    + #"arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:function:"#
                    + #"[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?"#)
        }
        let reference = try FunctionReference.resolve(
            functionName: resource, qualifier: nil, region: context.region, account: account)
        if reference.qualifier != nil {
            throw .invalidParameter(
                "Tags on function aliases and versions are not supported. Please specify a function ARN.")
        }
        return reference.name
    }

    func tagResource(_ context: Context) async throws(APIError) -> Response {
        let function = try taggedFunction(context)
        let body = try RequestBody(context.request.body, allowed: ["Tags"])
        guard let tags = try body.stringMap("Tags") else { throw Self.missing("tags") }
        let registry = self.registry
        try await store { () throws(RegistryError) in try registry.tagFunction(name: function, tags: tags) }
        return Response(status: 204)
    }

    func untagResource(_ context: Context) async throws(APIError) -> Response {
        let function = try taggedFunction(context)
        let keys = context.match.query.filter { $0.name == "tagKeys" }.map(\.value)
        if keys.isEmpty { throw Self.missing("tagKeys") }
        let registry = self.registry
        try await store { () throws(RegistryError) in try registry.untagFunction(name: function, keys: keys) }
        return Response(status: 204)
    }

    func listTags(_ context: Context) async throws(APIError) -> Response {
        let function = try taggedFunction(context)
        let registry = self.registry
        let tags = try await store { () throws(RegistryError) in try registry.tags(functionName: function) }
        return .json(200, .object([("Tags", Self.tagsJSON(tags))]))
    }

    static func tagsJSON(_ tags: [String: String]) -> JSONValue {
        .object(tags.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
    }
}
