import LambdaModel
import Routing
import Yams

extension ConfigurationParser {
    static let functionKeys = [
        "name", "runtime", "handler", "code", "memorySize", "timeout", "environment", "maximumConcurrency",
        "pythonInterpreter", "layers", "versions", "aliases", "loggingConfig", "tracingConfig", "eventInvokeConfig",
        "deadLetterConfig", "reservedConcurrentExecutions", "image", "imageConfig",
    ]
    /// AWS's `ImageConfig` keys.
    static let imageConfigKeys = ["entryPoint", "command", "workingDirectory"]
    /// CreateFunction's message for a Runtime, Handler or Layers given with PackageType Image.
    static let imageRefusesRuntime =
        "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."
    static let versionKeys = [
        "version", "code", "runtime", "handler", "memorySize", "timeout", "environment", "maximumConcurrency",
        "pythonInterpreter", "layers", "description", "loggingConfig", "tracingConfig",
        "provisionedConcurrentExecutions",
    ]
    static let aliasKeys = [
        "name", "version", "weights", "sticky", "description", "provisionedConcurrentExecutions",
        "deploymentPreference",
    ]
    /// SAM's `DeploymentPreference` keys (`Role` and `PassthroughCondition` are accepted and have no effect here),
    /// and Albatross's `TimeScale`.
    static let deploymentPreferenceKeys = [
        "Type", "Enabled", "Alarms", "Hooks", "TriggerConfigurations", "Role", "PassthroughCondition", "TimeScale",
    ]
    /// AWS's limit on the total size of a function's environment variables (keys and values, in bytes).
    static let environmentSizeLimit = 4096

    mutating func parseFunction(_ node: ConfigNode) throws(ConfigurationError) -> FunctionConfiguration {
        let mapping = try node.mapping(allowed: Self.functionKeys)
        let nameNode = try mapping.required("name")
        let name = try nameNode.string()
        if let problem = LambdaNames.validateFunctionName(name) { throw nameNode.error(problem) }
        if let firstLine = functionLines[name] {
            throw nameNode.error("function \"\(name)\" is already defined" + Self.atLine(firstLine))
        }

        if let imageNode = mapping.optional("image") {
            return try parseImageFunction(mapping, name: name, nameNode: nameNode, imageNode: imageNode)
        }
        if let value = mapping.optional("imageConfig") {
            throw value.error("imageConfig applies only to functions with an image (give image: instead of code:)")
        }
        let runtimeNode = try mapping.required("runtime")
        let identifier = try runtimeNode.string()
        guard var runtime = Runtime(identifier: identifier) else {
            var message =
                "runtime \"\(identifier)\" is not supported; supported runtimes: "
                + Runtime.supportedIdentifiers.joined(separator: ", ")
            if let suggestion = Suggestions.closest(to: identifier, in: Runtime.supportedIdentifiers) {
                message += "; did you mean \(suggestion)?"
            }
            throw runtimeNode.error(message)
        }
        if let interpreterNode = mapping.optional("pythonInterpreter") {
            guard runtime.kind == .python else {
                throw interpreterNode.error(
                    "pythonInterpreter applies only to python runtimes, not to \(runtime.identifier)"
                )
            }
            runtime.pythonInterpreter = try resolveInterpreter(interpreterNode)
        }

        let handler = try mapping.required("handler").nonEmptyString()
        var layers: [LayerReference] = []
        if let value = mapping.optional("layers") { layers = try parseLayerReferences(value) }
        let code = try parseCode(try mapping.required("code"), runtime: runtime, hasLayers: !layers.isEmpty)

        var function = FunctionConfiguration(name: name, runtime: runtime, handler: handler, code: code)
        try parseCommonSettings(mapping, into: &function)
        functionLines[name] = nameNode.line
        if !layers.isEmpty { layerReferences[name] = layers }
        if let versionsNode = mapping.optional("versions") {
            var versions: [DeclaredVersion] = []
            for (index, item) in try versionsNode.sequence().enumerated() {
                versions.append(try parseVersion(item, base: function, layers: layers, expected: index + 1))
                if let value = try item.mapping(allowed: Self.versionKeys).optional("provisionedConcurrentExecutions") {
                    try addProvisioned(value, function: name, qualifier: String(index + 1))
                }
            }
            declaredVersions[name] = versions
        }
        if let aliasesNode = mapping.optional("aliases") {
            var aliases: [DeclaredAlias] = []
            var seen: [String: Int?] = [:]
            for item in try aliasesNode.sequence() {
                let alias = try parseAlias(item)
                if let first = seen[alias.name] {
                    throw item.error("alias \"\(alias.name)\" is already defined" + Self.atLine(first))
                }
                seen[alias.name] = item.line
                aliases.append(alias)
                if let value = try item.mapping(allowed: Self.aliasKeys).optional("provisionedConcurrentExecutions") {
                    try addProvisioned(value, function: name, qualifier: alias.name)
                }
            }
            declaredAliases[name] = aliases
        }
        return function
    }

