internal import LambdaModel
internal import Routing

extension ConfigurationParser {
    static let functionKeys = [
        "name", "runtime", "handler", "code", "memorySize", "timeout", "environment", "maximumConcurrency",
        "pythonInterpreter",
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
        let code = try parseCode(try mapping.required("code"), runtime: runtime)

        var function = FunctionConfiguration(name: name, runtime: runtime, handler: handler, code: code)
        if let value = mapping.optional("memorySize") { function.memorySize = try value.int(in: 128...10240) }
        if let value = mapping.optional("timeout") { function.timeout = try value.int(in: 1...900) }
        if let value = mapping.optional("maximumConcurrency") {
            function.maximumConcurrency = try value.int(in: 1...1000)
        }
        if let value = mapping.optional("environment") {
            function.environment = try parseEnvironmentVariables(value)
        }
        functionLines[name] = nameNode.line
        return function
    }

    /// `code`: a directory (used in place) or a `.zip` archive. For OS-only runtimes a directory must hold an
    /// executable `bootstrap`.
    func parseCode(_ node: ConfigNode, runtime: Runtime) throws(ConfigurationError) -> CodeLocation {
        let path = FilePaths.absolute(try node.nonEmptyString(), relativeTo: baseDirectory)
        switch FilePaths.kind(path) {
        case .missing:
            throw node.error("code path \(path) does not exist")
        case .directory:
            if runtime.kind == .provided {
                let bootstrap = path + "/bootstrap"
                switch FilePaths.kind(bootstrap) {
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
}
