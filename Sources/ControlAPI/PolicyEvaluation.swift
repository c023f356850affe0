import Foundation

/// An IAM policy (a resource-based policy's statements as AddPermission stores them, or an identity policy a
/// credential carries) reduced to what Albatross evaluates: `Effect`, `Principal`, `Action` / `NotAction`,
/// `Resource` / `NotResource` with `*` and `?` wildcards, and the condition operators AddPermission writes
/// (`StringEquals`, `StringLike`, `ArnLike`, `ArnEquals`, `Bool` and their `Not` forms). A statement using anything
/// else never applies, so an unknown condition can only take a permission away, never grant one.
///
/// It is a pure value: the load balancer's `LambdaAccessDenied` check and the control API's authorization both use
/// it, so the two cannot disagree about what a policy allows.
public struct AccessPolicy: Sendable, Hashable {
    /// What a policy says about one request: ``deny`` only for a statement whose `Effect` is `Deny`; ``none`` when
    /// no statement applies (AWS's implicit deny).
    public enum Decision: Sendable, Hashable {
        case allow
        case deny
        case none
    }

    /// Who asks for what: the principal (an AWS account's IAM ARN or a service), the action (`lambda:Invoke…`), the
    /// resource's ARN, and the request's condition keys (lower-cased names, `aws:sourcearn`, `aws:sourceaccount`).
    public struct Request: Sendable, Hashable {
        public enum Principal: Sendable, Hashable {
            /// `arn:aws:iam::<account>:user/…` or `…:root`, with its account.
            case aws(arn: String, account: String)
            /// `elasticloadbalancing.amazonaws.com`.
            case service(String)
        }

        public var principal: Principal
        public var action: String
        public var resource: String
        public var context: [String: String]

        public init(principal: Principal, action: String, resource: String, context: [String: String] = [:]) {
            self.principal = principal
            self.action = action
            self.resource = resource
            self.context = Dictionary(context.map { ($0.key.lowercased(), $0.value) }) { first, _ in first }
        }
    }

    struct Statement: Sendable, Hashable {
        var allow: Bool
        /// nil: the statement names no principal (an identity policy's statements).
        var principals: [String: [String]]?
        var anyPrincipal = false
        var actions: [String]
        var notActions: Bool
        var resources: [String]
        var notResources: Bool
        /// operator → key → values.
        var conditions: [String: [String: [String]]]
    }

    let statements: [Statement]

    /// A policy document (`{"Version":…,"Statement":[…]}` or a single statement object); nil when it is not JSON or
    /// has no well-formed statement list. A statement that cannot be understood (no `Effect`, no `Action`) is an
    /// error, as IAM refuses such a policy.
    public init?(document: String) {
        guard let data = document.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        let list: [Any]
        if let many = object["Statement"] as? [Any] {
            list = many
        } else if let one = object["Statement"] as? [String: Any] {
            list = [one]
        } else if object["Effect"] != nil {
            list = [object]
        } else {
            return nil
        }
        var statements: [Statement] = []
        for item in list {
            guard let item = item as? [String: Any], let statement = Self.statement(item) else { return nil }
            statements.append(statement)
        }
        self.statements = statements
    }

    /// A resource-based policy from AddPermission's statements (each a JSON object as text); statements that do
    /// not parse are left out.
    public init(statements texts: [String]) {
        statements = texts.compactMap { text in
            guard let data = text.data(using: .utf8),
                let item = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { return nil }
            return Self.statement(item)
        }
    }

    private static func strings(_ value: Any?) -> [String]? {
        if let text = value as? String { return [text] }
        if let list = value as? [Any] {
            let texts = list.compactMap { $0 as? String }
            return texts.count == list.count ? texts : nil
        }
        return nil
    }

    private static func statement(_ item: [String: Any]) -> Statement? {
        guard let effect = item["Effect"] as? String, effect == "Allow" || effect == "Deny" else { return nil }
        let actions = strings(item["Action"])
        let notActions = strings(item["NotAction"])
        guard let actionList = actions ?? notActions else { return nil }
        let resources = strings(item["Resource"]) ?? strings(item["NotResource"]) ?? ["*"]
        var statement = Statement(
            allow: effect == "Allow", principals: nil, actions: actionList, notActions: actions == nil,
            resources: resources, notResources: item["Resource"] == nil && item["NotResource"] != nil,
            conditions: [:])
        if let principal = item["Principal"] {
            if let text = principal as? String {
                guard text == "*" else { return nil }
                statement.anyPrincipal = true
                statement.principals = [:]
            } else if let map = principal as? [String: Any] {
                var principals: [String: [String]] = [:]
                for (kind, value) in map {
                    guard let values = strings(value) else { return nil }
                    principals[kind] = values
                }
                statement.principals = principals
            } else {
                return nil
            }
        }
        if let condition = item["Condition"] {
            guard let map = condition as? [String: Any] else { return nil }
            for (operation, keys) in map {
                guard let keys = keys as? [String: Any] else { return nil }
                var entries: [String: [String]] = [:]
                for (key, value) in keys {
                    if let flag = value as? Bool {
                        entries[key.lowercased()] = [flag ? "true" : "false"]
                    } else if let values = strings(value) {
                        entries[key.lowercased()] = values
                    } else {
                        return nil
                    }
                }
                statement.conditions[operation] = entries
            }
        }
        return statement
    }