    /// A function whose code is a container image (AWS's PackageType `Image`): `image:` (an OCI image layout
    /// directory or a `docker save` tarball) and optional `imageConfig:`; AWS refuses a runtime, a handler and
    /// layers for it. Image functions run as `$LATEST` from the configuration: no versions or aliases.
    private mutating func parseImageFunction(
        _ mapping: ConfigMapping, name: String, nameNode: ConfigNode, imageNode: ConfigNode
    ) throws(ConfigurationError) -> FunctionConfiguration {
        if let value = mapping.optional("code") {
            throw value.error("give either code or image, not both")
        }
        for key in ["runtime", "handler", "layers"] {
            if let value = mapping.optional(key) { throw value.error(Self.imageRefusesRuntime) }
        }
        for key in ["pythonInterpreter", "versions", "aliases"] {
            if let value = mapping.optional(key) {
                throw value.error(
                    key == "pythonInterpreter"
                        ? "pythonInterpreter applies only to python runtimes, not to container images"
                        : "\(key) are not supported for container image functions: they run as $LATEST only")
            }
        }
        let image = try parseImage(imageNode)
        // The runtime of an image function is the image's: `provided` stands in (no AWS_EXECUTION_ENV of a
        // runtime, no handler), and the environment builder names it AWS_Lambda_Image.
        var function = FunctionConfiguration(
            name: name, runtime: Runtime(identifier: "provided.al2023")!, handler: "", code: image)
        if let value = mapping.optional("imageConfig") { function.imageConfig = try parseImageConfig(value) }
        try parseCommonSettings(mapping, into: &function)
        functionLines[name] = nameNode.line
        return function
    }

    /// `image`: an OCI image layout directory (with `index.json`) or a `docker save` tarball.
    func parseImage(_ node: ConfigNode) throws(ConfigurationError) -> CodeLocation {
        let path = FilePaths.absolute(try node.nonEmptyString(), relativeTo: baseDirectory)
        switch FilePaths.kind(path) {
        case .missing:
            throw node.error("image path \(path) does not exist")
        case .directory:
            guard FilePaths.kind(path + "/index.json") == .file else {
                throw node.error(
                    "image directory \(path) is not an OCI image layout (no index.json); give a layout directory "
                        + "or a docker save tarball")
            }
        case .file:
            break
        }
        return .image(path)
    }

    /// AWS's `ImageConfig`: `entryPoint` and `command` (lists of strings), `workingDirectory` (an absolute path).
    func parseImageConfig(_ node: ConfigNode) throws(ConfigurationError) -> ImageConfigOverrides {
        let mapping = try node.mapping(allowed: Self.imageConfigKeys)
        var overrides = ImageConfigOverrides()
        if let value = mapping.optional("entryPoint") { overrides.entryPoint = try value.stringList().map(\.0) }
        if let value = mapping.optional("command") { overrides.command = try value.stringList().map(\.0) }
        if let value = mapping.optional("workingDirectory") {
            let directory = try value.nonEmptyString()
            guard directory.hasPrefix("/") else {
                throw value.error("workingDirectory must be an absolute path inside the image, got \(directory)")
            }
            overrides.workingDirectory = directory
        }
        return overrides
    }

