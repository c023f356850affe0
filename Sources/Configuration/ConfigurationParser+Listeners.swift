internal import Routing
import Yams

extension ConfigurationParser {
    static let listenerKeys = [
        "port", "bindAddress", "protocol", "certificates", "sslPolicy", "defaultAction", "rules",
    ]
    static let securityPolicies = [
        "ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", "ELBSecurityPolicy-2016-08",
    ]
    static let defaultSecurityPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

    func parseListener(_ node: ConfigNode) throws(ConfigurationError) -> ListenerConfiguration {
        let mapping = try node.mapping(allowed: Self.listenerKeys)
        let port = try mapping.required("port").int(in: 0...65535)
        var bindAddress = "127.0.0.1"
        if let value = mapping.optional("bindAddress") {
            bindAddress = try value.string()
            guard IPAddress(bindAddress) != nil else {
                throw value.error(
                    "bindAddress must be an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got \"\(bindAddress)\"")
            }
        }
        var listenerProtocol = ListenerProtocol.http
        if let value = mapping.optional("protocol") {
            listenerProtocol = ListenerProtocol(rawValue: try value.choice(["HTTP", "HTTPS"]))!
        }
        var tls: ListenerTLSSettings? = nil
        switch listenerProtocol {
        case .http:
            for key in ["certificates", "sslPolicy"] {
                if let value = mapping.optional(key) {
                    throw value.error("\(key) applies only to HTTPS listeners")
                }
            }
        case .https:
            tls = try parseTLS(mapping)
        }
        let defaultAction = try parseAction(try mapping.required("defaultAction"), listenerProtocol: listenerProtocol)
        var rules: [ListenerRule] = []
        if let rulesNode = mapping.optional("rules") {
            let items = try rulesNode.sequence()
            for item in items {
                rules.append(try parseRule(item, listenerProtocol: listenerProtocol))
            }
            if let duplicate = RoutingValidation.duplicatePriority(in: rules.map(\.priority)) {
                throw items[duplicate.index].locate("priority").error(duplicate.message)
            }
        }
        return ListenerConfiguration(
            port: port, bindAddress: bindAddress, protocol: listenerProtocol, tls: tls, rules: rules,
            defaultAction: defaultAction
        )
    }

    func parseTLS(_ mapping: ConfigMapping) throws(ConfigurationError) -> ListenerTLSSettings {
        let certificatesNode = try mapping.required("certificates")
        let items = try certificatesNode.sequence()
        if items.isEmpty { throw certificatesNode.error("an HTTPS listener needs at least one certificate") }
        var certificates: [ListenerTLSSettings.Certificate] = []
        for item in items {
            let entry = try item.mapping(allowed: ["certificate", "privateKey"])
            certificates.append(
                ListenerTLSSettings.Certificate(
                    certificateChainPath: try existingFile(try entry.required("certificate")),
                    privateKeyPath: try existingFile(try entry.required("privateKey"))
                )
            )
        }
        var policy = Self.defaultSecurityPolicy
        if let value = mapping.optional("sslPolicy") { policy = try value.choice(Self.securityPolicies) }
        return ListenerTLSSettings(
            defaultCertificate: certificates[0], certificates: Array(certificates.dropFirst()), securityPolicy: policy
        )
    }

    func existingFile(_ node: ConfigNode) throws(ConfigurationError) -> String {
        let path = FilePaths.absolute(try node.nonEmptyString(), relativeTo: baseDirectory)
        switch FilePaths.kind(path) {
        case .file: return path
        case .directory: throw node.error("\(path) is a directory, expected a PEM file")
        case .missing: throw node.error("file \(path) does not exist")
        }
    }

    // MARK: Rules

