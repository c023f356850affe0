/// The checks AWS applies to an alias (CreateAlias / UpdateAlias), with AWS's error types and messages
/// (control-api.md §3.1, §5.10–§5.12, §5.15).
///
/// Pure, so the store, the control API, the CLI and the configuration loader all reject the same things the same
/// way. Order of evaluation, as on AWS: model constraints first (one ValidationException listing every violated
/// constraint, members in request order: name, functionVersion, description, routingConfig), then the routing
/// rules (InvalidParameterValueException), then existence (ResourceNotFoundException, needs the store).
///
/// A weight of exactly 1.0 is accepted: the API model's bound is inclusive and AWS's own message says "less than
/// or equal to 1.0" (LocalStack refuses it; AWS's behaviour is unconfirmed).
public enum AliasValidation {
    /// The alias-name pattern of the API model: letters, digits, `-` and `_`, not all digits; applied as a full
    /// match.
    public static let namePattern = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
    /// The pattern of an alias's `FunctionVersion`.
    public static let versionPattern = "(\\$LATEST|[0-9]+)"
    public static let maximumNameLength = 128
    public static let maximumDescriptionLength = 256
    public static let maximumVersionLength = 1024

    /// Checks an alias given in AWS's wire form (`FunctionVersion` + `RoutingConfig.AdditionalVersionWeights`) and
    /// returns it as an ``AliasRouting``. Covers §5.15 rules 1–5 and 8 and the name/description constraints; rule
    /// 6 (versions exist) needs the store: ``checkVersionsExist(_:functionName:account:exists:)``.
    ///
    /// - Parameter description: nil when the request leaves it out (UpdateAlias).
    public static func validate(
        name: String, functionVersion: String, additionalVersionWeights: [String: Double], description: String?,
        stickiness: Stickiness? = nil
    ) throws(LambdaError) -> AliasRouting {
        var violations = nameViolations(name)
        violations += versionViolations(functionVersion)
        if let description, description.count > maximumDescriptionLength {
            violations.append(
                .init(
                    value: description, member: "description",
                    constraint: "Member must have length less than or equal to \(maximumDescriptionLength)"))
        }
        violations += weightViolations(additionalVersionWeights)
        if !violations.isEmpty { throw LambdaError.validation(violations) }

        // Rule 8: an empty map means no routing.
        guard let (extra, weight) = additionalVersionWeights.first else {
            return AliasRouting(primaryVersion: functionVersion, stickiness: normalized(stickiness))
        }
        // Rule 1.
        if additionalVersionWeights.count > 1 {
            throw LambdaError(
                .invalidParameterValue, "Number of items in AdditionalVersionWeights cannot be greater than 1")
        }
        // Rule 4.
        if functionVersion == "$LATEST" {
            throw LambdaError(
                .invalidParameterValue, "$LATEST is not supported for an alias pointing to more than 1 version")
        }
        // Rule 5.
        if extra == functionVersion {
            throw LambdaError(
                .invalidParameterValue,
                "Invalid function version \(extra). Function version \(extra) is already included in routing "
                    + "configuration.")
        }
        return AliasRouting(
            primaryVersion: functionVersion, additionalVersion: extra, additionalWeight: weight,
            stickiness: normalized(stickiness))
    }

    /// The same checks on an ``AliasRouting`` (its additional version and weight are the one-entry map; no
    /// additional version is the empty map). Returns it normalised (stickiness header names in lower case).
    public static func validate(
        name: String, routing: AliasRouting, description: String?
    ) throws(LambdaError)
        -> AliasRouting
    {
        var weights: [String: Double] = [:]
        if let extra = routing.additionalVersion { weights[extra] = routing.additionalWeight }
        return try validate(
            name: name, functionVersion: routing.primaryVersion, additionalVersionWeights: weights,
            description: description, stickiness: routing.stickiness)
    }

    /// Rule 6 and the primary target: every version the alias names must exist, else 404
    /// `Function not found: <function ARN qualified with that version>`.
    public static func checkVersionsExist(
        _ routing: AliasRouting, functionName: String, account: AccountContext, exists: (String) -> Bool
    ) throws(LambdaError) {
        for version in [routing.primaryVersion] + (routing.additionalVersion.map { [$0] } ?? []) where !exists(version)
        {
            throw LambdaError(
                .resourceNotFound, "Function not found: \(account.functionARN(functionName, qualifier: version))")
        }
    }