    /// The settings every function has, whatever its code: limits, variables, logging, tracing, asynchronous
    /// invocation and reserved concurrency.
    private mutating func parseCommonSettings(
        _ mapping: ConfigMapping, into function: inout FunctionConfiguration
    ) throws(ConfigurationError) {
        let name = function.name
        if let value = mapping.optional("memorySize") { function.memorySize = try value.int(in: 128...10240) }
        if let value = mapping.optional("timeout") { function.timeout = try value.int(in: 1...900) }
        if let value = mapping.optional("maximumConcurrency") {
            function.maximumConcurrency = try value.int(in: 1...1000)
        }
        if let value = mapping.optional("environment") {
            function.environment = try parseEnvironmentVariables(value)
        }
        if let value = mapping.optional("loggingConfig") { function.logging = try parseLogging(value) }
        if let value = mapping.optional("tracingConfig") {
            function.tracing = try parseTracing(value, function: name)
        }
        if let value = mapping.optional("eventInvokeConfig") {
            eventInvokeConfigs[name] = try parseEventInvokeConfig(value, function: name)
        }
        if let value = mapping.optional("deadLetterConfig") {
            deadLetterTargets[name] = try parseDeadLetterConfig(value, function: name)
        }
        if let value = mapping.optional("reservedConcurrentExecutions") {
            let limit = environmentSettings.accountConcurrency.limit
            concurrency[name, default: FunctionConcurrency()].reserved = try value.int(in: 0...limit)
            concurrencyNodes[name] = value
        }
    }

    /// A published version: the function's settings, with the keys given here replacing them.
    mutating func parseVersion(
        _ node: ConfigNode, base: FunctionConfiguration, layers baseLayers: [LayerReference], expected: Int
    )
        throws(ConfigurationError) -> DeclaredVersion
    {
        let mapping = try node.mapping(allowed: Self.versionKeys)
        let numberNode = try mapping.required("version")
        let number = try numberNode.int(in: 1...Int(Int32.max))
        guard number == expected else {
            throw numberNode.error(
                "versions are published in order: expected version \(expected) here, found \(number)")
        }
        var function = base
        if let runtimeNode = mapping.optional("runtime") {
            let identifier = try runtimeNode.string()
            guard let runtime = Runtime(identifier: identifier) else {
                throw runtimeNode.error(
                    "runtime \"\(identifier)\" is not supported; supported runtimes: "
                        + Runtime.supportedIdentifiers.joined(separator: ", "))
            }
            function.runtime = runtime
        }
        if let interpreterNode = mapping.optional("pythonInterpreter") {
            guard function.runtime.kind == .python else {
                throw interpreterNode.error("pythonInterpreter applies only to python runtimes")
            }
            function.runtime.pythonInterpreter = try resolveInterpreter(interpreterNode)
        }
        if let value = mapping.optional("handler") { function.handler = try value.nonEmptyString() }
        var layers = baseLayers
        if let value = mapping.optional("layers") { layers = try parseLayerReferences(value) }
        if let value = mapping.optional("code") {
            function.code = try parseCode(value, runtime: function.runtime, hasLayers: !layers.isEmpty)
        }
        if let value = mapping.optional("memorySize") { function.memorySize = try value.int(in: 128...10240) }
        if let value = mapping.optional("timeout") { function.timeout = try value.int(in: 1...900) }
        if let value = mapping.optional("maximumConcurrency") {
            function.maximumConcurrency = try value.int(in: 1...1000)
        }
        if let value = mapping.optional("environment") { function.environment = try parseEnvironmentVariables(value) }
        if let value = mapping.optional("loggingConfig") { function.logging = try parseLogging(value) }
        if let value = mapping.optional("tracingConfig") {
            function.tracing = try parseTracing(value, function: "\(function.name):\(number)")
        }
        let description = try mapping.optional("description")?.string()
        return DeclaredVersion(
            number: number, configuration: function, description: description,
            site: DeclarationSite(file: node.file, line: node.line, keyPath: node.path), layers: layers)
    }