    func parseRule(_ node: ConfigNode, listenerProtocol: ListenerProtocol) throws(ConfigurationError) -> ListenerRule {
        let mapping = try node.mapping(allowed: ["priority", "conditions", "action"])
        let priorityNode = try mapping.required("priority")
        let priority = try priorityNode.int(in: Int.min...Int.max)
        if let problem = RoutingValidation.validatePriority(priority) { throw priorityNode.error(problem) }
        let conditionsNode = try mapping.required("conditions")
        var conditions: [RuleCondition] = []
        for item in try conditionsNode.sequence() {
            conditions.append(try parseCondition(item))
        }
        if let issue = RoutingValidation.validateRuleConditions(conditions) {
            throw conditionsNode.locate(issue.field.map { String($0.dropFirst("conditions".count)) })
                .error(issue.message)
        }
        let action = try parseAction(try mapping.required("action"), listenerProtocol: listenerProtocol)
        return ListenerRule(priority: priority, conditions: conditions, action: action)
    }

    static let conditionKeys = [
        "pathPattern", "hostHeader", "httpRequestMethod", "httpHeader", "queryString", "sourceIp",
    ]

    func parseCondition(_ node: ConfigNode) throws(ConfigurationError) -> RuleCondition {
        let mapping = try node.mapping(allowed: Self.conditionKeys)
        guard mapping.entries.count == 1, let entry = mapping.entries.first else {
            throw node.error(
                "a condition has exactly one of " + Self.conditionKeys.joined(separator: ", ")
                    + "; write several conditions to combine them"
            )
        }
        let value = entry.value
        switch entry.key {
        case "pathPattern":
            return .pathPattern(try checkedStrings(value, RoutingValidation.validatePathPattern))
        case "hostHeader":
            return .hostHeader(try checkedStrings(value, RoutingValidation.validateHostHeaderPattern))
        case "httpRequestMethod":
            return .httpRequestMethod(try checkedStrings(value, RoutingValidation.validateHTTPRequestMethod))
        case "sourceIp":
            return .sourceIP(try checkedStrings(value, RoutingValidation.validateSourceIP))
        case "httpHeader":
            let header = try value.mapping(allowed: ["name", "values"])
            let nameNode = try header.required("name")
            let name = try nameNode.string()
            if let problem = RoutingValidation.validateHTTPHeaderName(name) { throw nameNode.error(problem) }
            let values = try checkedStrings(try header.required("values"), RoutingValidation.validateHTTPHeaderValue)
            return .httpHeader(name: name, values: values)
        default:  // queryString
            var pairs: [QueryStringCondition] = []
            let items = try value.sequence()
            if items.isEmpty { throw value.error("must list at least one {key, value} pair") }
            for item in items {
                let pair = try item.mapping(allowed: ["key", "value"])
                var key: String? = nil
                if let keyNode = pair.optional("key") {
                    key = try keyNode.string()
                    if let problem = RoutingValidation.validateQueryStringComponent(key!, isKey: true) {
                        throw keyNode.error(problem)
                    }
                }
                let valueNode = try pair.required("value")
                let text = try valueNode.string()
                if let problem = RoutingValidation.validateQueryStringComponent(text, isKey: false) {
                    throw valueNode.error(problem)
                }
                pairs.append(QueryStringCondition(key: key, value: text))
            }
            return .queryString(pairs)
        }
    }

    func checkedStrings(
        _ node: ConfigNode,
        _ validate: (String) -> String?
    ) throws(ConfigurationError) -> [String] {
        var values: [String] = []
        for (text, item) in try node.stringList() {
            if let problem = validate(text) { throw item.error(problem) }
            values.append(text)
        }
        return values
    }

    // MARK: Actions

    func parseAction(_ node: ConfigNode, listenerProtocol: ListenerProtocol) throws(ConfigurationError) -> RuleAction {
        let mapping = try node.mapping(allowed: ["forward", "fixedResponse", "redirect"])
        guard mapping.entries.count == 1, let entry = mapping.entries.first, !entry.value.isNull else {
            throw node.error("an action needs exactly one of forward, fixedResponse or redirect")
        }
        switch entry.key {
        case "forward":
            return .forward(try parseForward(entry.value))
        case "fixedResponse":
            return .fixedResponse(try parseFixedResponse(entry.value))
        default:
            return .redirect(try parseRedirect(entry.value, listenerProtocol: listenerProtocol))
        }
    }

