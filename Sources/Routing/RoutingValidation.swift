/// One problem found in a rule or action: the field at fault (relative to the value checked, nil when the
/// value as a whole is at fault) and a message a user can act on.
public struct RoutingValidationIssue: Sendable, Hashable, CustomStringConvertible {
    /// A field name of the checked value (`statusCode`, `targetGroups[1].weight`), or nil.
    public var field: String?
    public var message: String

    public init(field: String? = nil, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.map { "\($0): \(message)" } ?? message }
}

/// The ALB limits on listener rules and actions (alb-lambda.md §5.2, §5.3), checked when configuration loads.
///
/// The loader calls these helpers value by value so that it can attach the file, line and key path; the
/// router itself assumes validated input. Each helper returns nil when the value is acceptable.
public enum RoutingValidation {
    public static let minimumPriority = 1
    public static let maximumPriority = 50000
    public static let maximumConditionValuesPerRule = 5
    public static let maximumWildcardsPerRule = 5
    public static let maximumTargetGroupsPerForward = 5
    public static let maximumStickinessSeconds = 604_800
    public static let fixedResponseContentTypes = [
        "text/plain", "text/css", "text/html", "application/javascript", "application/json",
    ]

    // MARK: Conditions

    /// A host-header pattern: 1–128 characters of `A–Z a–z 0–9 - .` and the wildcards `*` `?`.
    ///
    /// ALB also requires a `.` with only letters after the last one; that rule is not enforced so that local
    /// names such as `localhost` can be routed (docs/configuration.md).
    public static func validateHostHeaderPattern(_ pattern: String) -> String? {
        if let problem = lengthProblem(pattern, "host-header pattern", max: 128) { return problem }
        if let bad = pattern.unicodeScalars.first(where: { !(isAlphanumeric($0) || "-.*?".unicodeScalars.contains($0)) }
        ) {
            return "host-header pattern \(quoted(pattern)) contains \(describe(bad)); "
                + "allowed are letters, digits, '-', '.', and the wildcards '*' and '?'"
        }
        return nil
    }

    /// A path pattern: 1–128 characters of `A–Z a–z 0–9 _ - . $ / ~ " ' @ : + &` and the wildcards `*` `?`.
    public static func validatePathPattern(_ pattern: String) -> String? {
        if let problem = lengthProblem(pattern, "path pattern", max: 128) { return problem }
        let allowed = "_-.$/~\"'@:+&*?".unicodeScalars
        if let bad = pattern.unicodeScalars.first(where: { !(isAlphanumeric($0) || allowed.contains($0)) }) {
            return "path pattern \(quoted(pattern)) contains \(describe(bad)); allowed are letters, digits, "
                + "_ - . $ / ~ \" ' @ : + & and the wildcards '*' and '?'"
        }
        return nil
    }

    /// An http-request-method value: 1–40 characters of `A–Z`, `-` and `_` (matched case-sensitively).
    public static func validateHTTPRequestMethod(_ method: String) -> String? {
        if let problem = lengthProblem(method, "HTTP request method", max: 40) { return problem }
        if let bad = method.unicodeScalars.first(where: { !(("A"..."Z").contains($0) || $0 == "-" || $0 == "_") }) {
            return "HTTP request method \(quoted(method)) contains \(describe(bad)); "
                + "allowed are upper-case letters A-Z, '-' and '_'"
        }
        return nil
    }

    /// An http-header condition's header name: 1–40 token characters, no wildcards, not `Host`.
    public static func validateHTTPHeaderName(_ name: String) -> String? {
        if let problem = lengthProblem(name, "HTTP header name", max: 40) { return problem }
        if RoutingText.asciiLowercased(name) == "host" {
            return "HTTP header name must not be Host; use a hostHeader condition instead"
        }
        let tokenSymbols = "!#$%&'+-.^_`|~".unicodeScalars
        if let bad = name.unicodeScalars.first(where: { !(isAlphanumeric($0) || tokenSymbols.contains($0)) }) {
            return "HTTP header name \(quoted(name)) contains \(describe(bad)); wildcards are not allowed in "
                + "header names and only HTTP token characters are"
        }
        return nil
    }

    /// An http-header condition value: 1–128 visible ASCII characters (wildcards allowed).
    public static func validateHTTPHeaderValue(_ value: String) -> String? {
        if let problem = lengthProblem(value, "HTTP header value", max: 128) { return problem }
        return visibleASCIIProblem(value, "HTTP header value", allowSpace: true)
    }