    /// An alias: `version` ($LATEST or a number), optional `weights` ({"<version>": 0.0–1.0}) and `sticky`
    /// (`header:<name>`, `cookie:<name>` or `client-address`). AWS's own rules for names and weights are checked
    /// when the alias is applied to the store, with AWS's messages.
    func parseAlias(_ node: ConfigNode) throws(ConfigurationError) -> DeclaredAlias {
        let mapping = try node.mapping(allowed: Self.aliasKeys)
        let name = try mapping.required("name").nonEmptyString()
        let version = try mapping.required("version").nonEmptyString()
        var routing = AliasRouting(primaryVersion: version)
        if let weightsNode = mapping.optional("weights") {
            let entries = try weightsNode.freeMapping()
            if entries.count > 1 {
                throw weightsNode.error("Number of items in AdditionalVersionWeights cannot be greater than 1")
            }
            if let entry = entries.first {
                let text = try entry.value.string()
                guard let weight = Double(text) else {
                    throw entry.value.error("weight must be a number between 0.0 and 1.0, got \"\(text)\"")
                }
                routing.additionalVersion = entry.key
                routing.additionalWeight = weight
            }
        }
        if let stickyNode = mapping.optional("sticky") {
            let text = try stickyNode.string()
            guard let stickiness = Stickiness(text) else {
                throw stickyNode.error(
                    "sticky must be header:<name>, cookie:<name> or client-address, got \"\(text)\"")
            }
            routing.stickiness = stickiness
        }
        let description = try mapping.optional("description")?.string()
        var preference: DeploymentPreference?
        if let value = mapping.optional("deploymentPreference") {
            preference = try parseDeploymentPreference(value)
            if preference?.enabled == true, routing.additionalVersion != nil || Int(version) == nil {
                throw value.error(
                    "an alias with a deploymentPreference must point at one published version (a number, no "
                        + "weights): deployments shift traffic from it to each newly published version")
            }
        }
        return DeclaredAlias(
            name: name, routing: routing, description: description,
            site: DeclarationSite(file: node.file, line: node.line, keyPath: node.path),
            deploymentPreference: preference)
    }

    /// SAM's `DeploymentPreference`: `Type` (required), `Enabled`, `Alarms` (a list), `Hooks` (a map of
    /// `PreTraffic` / `PostTraffic`), `TriggerConfigurations`; the type and alarms are checked by the rollout
    /// module when the application is built.
    func parseDeploymentPreference(_ node: ConfigNode) throws(ConfigurationError) -> DeploymentPreference {
        let mapping = try node.mapping(allowed: Self.deploymentPreferenceKeys)
        guard let typeNode = mapping.optional("Type") else {
            throw node.error("missing required Property 'Type'")
        }
        var preference = DeploymentPreference(
            type: try typeNode.nonEmptyString(),
            site: DeclarationSite(file: typeNode.file, line: typeNode.line, keyPath: typeNode.path))
        if let value = mapping.optional("Enabled") { preference.enabled = try value.bool() }
        if let value = mapping.optional("Alarms") {
            guard case .sequence = value.node else { throw value.error("Alarms must be a list") }
            preference.alarms = try value.sequence().map { (item) throws(ConfigurationError) in
                try item.nonEmptyString()
            }
        }
        if let value = mapping.optional("Hooks") {
            guard case .mapping = value.node else { throw value.error("Hooks must be a map") }
            let hooks = try value.mapping(allowed: ["PreTraffic", "PostTraffic"])
            preference.preTrafficHook = try hooks.optional("PreTraffic")?.nonEmptyString()
            preference.postTrafficHook = try hooks.optional("PostTraffic")?.nonEmptyString()
        }
        if let value = mapping.optional("TriggerConfigurations") {
            for item in try value.sequence() {
                let trigger = try item.mapping(allowed: ["TriggerEvents", "TriggerName", "TriggerTargetArn"])
                preference.triggers.append(
                    DeploymentTrigger(
                        name: try trigger.required("TriggerName").nonEmptyString(),
                        events: try trigger.required("TriggerEvents").stringList().map(\.0),
                        targetArn: try trigger.required("TriggerTargetArn").nonEmptyString()))
            }
        }
        if let value = mapping.optional("TimeScale") { preference.timeScale = try value.double(in: 0.001...100_000) }
        return preference
    }

