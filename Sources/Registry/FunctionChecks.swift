import LambdaModel

/// What `putLatest` refuses before anything is stored: a bad function name, description, memory or timeout, and
/// environment variables with bad, duplicate or reserved names or over Lambda's 4 KB limit (§4.4).
enum FunctionChecks {
    static let environmentLimit = 4096

    static func check(_ configuration: FunctionConfiguration, description: String) throws(RegistryError) {
        if let problem = LambdaNames.validateFunctionName(configuration.name) {
            throw RegistryError(.invalidParameterValue, "\(problem): '\(configuration.name)'")
        }
        var violations: [LambdaError.ConstraintViolation] = []
        if description.count > 256 {
            violations.append(
                .init(
                    value: description, member: "description",
                    constraint: "Member must have length less than or equal to 256"))
        }
        if configuration.memorySize < 128 {
            violations.append(
                .init(
                    value: "\(configuration.memorySize)", member: "memorySize",
                    constraint: "Member must have value greater than or equal to 128"))
        } else if configuration.memorySize > 10240 {
            violations.append(
                .init(
                    value: "\(configuration.memorySize)", member: "memorySize",
                    constraint: "Member must have value less than or equal to 10240"))
        }
        if configuration.timeout < 1 {
            violations.append(
                .init(
                    value: "\(configuration.timeout)", member: "timeout",
                    constraint: "Member must have value greater than or equal to 1"))
        } else if configuration.timeout > 900 {
            violations.append(
                .init(
                    value: "\(configuration.timeout)", member: "timeout",
                    constraint: "Member must have value less than or equal to 900"))
        }
        if !violations.isEmpty { throw RegistryError(LambdaError.validation(violations)) }
        if configuration.maximumConcurrency < 1 {
            throw RegistryError(
                .invalidParameterValue,
                "maximum concurrency of \(configuration.name) must be at least 1, not "
                    + "\(configuration.maximumConcurrency)")
        }
        try checkEnvironment(configuration.environment, function: configuration.name)
    }

    static func checkEnvironment(_ variables: [EnvironmentVariable], function: String) throws(RegistryError) {
        var seen: Set<String> = []
        var reserved: [String] = []
        for variable in variables {
            if let problem = LambdaNames.validateEnvironmentVariableName(variable.name) {
                throw RegistryError(.invalidParameterValue, "\(problem): '\(variable.name)' (function \(function))")
            }
            if variable.name.count < 2 {
                throw RegistryError(
                    .invalidParameterValue,
                    "environment variable names must be at least 2 characters long: '\(variable.name)' "
                        + "(function \(function))")
            }
            if !seen.insert(variable.name).inserted {
                throw RegistryError(
                    .invalidParameterValue,
                    "environment variable '\(variable.name)' is declared more than once (function \(function))")
            }
            if LambdaNames.reservedEnvironmentVariables.contains(variable.name) { reserved.append(variable.name) }
        }
        if !reserved.isEmpty {
            throw RegistryError(
                .invalidParameterValue,
                "Lambda was unable to configure your environment variables because the environment variables you "
                    + "have provided contains reserved keys that are currently not supported for modification. "
                    + "Reserved keys used in this request: \(reserved.joined(separator: ", "))")
        }
        let measured = compactJSON(variables).utf8.count
        if measured > environmentLimit {
            // AWS appends the measured JSON itself; values are secrets here, so only its size is shown.
            throw RegistryError(
                .invalidParameterValue,
                "Lambda was unable to configure your environment variables because the environment variables you "
                    + "have provided exceeded the 4KB limit. String measured: \(measured) bytes of JSON "
                    + "(values not shown) for function \(function)")
        }
    }

    /// `{"NAME":"value",…}` without spaces, in declaration order: what AWS measures against the 4 KB limit.
    static func compactJSON(_ variables: [EnvironmentVariable]) -> String {
        "{" + variables.map { "\(JSONText.quoted($0.name)):\(JSONText.quoted($0.value))" }.joined(separator: ",") + "}"
    }

}
