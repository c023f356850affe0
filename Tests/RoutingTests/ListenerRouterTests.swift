import Testing

@testable import Routing

/// Request facts with defaults that no condition in these tests matches by accident.
func facts(
    method: String = "GET",
    path: String = "/",
    query: String? = nil,
    host: String? = "app.example.com",
    headers: [(name: String, value: String)] = [],
    source: String = "203.0.113.10"
) -> RequestFacts {
    RequestFacts(method: method, rawPath: path, rawQuery: query, host: host, headers: headers, sourceAddress: source)
}

/// A router with one rule (priority 1, forwarding to `hit`) and a default forwarding to `default`.
func matches(_ condition: RuleCondition, _ request: RequestFacts) -> Bool {
    let router = ListenerRouter(
        ListenerConfiguration(
            port: 0,
            rules: [
                ListenerRule(priority: 1, conditions: [condition], action: .forward(.init(targetGroupName: "hit")))
            ],
            defaultAction: .forward(.init(targetGroupName: "default"))
        )
    )
    return router.route(request) == .forward(.init(targetGroupName: "hit"))
}

struct ConditionCase: Sendable, CustomTestStringConvertible {
    var condition: RuleCondition
    var request: RequestFacts
    var matches: Bool
    var note: String
    var testDescription: String { "\(note): \(matches)" }
}

struct ListenerRouterTests {
    static let hostCases: [ConditionCase] = [
        .init(
            condition: .hostHeader(["*.example.com"]), request: facts(host: "test.example.com"), matches: true,
            note: "wildcard subdomain"),
        .init(
            condition: .hostHeader(["*.example.com"]), request: facts(host: "example.com"), matches: false,
            note: "wildcard needs the dot"),
        .init(
            condition: .hostHeader(["API.Example.com"]), request: facts(host: "api.EXAMPLE.com"), matches: true,
            note: "case-insensitive"),
        .init(
            condition: .hostHeader(["api.example.com"]), request: facts(host: "api.example.com:8080"),
            matches: true, note: "port ignored"),
        .init(
            condition: .hostHeader(["localhost"]), request: facts(host: "localhost:1234"), matches: true,
            note: "localhost with port"),
        .init(
            condition: .hostHeader(["api.example.com"]), request: facts(host: nil), matches: false,
            note: "no Host header"),
        .init(
            condition: .hostHeader(["a.example.com", "b.example.com"]), request: facts(host: "b.example.com"),
            matches: true, note: "values are ORed"),
        .init(
            condition: .hostHeader(["api?.example.com"]), request: facts(host: "api1.example.com"),
            matches: true, note: "question mark"),
    ]

    static let pathCases: [ConditionCase] = [
        .init(
            condition: .pathPattern(["/api/*"]), request: facts(path: "/api/users/1"), matches: true,
            note: "star spans slashes"),
        .init(
            condition: .pathPattern(["/api/*"]), request: facts(path: "/API/users"), matches: false,
            note: "case-sensitive"),
        .init(
            condition: .pathPattern(["/api/*"]), request: facts(path: "/apiary"), matches: false,
            note: "literal prefix"),
        .init(
            condition: .pathPattern(["/a%20b"]), request: facts(path: "/a%20b"), matches: true,
            note: "raw path, not decoded"),
        .init(
            condition: .pathPattern(["/a b"]), request: facts(path: "/a%20b"), matches: false,
            note: "decoded form does not match"),
        .init(
            condition: .pathPattern(["/search"]), request: facts(path: "/search", query: "q=1"), matches: true,
            note: "query not part of path"),
        .init(
            condition: .pathPattern(["/python*"]), request: facts(path: "/python"), matches: true,
            note: "star matches nothing"),
    ]

    static let methodCases: [ConditionCase] = [
        .init(
            condition: .httpRequestMethod(["GET", "HEAD"]), request: facts(method: "HEAD"), matches: true,
            note: "second value"),
        .init(
            condition: .httpRequestMethod(["GET"]), request: facts(method: "get"), matches: false,
            note: "case-sensitive"),
        .init(
            condition: .httpRequestMethod(["PURGE"]), request: facts(method: "PURGE"), matches: true,
            note: "custom method"),
        .init(
            condition: .httpRequestMethod(["G*"]), request: facts(method: "GET"), matches: false,
            note: "no wildcards"),
    ]