    /// A query-string condition key or value: up to 128 characters (value 1–128), wildcards and `\*` `\?`.
    public static func validateQueryStringComponent(_ text: String, isKey: Bool) -> String? {
        let what = isKey ? "query-string key" : "query-string value"
        if let problem = lengthProblem(text, what, max: 128) { return problem }
        return visibleASCIIProblem(text, what, allowSpace: true)
    }

    /// A source-ip CIDR block (IPv4 or IPv6, prefix required); `255.255.255.255/32` is refused as by ALB.
    public static func validateSourceIP(_ cidr: String) -> String? {
        guard let block = IPAddressBlock(cidr) else {
            return "\(quoted(cidr)) is not a CIDR block such as 192.0.2.0/24 or 2001:db8::/32"
        }
        if block.network.family == .v4 && block.prefixLength == 32 && block.network.high >> 32 == 0xffff_ffff {
            return "source IP 255.255.255.255/32 is not allowed"
        }
        return nil
    }

    /// A rule priority: 1–50000.
    public static func validatePriority(_ priority: Int) -> String? {
        guard (minimumPriority...maximumPriority).contains(priority) else {
            return "priority must be between \(minimumPriority) and \(maximumPriority), got \(priority)"
        }
        return nil
    }

    /// Priorities must be unique per listener; returns the first duplicate's message with its index.
    public static func duplicatePriority(in priorities: [Int]) -> (index: Int, message: String)? {
        var seen: [Int: Int] = [:]
        for (index, priority) in priorities.enumerated() {
            if let first = seen[priority] {
                return (
                    index,
                    "priority \(priority) is already used by rules[\(first)]; priorities must be unique per listener"
                )
            }
            seen[priority] = index
        }
        return nil
    }

    /// The per-rule limits: a rule has at least one condition, at most one each of host-header,
    /// http-request-method, path-pattern and source-ip, at most 5 condition values and 5 wildcards in total.
    /// The issue's field is `conditions[i]` for the condition at fault or nil for the rule as a whole.
    public static func validateRuleConditions(_ conditions: [RuleCondition]) -> RoutingValidationIssue? {
        if conditions.isEmpty {
            return RoutingValidationIssue("a rule needs at least one condition; use defaultAction for a catch-all")
        }
        var seenKinds: [String: Int] = [:]
        var values = 0
        var wildcards = 0
        for (index, condition) in conditions.enumerated() {
            let kind = condition.kindName
            if condition.isSingular, let first = seenKinds[kind] {
                return RoutingValidationIssue(
                    field: "conditions[\(index)]",
                    "a rule may have only one \(kind) condition (conditions[\(first)] is one already); "
                        + "list several values in it instead"
                )
            }
            seenKinds[kind] = seenKinds[kind] ?? index
            if condition.valueCount == 0 {
                return RoutingValidationIssue(
                    field: "conditions[\(index)]", "\(kind) condition needs at least one value")
            }
            values += condition.valueCount
            wildcards += condition.wildcardCount
        }
        if values > maximumConditionValuesPerRule {
            return RoutingValidationIssue(
                "a rule may have at most \(maximumConditionValuesPerRule) condition values in total, this one "
                    + "has \(values)"
            )
        }
        if wildcards > maximumWildcardsPerRule {
            return RoutingValidationIssue(
                "a rule may use at most \(maximumWildcardsPerRule) wildcards in total, this one uses \(wildcards)"
            )
        }
        return nil
    }

    // MARK: Actions

    /// A forward action: 1–5 distinct target groups; with more than one every weight is 0–999 and at least one
    /// is positive; stickiness duration 1–604800 seconds.
    public static func validateForward(_ forward: ForwardAction) -> RoutingValidationIssue? {
        let groups = forward.targetGroups
        if groups.isEmpty {
            return RoutingValidationIssue(field: "targetGroups", "a forward action needs at least one target group")
        }
        if groups.count > maximumTargetGroupsPerForward {
            return RoutingValidationIssue(
                field: "targetGroups",
                "a forward action may name at most \(maximumTargetGroupsPerForward) target groups, got \(groups.count)"
            )
        }
        var seen: Set<String> = []
        for (index, group) in groups.enumerated() {
            if !seen.insert(group.targetGroupName).inserted {
                return RoutingValidationIssue(
                    field: "targetGroups[\(index)].name",
                    "target group \(quoted(group.targetGroupName)) appears more than once in this forward action"
                )
            }
            if groups.count > 1 && !(0...999).contains(group.weight) {
                return RoutingValidationIssue(
                    field: "targetGroups[\(index)].weight", "weight must be between 0 and 999, got \(group.weight)"
                )
            }
        }
        if groups.count > 1 && groups.allSatisfy({ $0.weight == 0 }) {
            return RoutingValidationIssue(
                field: "targetGroups", "at least one target group of a weighted forward needs a weight above 0"
            )
        }
        if let duration = forward.stickinessDurationSeconds, !(1...maximumStickinessSeconds).contains(duration) {
            return RoutingValidationIssue(
                field: "stickiness.durationSeconds",
                "durationSeconds must be between 1 and \(maximumStickinessSeconds), got \(duration)"
            )
        }
        return nil
    }

