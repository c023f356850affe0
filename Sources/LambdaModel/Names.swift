/// Validation of the names and identifiers AWS constrains, with AWS's wording where it has one.
public enum LambdaNames {
    /// A function name: 1–64 characters, letters, digits, hyphens and underscores.
    public static func validateFunctionName(_ name: String) -> String? {
        if name.isEmpty || name.utf8.count > 64 {
            return "function name must be 1 to 64 characters long"
        }
        for byte in name.utf8 where !(isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")) {
            return "function name may contain only letters, digits, hyphens (-) and underscores (_)"
        }
        return nil
    }

    /// A target group name: 1–32 characters, alphanumerics and hyphens, not starting or ending with a hyphen.
    public static func validateTargetGroupName(_ name: String) -> String? {
        if name.isEmpty || name.utf8.count > 32 {
            return "target group name must be 1 to 32 characters long"
        }
        if name.hasPrefix("-") || name.hasSuffix("-") {
            return "target group name must not begin or end with a hyphen"
        }
        for byte in name.utf8 where !(isAlphanumeric(byte) || byte == UInt8(ascii: "-")) {
            return "target group name may contain only letters, digits and hyphens"
        }
        return nil
    }

    /// An environment variable name: a letter followed by letters, digits or underscores.
    public static func validateEnvironmentVariableName(_ name: String) -> String? {
        guard let first = name.utf8.first, isLetter(first) else {
            return "environment variable names must start with a letter"
        }
        for byte in name.utf8 where !(isAlphanumeric(byte) || byte == UInt8(ascii: "_")) {
            return "environment variable names may contain only letters, digits and underscores"
        }
        return nil
    }

    /// Names the platform sets and a user may not override (runtime-api.md §3.1).
    public static let reservedEnvironmentVariables: Set<String> = [
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    ]

    private static func isLetter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }
    private static func isAlphanumeric(_ b: UInt8) -> Bool {
        isLetter(b) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }
}