    static let headerCases: [ConditionCase] = [
        .init(
            condition: .httpHeader(name: "X-Env", values: ["beta"]),
            request: facts(headers: [("x-env", "BETA")]), matches: true, note: "name and value case-insensitive"),
        .init(
            condition: .httpHeader(name: "x-env", values: ["beta"]),
            request: facts(headers: [("x-env", "prod"), ("X-ENV", "beta")]), matches: true,
            note: "each occurrence tried"),
        .init(
            condition: .httpHeader(name: "user-agent", values: ["*Mobile*"]),
            request: facts(headers: [("User-Agent", "Foo Mobile Safari")]), matches: true, note: "wildcards"),
        .init(
            condition: .httpHeader(name: "x-env", values: ["beta"]),
            request: facts(headers: [("x-envx", "beta")]), matches: false, note: "other header"),
        .init(
            condition: .httpHeader(name: "x-env", values: ["*"]), request: facts(), matches: false,
            note: "absent header never matches"),
        .init(
            condition: .httpHeader(name: "x-env", values: ["*"]), request: facts(headers: [("x-env", "")]),
            matches: true, note: "star matches an empty value"),
    ]

    static let queryCases: [ConditionCase] = [
        .init(
            condition: .queryString([.init(key: "version", value: "v2")]), request: facts(query: "version=v2"),
            matches: true, note: "key and value"),
        .init(
            condition: .queryString([.init(key: "version", value: "v2")]), request: facts(query: "VERSION=V2"),
            matches: true, note: "case-insensitive"),
        .init(
            condition: .queryString([.init(key: "version", value: "v2")]),
            request: facts(query: "a=1&version=v3&version=v2"), matches: true, note: "any pair"),
        .init(
            condition: .queryString([.init(key: nil, value: "v2")]), request: facts(query: "x=v2"),
            matches: true, note: "no key means any key"),
        .init(
            condition: .queryString([.init(key: "version", value: "v*")]), request: facts(query: "version=v10"),
            matches: true, note: "wildcard value"),
        .init(
            condition: .queryString([.init(key: "q", value: "a b")]), request: facts(query: "q=a%20b"),
            matches: true, note: "decoded %20"),
        .init(
            condition: .queryString([.init(key: "q", value: "a b")]), request: facts(query: "q=a+b"),
            matches: true, note: "decoded +"),
        .init(
            condition: .queryString([.init(key: "q", value: "a%20b")]), request: facts(query: "q=a%20b"),
            matches: true, note: "raw form also compared"),
        .init(
            condition: .queryString([.init(key: "my key", value: "1")]), request: facts(query: "my%20key=1"),
            matches: true, note: "decoded key"),
        .init(
            condition: .queryString([.init(key: "q", value: "\\*")]), request: facts(query: "q=*"),
            matches: true, note: "escaped star literal"),
        .init(
            condition: .queryString([.init(key: "q", value: "\\*")]), request: facts(query: "q=abc"),
            matches: false, note: "escaped star is not a wildcard"),
        .init(
            condition: .queryString([.init(key: "q", value: "a\\?")]), request: facts(query: "q=a%3F"),
            matches: true, note: "escaped question mark vs decoded"),
        .init(
            condition: .queryString([.init(key: nil, value: "*")]), request: facts(query: nil), matches: false,
            note: "no query string"),
        .init(
            condition: .queryString([.init(key: "flag", value: "")]), request: facts(query: "flag"),
            matches: true, note: "segment without = has empty value"),
        .init(
            condition: .queryString([.init(key: "version", value: "v2")]), request: facts(query: "v=version"),
            matches: false, note: "key and value are not swapped"),
    ]