    /// A fixed-response action: status `^(2|4|5)\d\d$`, a known content type, a body of at most 1024 characters.
    public static func validateFixedResponse(_ action: FixedResponseAction) -> RoutingValidationIssue? {
        let status = action.statusCode
        if !(200...299).contains(status) && !(400...599).contains(status) {
            return RoutingValidationIssue(
                field: "statusCode", "statusCode must be a 2XX, 4XX or 5XX code, got \(status)"
            )
        }
        if let type = action.contentType, !fixedResponseContentTypes.contains(type) {
            return RoutingValidationIssue(
                field: "contentType",
                "contentType \(quoted(type)) is not supported; use one of "
                    + fixedResponseContentTypes.joined(separator: ", ")
            )
        }
        if let body = action.messageBody, body.count > 1024 {
            return RoutingValidationIssue(
                field: "messageBody", "messageBody must be at most 1024 characters, got \(body.count)"
            )
        }
        return nil
    }

    /// A redirect action on a listener of `listenerProtocol`: status 301/302, protocol `HTTP`/`HTTPS`/
    /// `#{protocol}`, port 1–65535 or `#{port}`, host and path 1–128 characters, path starting with `/`,
    /// query ≤ 128, placeholders only where ALB allows them, at least one of protocol, host, port and path
    /// changed, and no HTTPS→HTTP redirect.
    public static func validateRedirect(
        _ action: RedirectAction,
        listenerProtocol: ListenerProtocol
    ) -> RoutingValidationIssue? {
        if action.statusCode != 301 && action.statusCode != 302 {
            return RoutingValidationIssue(
                field: "statusCode", "statusCode must be HTTP_301 or HTTP_302, got \(action.statusCode)"
            )
        }
        if let value = action.protocol {
            if let problem = placeholderProblem(value, allowed: ["protocol"], field: "protocol") {
                return RoutingValidationIssue(field: "protocol", problem)
            }
            if value != "#{protocol}" && value != "HTTP" && value != "HTTPS" {
                return RoutingValidationIssue(
                    field: "protocol", "protocol must be HTTP, HTTPS or #{protocol}, got \(quoted(value))"
                )
            }
            if listenerProtocol == .https && value == "HTTP" {
                return RoutingValidationIssue(
                    field: "protocol", "a redirect from an HTTPS listener to HTTP is not allowed"
                )
            }
        }
        if let value = action.port {
            if let problem = placeholderProblem(value, allowed: ["port"], field: "port") {
                return RoutingValidationIssue(field: "port", problem)
            }
            if value != "#{port}" {
                guard value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let port = Int(value), (1...65535).contains(port)
                else {
                    return RoutingValidationIssue(
                        field: "port", "port must be a number between 1 and 65535 or #{port}, got \(quoted(value))"
                    )
                }
            }
        }
        if let value = action.host {
            if let problem = lengthProblem(value, "host", max: 128) {
                return RoutingValidationIssue(field: "host", problem)
            }
            if let problem = placeholderProblem(value, allowed: ["host"], field: "host") {
                return RoutingValidationIssue(field: "host", problem)
            }
        }
        if let value = action.path {
            if let problem = lengthProblem(value, "path", max: 128) {
                return RoutingValidationIssue(field: "path", problem)
            }
            if !value.hasPrefix("/") {
                return RoutingValidationIssue(
                    field: "path", "path must start with '/' (write /#{path} to keep the path)")
            }
            if let problem = placeholderProblem(value, allowed: ["host", "port", "path"], field: "path") {
                return RoutingValidationIssue(field: "path", problem)
            }
        }
        if let value = action.query {
            if value.utf8.count > 128 {
                return RoutingValidationIssue(
                    field: "query", "query must be at most 128 characters, got \(value.utf8.count)")
            }
            if value.hasPrefix("?") {
                return RoutingValidationIssue(field: "query", "query is given without the leading '?'")
            }
            if let problem = placeholderProblem(
                value, allowed: ["protocol", "host", "port", "path", "query"], field: "query"
            ) {
                return RoutingValidationIssue(field: "query", problem)
            }
        }
        let unchanged =
            (action.protocol ?? "#{protocol}") == "#{protocol}" && (action.host ?? "#{host}") == "#{host}"
            && (action.port ?? "#{port}") == "#{port}" && (action.path ?? "/#{path}") == "/#{path}"
        if unchanged {
            return RoutingValidationIssue(
                "a redirect must change at least one of protocol, host, port or path, or it would loop"
            )
        }
        return nil
    }