    /// `code`: a directory (used in place) or a `.zip` archive. For OS-only runtimes a directory must hold an
    /// executable `bootstrap`, unless the function has layers (AWS then also looks for `/opt/bootstrap`).
    func parseCode(
        _ node: ConfigNode, runtime: Runtime, hasLayers: Bool = false
    ) throws(ConfigurationError) -> CodeLocation {
        let path = FilePaths.absolute(try node.nonEmptyString(), relativeTo: baseDirectory)
        switch FilePaths.kind(path) {
        case .missing:
            throw node.error("code path \(path) does not exist")
        case .directory:
            if runtime.kind == .provided {
                let bootstrap = path + "/bootstrap"
                switch FilePaths.kind(bootstrap) {
                case .missing where hasLayers:
                    break
                case .missing:
                    throw node.error(
                        "code directory \(path) has no bootstrap file; \(runtime.identifier) functions need an "
                            + "executable \(bootstrap)"
                    )
                case .directory:
                    throw node.error("\(bootstrap) is a directory; it must be an executable file")
                case .file:
                    if !FilePaths.isExecutableFile(bootstrap) {
                        throw node.error("\(bootstrap) is not executable (chmod +x it)")
                    }
                }
            }
            return .directory(path)
        case .file:
            guard path.lowercased().hasSuffix(".zip") else {
                throw node.error("code must be a directory or a .zip file, got the file \(path)")
            }
            return .zip(path)
        }
    }

    func parseEnvironmentVariables(_ node: ConfigNode) throws(ConfigurationError) -> [EnvironmentVariable] {
        var variables: [EnvironmentVariable] = []
        var size = 0
        for (key, valueNode) in try node.freeMapping() {
            if let problem = LambdaNames.validateEnvironmentVariableName(key) {
                throw valueNode.error("\(problem), got \"\(key)\"")
            }
            if LambdaNames.reservedEnvironmentVariables.contains(key) {
                throw valueNode.error("\(key) is a reserved environment variable set by the platform")
            }
            guard case .scalar = valueNode.node, !valueNode.isNull else {
                throw valueNode.error("environment variable values must be strings, found \(valueNode.kindName)")
            }
            let value = try valueNode.string()
            size += key.utf8.count + value.utf8.count
            variables.append(EnvironmentVariable(name: key, value: value))
        }
        if size > Self.environmentSizeLimit {
            throw node.error(
                "environment variables total \(size) bytes; the limit is \(Self.environmentSizeLimit) bytes (4 KB)"
            )
        }
        return variables
    }

