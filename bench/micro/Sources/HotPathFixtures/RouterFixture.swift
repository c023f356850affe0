package import Routing

/// A listener of 20 rules, each with a path-pattern, a host-header and an HTTP-header condition (evaluated in
/// that order), where only the last rule matches the browser GET of ``Fixtures``. The first 19 fail at different
/// depths, in turn on the path, on the host and on the header, so one `route` call pays for every kind of
/// condition and for the early and late exits the router makes on a busy listener.
package enum RouterFixture {
    package static let ruleCount = 20
    /// The target group the matching (last) rule forwards to.
    package static let matchingTargetGroup = "web"

    package static let configuration: ListenerConfiguration = {
        var rules: [ListenerRule] = []
        for index in 1..<ruleCount {
            let conditions: [RuleCondition]
            switch index % 3 {
            case 0:
                // Fails on the path.
                conditions = [
                    .pathPattern(["/api/v\(index)/*", "/static/\(index)/*"]),
                    .hostHeader(["*.example.com"]),
                    .httpHeader(name: "Accept-Language", values: ["en-*"]),
                ]
            case 1:
                // Path matches, fails on the host.
                conditions = [
                    .pathPattern(["/catalog/*"]),
                    .hostHeader(["tenant\(index).example.com", "*.tenant\(index).example.org"]),
                    .httpHeader(name: "Accept-Language", values: ["en-*"]),
                ]
            default:
                // Path and host match, fails on the header (after scanning every header line).
                conditions = [
                    .pathPattern(["/catalog/*/running"]),
                    .hostHeader(["*.example.com"]),
                    .httpHeader(name: "X-Client-Tier", values: ["gold", "tier-\(index)-*"]),
                ]
            }
            rules.append(
                ListenerRule(
                    priority: index * 10, conditions: conditions,
                    action: .forward(ForwardAction(targetGroupName: "group-\(index)"))))
        }
        rules.append(
            ListenerRule(
                priority: ruleCount * 10,
                conditions: [
                    .pathPattern(["/catalog/*"]),
                    .hostHeader(["shop.example.com", "*.shop.example.com"]),
                    .httpHeader(name: "Accept-Language", values: ["fr-*", "en-*"]),
                ],
                action: .forward(ForwardAction(targetGroupName: matchingTargetGroup))))
        return ListenerConfiguration(
            port: Fixtures.connection.listenerPort, rules: rules,
            defaultAction: .fixedResponse(FixedResponseAction(statusCode: 404, contentType: "text/plain")))
    }()

    /// What the front end gathers from the browser GET before routing it.
    package static let facts = RequestFacts(
        method: Fixtures.browserGet.method, rawPath: Fixtures.getPath, rawQuery: Fixtures.getQuery,
        host: "shop.example.com", headers: Fixtures.browserGet.headers,
        sourceAddress: Fixtures.connection.clientAddress)
}