    // MARK: Helpers

    static func lengthProblem(_ text: String, _ what: String, max: Int) -> String? {
        if text.isEmpty { return "\(what) must not be empty" }
        let length = text.unicodeScalars.count
        if length > max { return "\(what) must be at most \(max) characters, got \(length)" }
        return nil
    }

    static func visibleASCIIProblem(_ text: String, _ what: String, allowSpace: Bool) -> String? {
        for scalar in text.unicodeScalars where scalar.value < 0x21 || scalar.value > 0x7e {
            if allowSpace && scalar == " " { continue }
            return "\(what) \(quoted(text)) contains \(describe(scalar)); only visible ASCII characters are matched"
        }
        return nil
    }

    /// Checks that every `#{...}` in `text` is a known placeholder allowed in `field`.
    static func placeholderProblem(_ text: String, allowed: Set<String>, field: String) -> String? {
        var rest = Substring(text)
        while let open = rest.firstRange(of: "#{") {
            let after = rest[open.upperBound...]
            guard let close = after.firstIndex(of: "}") else {
                return "\(field) has an unterminated placeholder: \(quoted(String(rest[open.lowerBound...])))"
            }
            let name = String(after[..<close])
            if !allowed.contains(name) {
                let list = allowed.sorted().map { "#{\($0)}" }.joined(separator: ", ")
                return "placeholder #{\(name)} is not allowed in \(field); allowed: \(list)"
            }
            rest = after[after.index(after: close)...]
        }
        return nil
    }

    static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    static func quoted(_ text: String) -> String { "\"\(text)\"" }

    static func describe(_ scalar: Unicode.Scalar) -> String {
        if scalar == " " { return "a space" }
        if scalar.value < 0x21 || scalar.value == 0x7f {
            return "the control character U+\(String(scalar.value, radix: 16, uppercase: true))"
        }
        return "'\(scalar)'"
    }
}

extension RuleCondition {
    /// The condition's name as ALB spells it (`path-pattern`).
    public var kindName: String {
        switch self {
        case .hostHeader: return "host-header"
        case .pathPattern: return "path-pattern"
        case .httpRequestMethod: return "http-request-method"
        case .httpHeader: return "http-header"
        case .queryString: return "query-string"
        case .sourceIP: return "source-ip"
        }
    }

    /// Whether ALB allows at most one condition of this kind per rule.
    var isSingular: Bool {
        switch self {
        case .hostHeader, .pathPattern, .httpRequestMethod, .sourceIP: return true
        case .httpHeader, .queryString: return false
        }
    }

    /// The number of values this condition contributes to the per-rule quota.
    public var valueCount: Int {
        switch self {
        case .hostHeader(let values), .pathPattern(let values), .httpRequestMethod(let values),
            .sourceIP(let values):
            return values.count
        case .httpHeader(_, let values): return values.count
        case .queryString(let pairs): return pairs.count
        }
    }

    /// The number of `*` and `?` wildcards this condition contributes to the per-rule quota.
    public var wildcardCount: Int {
        switch self {
        case .hostHeader(let values), .pathPattern(let values):
            return values.reduce(0) { $0 + WildcardPattern($1, caseInsensitive: false).wildcardCount }
        case .httpHeader(_, let values):
            return values.reduce(0) { $0 + WildcardPattern($1, caseInsensitive: false).wildcardCount }
        case .queryString(let pairs):
            return pairs.reduce(0) { count, pair in
                count + WildcardPattern(pair.value, caseInsensitive: false, backslashEscapes: true).wildcardCount
                    + (pair.key.map {
                        WildcardPattern($0, caseInsensitive: false, backslashEscapes: true).wildcardCount
                    } ?? 0)
            }
        case .httpRequestMethod, .sourceIP:
            return 0
        }
    }
}
