internal import Foundation
internal import LambdaModel
internal import Routing
internal import Yams

/// Reads the YAML configuration file into a validated ``AlbatrossConfiguration``.
///
/// All checking happens here, once, at the edge: unknown keys (with a "did you mean"), wrong types, ranges,
/// names, duplicate definitions, dangling references and files that must exist. The first problem found is
/// thrown as a ``ConfigurationError`` naming the file, line and key path.
public enum ConfigurationLoader {
    /// Loads the file at `path`; relative paths inside it resolve against the file's directory.
    public static func load(path: String) throws(ConfigurationError) -> AlbatrossConfiguration {
        let absolute = FilePaths.absolute(path, relativeTo: FileManager.default.currentDirectoryPath)
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: absolute))
        } catch {
            throw ConfigurationError(
                file: path, line: nil, keyPath: "",
                message: "cannot read the configuration file: \(FilePaths.reason(error))"
            )
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, line: nil, keyPath: "", message: "the file is not valid UTF-8")
        }
        return try parse(yaml: text, file: path, baseDirectory: FilePaths.directory(of: absolute))
    }

    /// Parses YAML text. `file` is used only in error messages; `baseDirectory` anchors relative paths.
    public static func parse(
        yaml: String,
        file: String,
        baseDirectory: String
    ) throws(ConfigurationError) -> AlbatrossConfiguration {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw ConfigurationError(file: file, line: nil, keyPath: "", message: "the configuration is empty")
            }
            root = node
        } catch let error as ConfigurationError {
            throw error
        } catch let error as YamlError {
            throw ConfigurationParser.convert(error, file: file)
        } catch {
            throw ConfigurationError(file: file, line: nil, keyPath: "", message: "invalid YAML: \(error)")
        }
        let base = FilePaths.absolute(baseDirectory, relativeTo: FileManager.default.currentDirectoryPath)
        var parser = ConfigurationParser(file: file, baseDirectory: base)
        return try parser.parseRoot(ConfigNode(node: root, path: "", file: file))
    }
}

/// The state of one parse: where relative paths resolve, and what has been defined so far.
struct ConfigurationParser {
    let file: String
    let baseDirectory: String
    var account = AccountContext()
    /// Function names with the line of their definition.
    var functionLines: [String: Int?] = [:]
    var targetGroupLines: [String: Int?] = [:]
    var declaredVersions: [String: [DeclaredVersion]] = [:]
    var declaredAliases: [String: [DeclaredAlias]] = [:]
    /// Reserved and provisioned concurrency by function, with the nodes that set them (for later checks).
    var concurrency: [String: FunctionConcurrency] = [:]
    var concurrencyNodes: [String: ConfigNode] = [:]
    var provisionedNodes: [String: [String: ConfigNode]] = [:]
    var environmentSettings = EnvironmentSettings()
    /// Layer names with the line of their definition.
    var layerLines: [String: Int?] = [:]
    /// The `layers:` of each function, as written.
    var layerReferences: [String: [LayerReference]] = [:]
    /// Each function's `eventInvokeConfig` and `deadLetterConfig`.
    var eventInvokeConfigs: [String: EventInvokeConfig] = [:]
    var deadLetterTargets: [String: String] = [:]

    init(file: String, baseDirectory: String) {
        self.file = file
        self.baseDirectory = baseDirectory
    }

    static let rootKeys = [
        "dataDirectory", "region", "accountId", "randomSeed", "environments", "loadBalancer", "layers", "functions",
        "targetGroups", "listeners", "logs", "admin", "tracing", "api", "async",
    ]