    static let sourceCases: [ConditionCase] = [
        .init(
            condition: .sourceIP(["127.0.0.0/8"]), request: facts(source: "127.0.0.1"), matches: true,
            note: "IPv4 loopback"),
        .init(
            condition: .sourceIP(["127.0.0.0/8"]), request: facts(source: "::1"), matches: false,
            note: "IPv6 peer vs IPv4 block"),
        .init(
            condition: .sourceIP(["127.0.0.0/8", "::1/128"]), request: facts(source: "::1"), matches: true,
            note: "IPv6 block"),
        .init(
            condition: .sourceIP(["203.0.113.0/24"]), request: facts(source: "::ffff:203.0.113.10"),
            matches: true, note: "mapped peer"),
        .init(
            condition: .sourceIP(["10.0.0.0/8"]),
            request: facts(headers: [("X-Forwarded-For", "10.0.0.1")], source: "203.0.113.10"), matches: false,
            note: "X-Forwarded-For is ignored"),
    ]

    @Test(arguments: hostCases + pathCases + methodCases + headerCases + queryCases + sourceCases)
    func condition(_ example: ConditionCase) {
        #expect(matches(example.condition, example.request) == example.matches)
    }

    @Test func conditionsAreANDed() {
        let router = ListenerRouter(
            ListenerConfiguration(
                port: 0,
                rules: [
                    ListenerRule(
                        priority: 5,
                        conditions: [.pathPattern(["/api/*"]), .httpRequestMethod(["POST"])],
                        action: .fixedResponse(.init(statusCode: 201))
                    )
                ],
                defaultAction: .fixedResponse(.init(statusCode: 404))
            )
        )
        #expect(router.route(facts(method: "POST", path: "/api/x")) == .fixedResponse(.init(statusCode: 201)))
        #expect(router.route(facts(method: "GET", path: "/api/x")) == .fixedResponse(.init(statusCode: 404)))
        #expect(router.route(facts(method: "POST", path: "/other")) == .fixedResponse(.init(statusCode: 404)))
    }

    @Test func lowestPriorityNumberWinsRegardlessOfDeclarationOrder() {
        let router = ListenerRouter(
            ListenerConfiguration(
                port: 0,
                rules: [
                    ListenerRule(
                        priority: 30, conditions: [.pathPattern(["*"])],
                        action: .forward(.init(targetGroupName: "thirty"))),
                    ListenerRule(
                        priority: 2, conditions: [.pathPattern(["/a*"])],
                        action: .forward(.init(targetGroupName: "two"))),
                    ListenerRule(
                        priority: 10, conditions: [.pathPattern(["/ab*"])],
                        action: .forward(.init(targetGroupName: "ten"))),
                ],
                defaultAction: .forward(.init(targetGroupName: "default"))
            )
        )
        #expect(router.evaluationOrder == [2, 10, 30])
        #expect(router.route(facts(path: "/abc")) == .forward(.init(targetGroupName: "two")))
        #expect(router.route(facts(path: "/b")) == .forward(.init(targetGroupName: "thirty")))
    }

    @Test func defaultActionWhenNothingMatches() {
        let router = ListenerRouter(
            ListenerConfiguration(
                port: 0,
                rules: [
                    ListenerRule(
                        priority: 1, conditions: [.pathPattern(["/x"])], action: .forward(.init(targetGroupName: "x")))
                ],
                defaultAction: .fixedResponse(.init(statusCode: 503, contentType: "text/plain", messageBody: "down"))
            )
        )
        #expect(
            router.route(facts(path: "/y"))
                == .fixedResponse(.init(statusCode: 503, contentType: "text/plain", messageBody: "down")))
        let empty = ListenerRouter(ListenerConfiguration(port: 0, defaultAction: .forward(.init(targetGroupName: "d"))))
        #expect(empty.route(facts()) == .forward(.init(targetGroupName: "d")))
    }

    @Test func queryStringIsParsedOncePerRequestAcrossRules() {
        // Two query rules: the second must still see the parsed pairs after the first fails.
        let router = ListenerRouter(
            ListenerConfiguration(
                port: 0,
                rules: [
                    ListenerRule(
                        priority: 1, conditions: [.queryString([.init(key: "a", value: "1")])],
                        action: .forward(.init(targetGroupName: "one"))),
                    ListenerRule(
                        priority: 2, conditions: [.queryString([.init(key: "b", value: "2")])],
                        action: .forward(.init(targetGroupName: "two"))),
                ],
                defaultAction: .forward(.init(targetGroupName: "d"))
            )
        )
        #expect(router.route(facts(query: "b=2")) == .forward(.init(targetGroupName: "two")))
    }
}