    mutating func parseTargetGroup(_ node: ConfigNode) throws(ConfigurationError) -> TargetGroup {
        let mapping = try node.mapping(allowed: ["name", "function", "multiValueHeaders"])
        let nameNode = try mapping.required("name")
        let name = try nameNode.string()
        if let problem = LambdaNames.validateTargetGroupName(name) { throw nameNode.error(problem) }
        if let firstLine = targetGroupLines[name] {
            throw nameNode.error("target group \"\(name)\" is already defined" + Self.atLine(firstLine))
        }
        // A target group without `function` has no registered target: the listener answers 503, as an ALB does.
        var functionName: String? = nil
        var qualifier: String? = nil
        if let functionNode = mapping.optional("function") {
            let reference = try functionNode.nonEmptyString()
            var name = reference
            if let colon = reference.firstIndex(of: ":") {
                name = String(reference[..<colon])
                qualifier = String(reference[reference.index(after: colon)...])
            }
            if let qualifier, let problem = Self.qualifierProblem(qualifier) {
                throw functionNode.error(problem)
            }
            guard functionLines[name] != nil else {
                var message = "function \"\(name)\" is not defined"
                if let suggestion = Suggestions.closest(to: name, in: Array(functionLines.keys)) {
                    message += "; did you mean \"\(suggestion)\"?"
                } else if !functionLines.isEmpty {
                    message += " (defined: " + functionLines.keys.sorted().joined(separator: ", ") + ")"
                }
                throw functionNode.error(message)
            }
            functionName = name
        }
        var multiValueHeaders = false
        if let value = mapping.optional("multiValueHeaders") { multiValueHeaders = try value.bool() }
        targetGroupLines[name] = nameNode.line
        return TargetGroup(
            name: name,
            arn: account.targetGroupARN(name),
            functionName: functionName,
            qualifier: qualifier,
            multiValueHeaders: multiValueHeaders
        )
    }

    /// `$LATEST`, a version number, or an alias name (1–128 of `[A-Za-z0-9_-]`, not all digits).
    static func qualifierProblem(_ qualifier: String) -> String? {
        if qualifier == "$LATEST" { return nil }
        if qualifier.isEmpty || qualifier.utf8.count > 128 {
            return "qualifier must be $LATEST, a version number or an alias name of 1 to 128 characters"
        }
        let digits = qualifier.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
        if digits {
            if qualifier.hasPrefix("0") {
                return "version \"\(qualifier)\" must be a positive number without leading zeros"
            }
            return nil
        }
        let allowed = qualifier.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95
        }
        if !allowed {
            return "qualifier \"\(qualifier)\" must be $LATEST, a version number, or an alias name of letters, "
                + "digits, '-' and '_'"
        }
        return nil
    }

    static func atLine(_ line: Int?) -> String {
        line.map { " at line \($0)" } ?? ""
    }

    // MARK: concurrency

    private mutating func addProvisioned(
        _ node: ConfigNode, function: String, qualifier: String
    ) throws(ConfigurationError) {
        let count = try node.int(in: 1...environmentSettings.accountConcurrency.limit)
        concurrency[function, default: FunctionConcurrency()].provisioned[qualifier] = count
        provisionedNodes[function, default: [:]][qualifier] = node
    }

    /// AWS's rules across functions (control-api.md §5.21, §5.22): the reservations leave the account its
    /// unreserved minimum; a function's provisioned concurrency fits in its reservation; a version is provisioned
    /// either directly or through one alias, never both.
    mutating func checkConcurrency() throws(ConfigurationError) {
        let account = environmentSettings.accountConcurrency
        var total = 0
        for (name, node) in concurrencyNodes.sorted(by: { ($0.value.line ?? 0) < ($1.value.line ?? 0) }) {
            guard let reserved = concurrency[name]?.reserved else { continue }
            total += reserved
            if let problem = account.reservationProblem(totalReserved: total) { throw node.error(problem) }
        }
        for (name, nodes) in provisionedNodes {
            let settings = concurrency[name] ?? FunctionConcurrency()
            let aliases = Dictionary(
                (declaredAliases[name] ?? []).map { ($0.name, $0.routing) }, uniquingKeysWith: { first, _ in first })
            for (qualifier, node) in nodes.sorted(by: { ($0.value.line ?? 0) < ($1.value.line ?? 0) }) {
                guard let routing = aliases[qualifier] else { continue }
                let versions = [routing.primaryVersion] + (routing.additionalVersion.map { [$0] } ?? [])
                if versions.contains("$LATEST") {
                    throw node.error(
                        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
                }
                if versions.contains(where: { settings.provisioned[$0] != nil }) {
                    throw node.error(
                        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
                    )
                }
            }
            if let problem = account.provisionedProblem(function: name, settings: settings, totalReserved: total) {
                let node = nodes.values.max(by: { ($0.line ?? 0) < ($1.line ?? 0) })!
                throw node.error(problem)
            }
        }
    }
}