    mutating func parseRoot(_ root: ConfigNode) throws(ConfigurationError) -> AlbatrossConfiguration {
        let mapping = try root.mapping(allowed: Self.rootKeys)
        var dataDirectory = FilePaths.absolute("./data", relativeTo: baseDirectory)
        if let node = mapping.optional("dataDirectory") {
            dataDirectory = FilePaths.absolute(try node.nonEmptyString(), relativeTo: baseDirectory)
        }
        if let node = mapping.optional("region") {
            let region = try node.string()
            if let problem = Self.regionProblem(region) { throw node.error(problem) }
            account.region = region
        }
        if let node = mapping.optional("accountId") {
            let accountID = try node.string()
            guard accountID.utf8.count == 12, accountID.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                throw node.error("accountId must be exactly 12 digits, got \"\(accountID)\"; quote it in YAML")
            }
            account.accountID = accountID
        }
        var configuration = AlbatrossConfiguration(dataDirectory: dataDirectory, account: account)
        configuration.file = file
        if let node = mapping.optional("randomSeed") {
            configuration.randomSeed = UInt64(try node.int(in: 0...Int.max))
        }
        if let node = mapping.optional("environments") {
            configuration.environments = try parseEnvironments(node)
            environmentSettings = configuration.environments
        }
        if let node = mapping.optional("logs") {
            configuration.logs = try parseLogSettings(node)
        }
        if let node = mapping.optional("admin") {
            configuration.admin = try parseAdmin(node)
        }
        if let node = mapping.optional("tracing") {
            configuration.tracing = try parseTracingSettings(node)
        }
        if let node = mapping.optional("api") {
            configuration.api = try parseAPI(node, account: account)
        }
        if let node = mapping.optional("async") {
            configuration.asyncInvocation = try parseAsyncSettings(node)
        }
        if let node = mapping.optional("loadBalancer") {
            let loadBalancer = try node.mapping(allowed: ["attributes"])
            if let attributes = loadBalancer.optional("attributes") {
                configuration.loadBalancerAttributes = try parseAttributes(attributes)
            }
        }
        if let node = mapping.optional("layers") {
            for item in try node.sequence() {
                configuration.declaredLayers.append(try parseLayer(item))
            }
        }
        if let node = mapping.optional("functions") {
            for item in try node.sequence() {
                configuration.functions.append(try parseFunction(item))
            }
            configuration.declaredVersions = declaredVersions
            configuration.declaredAliases = declaredAliases
            configuration.layerReferences = layerReferences
            configuration.eventInvokeConfigs = eventInvokeConfigs
            configuration.deadLetterTargets = deadLetterTargets
            try checkConcurrency()
            configuration.concurrency = concurrency
        }
        if let node = mapping.optional("targetGroups") {
            for item in try node.sequence() {
                configuration.targetGroups.append(try parseTargetGroup(item))
            }
        }
        if let node = mapping.optional("listeners") {
            var bound: [String: Int] = [:]
            for (index, item) in try node.sequence().enumerated() {
                let listener = try parseListener(item)
                if listener.port != 0 {
                    let key = "\(listener.bindAddress) \(listener.port)"
                    if let first = bound[key] {
                        throw item.locate("port").error(
                            "port \(listener.port) on \(listener.bindAddress) is already used by listeners[\(first)]"
                        )
                    }
                    bound[key] = index
                }
                configuration.listeners.append(listener)
            }
        }
        return configuration
    }

    static func regionProblem(_ region: String) -> String? {
        let parts = region.split(separator: "-", omittingEmptySubsequences: false)
        let lettersOK = parts.dropLast().allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 97 && $0 <= 122 } }
        let numberOK = parts.last.map { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } } ?? false
        if parts.count >= 3 && lettersOK && numberOK { return nil }
        return "\"\(region)\" is not a Region name such as us-east-1"
    }

    mutating func parseEnvironments(_ node: ConfigNode) throws(ConfigurationError) -> EnvironmentSettings {
        let mapping = try node.mapping(allowed: [
            "idleTimeoutSeconds", "shutdownGraceSeconds", "terminationGraceSeconds", "pythonInterpreter",
            "concurrentExecutions", "minimumUnreservedConcurrency", "initTimeoutSeconds", "maximumLifetimeSeconds",
            "controlGroups", "freezeIdle", "isolation", "ephemeralStorageMB", "runtimeScheduling",
            "freezeDelayMs", "sandboxUser",
        ])
        var settings = EnvironmentSettings()
        if let value = mapping.optional("idleTimeoutSeconds") {
            settings.idleTimeoutSeconds = try value.int(in: 1...86400)
        }
        if let value = mapping.optional("shutdownGraceSeconds") {
            settings.shutdownGraceSeconds = try value.int(in: 0...600)
        }
        if let value = mapping.optional("terminationGraceSeconds") {
            settings.terminationGraceSeconds = try value.double(in: 0...60)
        }
        if let value = mapping.optional("pythonInterpreter") {
            settings.defaultPythonInterpreter = try resolveInterpreter(value)
        }
        if let value = mapping.optional("concurrentExecutions") {
            settings.accountConcurrency.limit = try value.int(in: 1...100_000)
            // AWS keeps 100 of its 1,000 unreserved: a tenth, for a smaller account.
            settings.accountConcurrency.minimumUnreserved = min(100, settings.accountConcurrency.limit / 10)
        }
        if let value = mapping.optional("minimumUnreservedConcurrency") {
            settings.accountConcurrency.minimumUnreserved = try value.int(in: 0...settings.accountConcurrency.limit)
        }
        if let value = mapping.optional("initTimeoutSeconds") {
            settings.initTimeoutSeconds = try value.double(in: 0.1...900)
        }
        if let value = mapping.optional("maximumLifetimeSeconds") {
            settings.maximumLifetimeSeconds = try value.int(in: 1...2_592_000)
        }
        if let value = mapping.optional("controlGroups") { settings.controlGroups = try value.bool() }
        if let value = mapping.optional("freezeIdle") { settings.freezeIdle = try value.bool() }
        if let value = mapping.optional("freezeDelayMs") { settings.freezeDelayMs = try value.int(in: 0...60_000) }
        if let value = mapping.optional("runtimeScheduling") {
            let text = try value.string()
            guard let scheduling = EnvironmentSettings.RuntimeScheduling(rawValue: text) else {
                throw value.error("runtimeScheduling must be normal or batch, got \"\(text)\"")
            }
            settings.runtimeScheduling = scheduling
        }
        if let value = mapping.optional("isolation") {
            let text = try value.string()
            guard let isolation = EnvironmentSettings.Isolation(rawValue: text) else {
                throw value.error("isolation must be process, sandbox or auto, got \"\(text)\"")
            }
            settings.isolation = isolation
        }
        if let value = mapping.optional("ephemeralStorageMB") {
            settings.ephemeralStorageMB = try value.int(in: 1...10240)
        }
        if let value = mapping.optional("sandboxUser") {
            let text = try value.string()
            guard let user = EnvironmentSettings.SandboxUser(rawValue: text) else {
                throw value.error("sandboxUser must be lambda or server, got \"\(text)\"")
            }
            settings.sandboxUser = user
        }
        return settings
    }

    /// The `address` and `port` keys of a listener beside the ALB ones (`admin:`, `api:`), when present.
    private func parseBinding(
        _ mapping: ConfigMapping, address: inout String, port: inout Int
    ) throws(ConfigurationError) {
        if let value = mapping.optional("address") {
            let text = try value.string()
            guard IPAddress(text) != nil else {
                throw value.error("address must be an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got \"\(text)\"")
            }
            address = text
        }
        if let value = mapping.optional("port") {
            port = try value.int(in: 0...65535)
        }
    }

    /// `admin:` — the metrics listener's address and port.
    func parseAdmin(_ node: ConfigNode) throws(ConfigurationError) -> AdminSettings {
        let mapping = try node.mapping(allowed: ["address", "port"])
        var settings = AdminSettings()
        try parseBinding(mapping, address: &settings.address, port: &settings.port)
        return settings
    }

    /// `api:` — the control API listener's address, port, protocol (HTTP, or HTTPS with the listeners'
    /// `certificates` and `sslPolicy`), authentication and credentials.
    func parseAPI(_ node: ConfigNode, account: AccountContext) throws(ConfigurationError) -> APISettings {
        let mapping = try node.mapping(
            allowed: ["address", "port", "auth", "credentials", "protocol", "certificates", "sslPolicy"])
        var settings = APISettings()
        try parseBinding(mapping, address: &settings.address, port: &settings.port)
        var https = false
        if let value = mapping.optional("protocol") { https = try value.choice(["HTTP", "HTTPS"]) == "HTTPS" }
        if https {
            settings.tls = try parseTLS(mapping)
        } else if let extra = mapping.optional("certificates") ?? mapping.optional("sslPolicy") {
            throw extra.error("certificates and sslPolicy need protocol: HTTPS")
        }
        if let value = mapping.optional("auth") {
            settings.auth = APISettings.Auth(rawValue: try value.choice(["none", "sigv4"]))!
        }
        if let value = mapping.optional("credentials") {
            var seen: Set<String> = []
            for item in try value.sequence() {
                let entry = try item.mapping(allowed: [
                    "accessKeyId", "secretAccessKey", "sessionToken", "accountId", "principalArn", "policy",
                ])
                let key = try entry.required("accessKeyId").nonEmptyString()
                let secret = try entry.required("secretAccessKey").nonEmptyString()
                guard seen.insert(key).inserted else {
                    throw item.error("the access key \(key) is listed twice under api.credentials")
                }
                var credential = APICredential(
                    accessKeyId: key, secretAccessKey: secret, accountId: account.accountID)
                if let token = entry.optional("sessionToken") { credential.sessionToken = try token.nonEmptyString() }
                if let accountNode = entry.optional("accountId") {
                    let accountID = try accountNode.string()
                    guard accountID.utf8.count == 12, accountID.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                        throw accountNode.error(
                            "accountId must be exactly 12 digits, got \"\(accountID)\"; quote it in YAML")
                    }
                    credential.accountId = accountID
                }
                if let principal = entry.optional("principalArn") {
                    let text = try principal.nonEmptyString()
                    guard
                        text.hasPrefix("arn:aws:iam::\(credential.accountId):")
                            || text.hasPrefix("arn:aws:sts::\(credential.accountId):")
                    else {
                        throw principal.error(
                            "principalArn must be an IAM or STS ARN of the key's account (\(credential.accountId)), got \"\(text)\""
                        )
                    }
                    credential.principalArn = text
                }
                if let policy = entry.optional("policy") {
                    let text = try policy.nonEmptyString()
                    // The control API evaluates it; here only its outline is checked, so that a typo fails the load
                    // instead of denying every call.
                    guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                        object["Statement"] is [Any] || object["Statement"] is [String: Any]
                    else {
                        throw policy.error(
                            "policy must be an IAM policy document as JSON text: {\"Version\": \"2012-10-17\", \"Statement\": [...]}"
                        )
                    }
                    credential.policy = text
                }
                settings.credentials.append(credential)
            }
        }
        if settings.auth == .sigv4 && settings.credentials.isEmpty {
            throw node.error("api.auth is sigv4 but api.credentials lists no access key; add one or use auth: none")
        }
        return settings
    }

    /// An interpreter: a bare command name (`python3`) stays as is for PATH lookup; one with a `/` is a path,
    /// resolved against the configuration directory.
    func resolveInterpreter(_ node: ConfigNode) throws(ConfigurationError) -> String {
        let text = try node.nonEmptyString()
        guard text.contains("/") else { return text }
        return FilePaths.absolute(text, relativeTo: baseDirectory)
    }

    static let attributeKeys = [
        "routing.http.xff_header_processing.mode", "routing.http.xff_client_port.enabled",
        "routing.http.preserve_host_header.enabled", "routing.http.drop_invalid_header_fields.enabled",
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled", "idle_timeout.timeout_seconds",
        "albatross.multi_value_header_order", "albatross.executed_version_header", "access_logs.s3.enabled",
        "access_logs.s3.bucket", "access_logs.s3.prefix", "albatross.request_header_timeout_seconds",
        "albatross.max_connections_per_listener", "albatross.lambda_permissions.enforced",
    ]

    func parseAttributes(_ node: ConfigNode) throws(ConfigurationError) -> LoadBalancerAttributes {
        let mapping = try node.mapping(allowed: Self.attributeKeys)
        var attributes = LoadBalancerAttributes()
        for entry in mapping.entries where !entry.value.isNull {
            let value = entry.value
            switch entry.key {
            case "routing.http.xff_header_processing.mode":
                attributes.xffMode = .init(rawValue: try value.choice(["append", "preserve", "remove"]))!
            case "routing.http.xff_client_port.enabled":
                attributes.xffClientPort = try value.bool()
            case "routing.http.preserve_host_header.enabled":
                attributes.preserveHostHeader = try value.bool()
            case "routing.http.drop_invalid_header_fields.enabled":
                attributes.dropInvalidHeaderFields = try value.bool()
            case "routing.http.x_amzn_tls_version_and_cipher_suite.enabled":
                attributes.tlsVersionAndCipherSuiteHeaders = try value.bool()
            case "idle_timeout.timeout_seconds":
                attributes.idleTimeoutSeconds = try value.int(in: 1...4000)
            case "albatross.request_header_timeout_seconds":
                attributes.requestHeaderTimeoutSeconds = try value.int(in: 1...4000)
            case "albatross.lambda_permissions.enforced":
                attributes.lambdaPermissionsEnforced = try value.bool()
            case "albatross.max_connections_per_listener":
                attributes.maximumConnectionsPerListener = try value.int(in: 1...1_000_000)
            case "albatross.executed_version_header":
                let name = try value.nonEmptyString()
                guard RoutingValidation.validateHTTPHeaderName(name) == nil || name.lowercased() == "host" else {
                    throw value.error("\"\(name)\" is not a valid header name")
                }
                attributes.executedVersionHeader = name
            case "albatross.multi_value_header_order":
                attributes.multiValueHeaderOrder = .init(
                    rawValue: try value.choice(["preserve", "reverse", "shuffle"]))!
            case "access_logs.s3.enabled":
                attributes.accessLogsEnabled = try value.bool()
            case "access_logs.s3.bucket":
                attributes.accessLogsDirectory = FilePaths.absolute(
                    try value.nonEmptyString(), relativeTo: baseDirectory)
            case "access_logs.s3.prefix":
                let prefix = try value.string()
                // AWS refuses a prefix containing AWSLogs (it adds that itself); empty, `.` or `..` segments would
                // leave the directory.
                let segments = prefix.split(separator: "/", omittingEmptySubsequences: false)
                let badSegment = segments.contains { $0.isEmpty || $0 == "." || $0 == ".." }
                if prefix.contains("AWSLogs") || (!prefix.isEmpty && badSegment) {
                    throw value.error(
                        "access_logs.s3.prefix \"\(prefix)\" must not contain \"AWSLogs\" or empty, \".\" or \"..\" segments"
                    )
                }
                attributes.accessLogsPrefix = prefix.isEmpty ? nil : prefix
            default:
                break
            }
        }
        if attributes.accessLogsEnabled, attributes.accessLogsDirectory == nil {
            throw node.error("access_logs.s3.enabled is true but access_logs.s3.bucket (a local directory) is not set")
        }
        return attributes
    }

    static func convert(_ error: YamlError, file: String) -> ConfigurationError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ConfigurationError(file: file, line: mark.line, keyPath: "", message: "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return ConfigurationError(
                file: file, line: context.mark.line, keyPath: "",
                message: "duplicate key \(keys) in one mapping"
            )
        default:
            return ConfigurationError(file: file, line: nil, keyPath: "", message: "invalid YAML: \(error)")
        }
    }
}