    func parseForward(_ node: ConfigNode) throws(ConfigurationError) -> ForwardAction {
        var forward: ForwardAction
        if case .scalar = node.node {
            let name = try node.nonEmptyString()
            try checkTargetGroupExists(name, node)
            forward = ForwardAction(targetGroupName: name)
        } else {
            let mapping = try node.mapping(allowed: ["targetGroups", "stickiness"])
            let groupsNode = try mapping.required("targetGroups")
            let items = try groupsNode.sequence()
            var groups: [ForwardAction.WeightedTargetGroup] = []
            for item in items {
                let group = try item.mapping(allowed: ["name", "weight"])
                let nameNode = try group.required("name")
                let name = try nameNode.nonEmptyString()
                try checkTargetGroupExists(name, nameNode)
                var weight = 1
                if let weightNode = group.optional("weight") {
                    weight = try weightNode.int(in: 0...999)
                } else if items.count > 1 {
                    throw item.error("weight is required when a forward action names more than one target group")
                }
                groups.append(ForwardAction.WeightedTargetGroup(targetGroupName: name, weight: weight))
            }
            forward = ForwardAction(targetGroups: groups)
            if let stickinessNode = mapping.optional("stickiness") {
                let stickiness = try stickinessNode.mapping(allowed: ["enabled", "durationSeconds"])
                var enabled = true
                if let enabledNode = stickiness.optional("enabled") { enabled = try enabledNode.bool() }
                if enabled {
                    forward.stickinessDurationSeconds = try stickiness.required("durationSeconds")
                        .int(in: 1...RoutingValidation.maximumStickinessSeconds)
                }
            }
        }
        if let issue = RoutingValidation.validateForward(forward) {
            throw node.locate(issue.field).error(issue.message)
        }
        return forward
    }

    func checkTargetGroupExists(_ name: String, _ node: ConfigNode) throws(ConfigurationError) {
        guard targetGroupLines[name] == nil else { return }
        var message = "target group \"\(name)\" is not defined"
        if let suggestion = Suggestions.closest(to: name, in: Array(targetGroupLines.keys)) {
            message += "; did you mean \"\(suggestion)\"?"
        } else if !targetGroupLines.isEmpty {
            message += " (defined: " + targetGroupLines.keys.sorted().joined(separator: ", ") + ")"
        }
        throw node.error(message)
    }

    func parseFixedResponse(_ node: ConfigNode) throws(ConfigurationError) -> FixedResponseAction {
        let mapping = try node.mapping(allowed: ["statusCode", "contentType", "messageBody"])
        let statusNode = try mapping.required("statusCode")
        let action = FixedResponseAction(
            statusCode: try statusNode.int(in: 100...999),
            contentType: try mapping.optional("contentType")?.string(),
            messageBody: try mapping.optional("messageBody")?.string()
        )
        if let issue = RoutingValidation.validateFixedResponse(action) {
            throw node.locate(issue.field).error(issue.message)
        }
        return action
    }

    func parseRedirect(
        _ node: ConfigNode, listenerProtocol: ListenerProtocol
    ) throws(ConfigurationError)
        -> RedirectAction
    {
        let mapping = try node.mapping(allowed: ["protocol", "host", "port", "path", "query", "statusCode"])
        let statusNode = try mapping.required("statusCode")
        let statusCode: Int
        switch try statusNode.string() {
        case "HTTP_301", "301": statusCode = 301
        case "HTTP_302", "302": statusCode = 302
        case let other: throw statusNode.error("statusCode must be HTTP_301 or HTTP_302, got \"\(other)\"")
        }
        let action = RedirectAction(
            protocol: try mapping.optional("protocol")?.string(),
            host: try mapping.optional("host")?.string(),
            port: try mapping.optional("port")?.string(),
            path: try mapping.optional("path")?.string(),
            query: try mapping.optional("query")?.string(),
            statusCode: statusCode
        )
        if let issue = RoutingValidation.validateRedirect(action, listenerProtocol: listenerProtocol) {
            throw node.locate(issue.field).error(issue.message)
        }
        return action
    }
}