    /// The policy's decision: an explicit deny wins over any allow.
    public func evaluate(_ request: Request) -> Decision {
        var allowed = false
        for statement in statements where Self.applies(statement, to: request) {
            if !statement.allow { return .deny }
            allowed = true
        }
        return allowed ? .allow : .none
    }

    static func applies(_ statement: Statement, to request: Request) -> Bool {
        if let principals = statement.principals, !statement.anyPrincipal {
            guard matches(principals, request.principal) else { return false }
        }
        let actionMatches = statement.actions.contains {
            Wildcard.matches($0.lowercased(), request.action.lowercased())
        }
        guard actionMatches != statement.notActions else { return false }
        let resourceMatches = statement.resources.contains { Wildcard.matches($0, request.resource) }
        guard resourceMatches != statement.notResources else { return false }
        for (operation, keys) in statement.conditions {
            for (key, values) in keys {
                guard condition(operation, values: values, actual: request.context[key]) else { return false }
            }
        }
        return true
    }

    static func matches(_ principals: [String: [String]], _ principal: Request.Principal) -> Bool {
        switch principal {
        case .service(let service):
            return principals["Service"]?.contains(service) ?? false || principals["AWS"]?.contains("*") ?? false
        case .aws(let arn, let account):
            return principals["AWS"]?.contains { value in
                value == "*" || value == arn || value == account || value == "arn:aws:iam::\(account):root"
            } ?? false
        }
    }

    /// One condition operator over one key: true when any of `values` matches the request's value (a missing key
    /// never matches, except under a `Not` operator, as IAM does).
    static func condition(_ operation: String, values: [String], actual: String?) -> Bool {
        var name = operation
        let ifExists = name.hasSuffix("IfExists")
        if ifExists { name.removeLast("IfExists".count) }
        guard let actual else { return ifExists || name.hasPrefix("StringNot") || name.hasPrefix("ArnNot") }
        switch name {
        case "StringEquals", "ArnEquals": return values.contains(actual)
        case "StringEqualsIgnoreCase": return values.contains { $0.lowercased() == actual.lowercased() }
        case "StringLike", "ArnLike": return values.contains { Wildcard.matches($0, actual) }
        case "StringNotEquals", "ArnNotEquals": return !values.contains(actual)
        case "StringNotLike", "ArnNotLike": return !values.contains { Wildcard.matches($0, actual) }
        case "Bool": return values.contains { $0.lowercased() == actual.lowercased() }
        default: return false
        }
    }
}

/// IAM's `*` (any run of characters) and `?` (one character) patterns, case-sensitive.
enum Wildcard {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let pattern = Array(pattern.utf8)
        let text = Array(text.utf8)
        var (p, t) = (0, 0)
        var star: Int?
        var resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == UInt8(ascii: "?") || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
                star = p
                resume = t
                p += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }
}

extension AccessPolicy {
    /// The ALB's principal.
    public static let loadBalancerService = "elasticloadbalancing.amazonaws.com"

    /// Whether a resource policy (the statements of the function as a target group names it: the alias's or
    /// version's for a qualified target, the function's for an unqualified one) lets the load balancer invoke it
    /// for the target group `targetGroupARN`, as AWS checks before it registers or invokes a Lambda target:
    /// principal `elasticloadbalancing.amazonaws.com`, action `lambda:InvokeFunction`, `AWS:SourceArn` the group's
    /// ARN and `AWS:SourceAccount` the account.
    public static func allowsLoadBalancer(
        statements: [String], functionARN: String, targetGroupARN: String, account: String
    ) -> Bool {
        let request = Request(
            principal: .service(loadBalancerService), action: "lambda:InvokeFunction", resource: functionARN,
            context: ["aws:SourceArn": targetGroupARN, "aws:SourceAccount": account])
        return AccessPolicy(statements: statements).evaluate(request) == .allow
    }
}