    /// The constraint violations of an alias name (§3.1): length 1–128, the pattern as a full match.
    public static func nameViolations(_ name: String) -> [LambdaError.ConstraintViolation] {
        var violations: [LambdaError.ConstraintViolation] = []
        let allowed = name.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        let allDigits = !name.isEmpty && name.utf8.allSatisfy(isDigit)
        if name.isEmpty || !allowed || allDigits {
            violations.append(
                .init(
                    value: name, member: "name",
                    constraint: "Member must satisfy regular expression pattern: \(namePattern)"))
        }
        if name.isEmpty {
            violations.append(
                .init(value: name, member: "name", constraint: "Member must have length greater than or equal to 1"))
        } else if name.count > maximumNameLength {
            violations.append(
                .init(
                    value: name, member: "name",
                    constraint: "Member must have length less than or equal to \(maximumNameLength)"))
        }
        return violations
    }

    static func versionViolations(_ version: String) -> [LambdaError.ConstraintViolation] {
        var violations: [LambdaError.ConstraintViolation] = []
        if !(version == "$LATEST" || (!version.isEmpty && version.utf8.allSatisfy(isDigit))) {
            violations.append(
                .init(
                    value: version, member: "functionVersion",
                    constraint: "Member must satisfy regular expression pattern: \(versionPattern)"))
        }
        if version.isEmpty {
            violations.append(
                .init(
                    value: version, member: "functionVersion",
                    constraint: "Member must have length greater than or equal to 1"))
        } else if version.count > maximumVersionLength {
            violations.append(
                .init(
                    value: version, member: "functionVersion",
                    constraint: "Member must have length less than or equal to \(maximumVersionLength)"))
        }
        return violations
    }

    /// Rules 2 and 3: keys are version numbers, values lie in 0.0–1.0. The value is shown as Java prints the map
    /// (`{2=2.0}`); with several entries they are listed in key order (AWS's order is unconfirmed).
    static func weightViolations(_ weights: [String: Double]) -> [LambdaError.ConstraintViolation] {
        let shown =
            "{"
            + weights.sorted { $0.key < $1.key }.map { "\($0.key)=\(javaDouble($0.value))" }
            .joined(separator: ", ") + "}"
        var violations: [LambdaError.ConstraintViolation] = []
        let badKey = weights.keys.contains { key in
            key.isEmpty || key.count > maximumVersionLength || !key.utf8.allSatisfy(isDigit)
        }
        if badKey {
            violations.append(
                .init(
                    value: shown, member: "routingConfig.additionalVersionWeights",
                    constraint: "Map keys must satisfy constraint: [Member must have length less than or equal to "
                        + "1024, Member must have length greater than or equal to 1, Member must satisfy regular "
                        + "expression pattern: [0-9]+]"))
        }
        if weights.values.contains(where: { !($0 >= 0.0 && $0 <= 1.0) }) {
            violations.append(
                .init(
                    value: shown, member: "routingConfig.additionalVersionWeights",
                    constraint: "Map value must satisfy constraint: [Member must have value less than or equal to "
                        + "1.0, Member must have value greater than or equal to 0.0, Member must not be null]"))
        }
        return violations
    }

    /// `Double.toString` as Java writes it: `2.0`, `-1.0`, `0.5`, `1.0E10`, `1.0E-4`, `NaN`, `Infinity`.
    static func javaDouble(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Shortest round-trip digits and decimal exponent, from Swift's own shortest representation.
        let text = "\(abs(value))"
        var mantissa = text
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = String(text[..<e])
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let integer = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = integer + fraction
        var pointPosition = integer.count + exponent  // digits before the decimal point
        while digits.hasPrefix("0") && digits.count > 1 {
            digits.removeFirst()
            pointPosition -= 1
        }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        let sign = value < 0 ? "-" : ""
        let magnitude = abs(value)
        if magnitude >= 1e-3 && magnitude < 1e7 {
            if pointPosition <= 0 {
                return sign + "0." + String(repeating: "0", count: -pointPosition) + digits
            }
            if pointPosition >= digits.count {
                return sign + digits + String(repeating: "0", count: pointPosition - digits.count) + ".0"
            }
            let split = digits.index(digits.startIndex, offsetBy: pointPosition)
            return sign + digits[..<split] + "." + digits[split...]
        }
        let head = digits.prefix(1)
        let tail = digits.count > 1 ? String(digits.dropFirst()) : "0"
        return sign + head + "." + tail + "E" + String(pointPosition - 1)
    }

    static func normalized(_ stickiness: Stickiness?) -> Stickiness? {
        if case .header(let name) = stickiness { return .header(name.lowercased()) }
        return stickiness
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    private static func isAlphanumeric(_ b: UInt8) -> Bool {
        isDigit(b) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z"))
            || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }
}
