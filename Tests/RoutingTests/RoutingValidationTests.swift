import Testing

@testable import Routing

struct RoutingValidationTests {
    @Test(
        arguments: [
            ("*.example.com", nil),
            ("localhost", nil),
            ("api-1.example.com", nil),
            ("", "host-header pattern must not be empty"),
            (String(repeating: "a", count: 129), "host-header pattern must be at most 128 characters, got 129"),
            (
                "bad_host.com",
                "host-header pattern \"bad_host.com\" contains '_'; allowed are letters, digits, '-', '.', and "
                    + "the wildcards '*' and '?'"
            ),
            (
                "a b.com",
                "host-header pattern \"a b.com\" contains a space; allowed are letters, digits, '-', '.', and "
                    + "the wildcards '*' and '?'"
            ),
        ] as [(String, String?)])
    func hostHeader(_ pattern: String, _ message: String?) {
        #expect(RoutingValidation.validateHostHeaderPattern(pattern) == message)
    }

    @Test(
        arguments: [
            ("/api/*", nil),
            ("/a_b-c.d$e/~f\"g'h@i:j+k&l?", nil),
            (String(repeating: "/", count: 128), nil),
            (String(repeating: "/", count: 129), "path pattern must be at most 128 characters, got 129"),
            (
                "/a b",
                "path pattern \"/a b\" contains a space; allowed are letters, digits, _ - . $ / ~ \" ' @ : + & "
                    + "and the wildcards '*' and '?'"
            ),
            (
                "/a%20",
                "path pattern \"/a%20\" contains '%'; allowed are letters, digits, _ - . $ / ~ \" ' @ : + & and "
                    + "the wildcards '*' and '?'"
            ),
        ] as [(String, String?)])
    func pathPattern(_ pattern: String, _ message: String?) {
        #expect(RoutingValidation.validatePathPattern(pattern) == message)
    }

    @Test func headerNamesAndValues() {
        #expect(RoutingValidation.validateHTTPHeaderName("X-Env") == nil)
        #expect(
            RoutingValidation.validateHTTPHeaderName("HOST")
                == "HTTP header name must not be Host; use a hostHeader condition instead")
        #expect(
            RoutingValidation.validateHTTPHeaderName(String(repeating: "x", count: 41))
                == "HTTP header name must be at most 40 characters, got 41")
        #expect(
            RoutingValidation.validateHTTPHeaderName("x-*")
                == "HTTP header name \"x-*\" contains '*'; wildcards are not allowed in header names and only "
                + "HTTP token characters are"
        )
        #expect(RoutingValidation.validateHTTPHeaderValue("*Mobile*") == nil)
        #expect(
            RoutingValidation.validateHTTPHeaderValue(String(repeating: "v", count: 129))
                == "HTTP header value must be at most 128 characters, got 129")
        #expect(
            RoutingValidation.validateQueryStringComponent(String(repeating: "q", count: 129), isKey: false)
                == "query-string value must be at most 128 characters, got 129")
        #expect(
            RoutingValidation.validateQueryStringComponent("a\u{1}", isKey: true)
                == "query-string key \"a\u{1}\" contains the control character U+1; only visible ASCII "
                + "characters are matched"
        )
        #expect(RoutingValidation.validateHTTPRequestMethod("GET") == nil)
        #expect(
            RoutingValidation.validateHTTPRequestMethod("get")
                == "HTTP request method \"get\" contains 'g'; allowed are upper-case letters A-Z, '-' and '_'")
    }

    @Test func sourceIPsAndPriorities() {
        #expect(RoutingValidation.validateSourceIP("10.0.0.0/8") == nil)
        #expect(RoutingValidation.validateSourceIP("::1/128") == nil)
        #expect(
            RoutingValidation.validateSourceIP("10.0.0.1")
                == "\"10.0.0.1\" is not a CIDR block such as 192.0.2.0/24 or 2001:db8::/32")
        #expect(
            RoutingValidation.validateSourceIP("255.255.255.255/32") == "source IP 255.255.255.255/32 is not allowed")
        #expect(RoutingValidation.validatePriority(1) == nil)
        #expect(RoutingValidation.validatePriority(50000) == nil)
        #expect(RoutingValidation.validatePriority(0) == "priority must be between 1 and 50000, got 0")
        #expect(RoutingValidation.validatePriority(50001) == "priority must be between 1 and 50000, got 50001")
        #expect(RoutingValidation.duplicatePriority(in: [5, 7, 9]) == nil)
        let duplicate = RoutingValidation.duplicatePriority(in: [5, 7, 5])
        #expect(duplicate?.index == 2)
        #expect(duplicate?.message == "priority 5 is already used by rules[0]; priorities must be unique per listener")
    }

    @Test(
        arguments: [
            ([RuleCondition.pathPattern(["/a"]), .hostHeader(["x.com"])], nil),
            (
                [
                    RuleCondition.httpHeader(name: "a", values: ["1"]), .httpHeader(name: "b", values: ["2"]),
                    .queryString([.init(key: "k", value: "v")]), .queryString([.init(key: nil, value: "w")]),
                ], nil
            ),
            ([], RoutingValidationIssue("a rule needs at least one condition; use defaultAction for a catch-all")),
            (
                [RuleCondition.pathPattern(["/a"]), .hostHeader(["x.com"]), .pathPattern(["/b"])],
                RoutingValidationIssue(
                    field: "conditions[2]",
                    "a rule may have only one path-pattern condition (conditions[0] is one already); list "
                        + "several values in it instead"
                )
            ),
            (
                [RuleCondition.sourceIP(["10.0.0.0/8"]), .sourceIP(["::1/128"])],
                RoutingValidationIssue(
                    field: "conditions[1]",
                    "a rule may have only one source-ip condition (conditions[0] is one already); list several "
                        + "values in it instead"
                )
            ),
            (
                [RuleCondition.pathPattern(["/a", "/b", "/c"]), .httpRequestMethod(["GET", "HEAD", "POST"])],
                RoutingValidationIssue("a rule may have at most 5 condition values in total, this one has 6")
            ),
            (
                [RuleCondition.pathPattern(["/*/*/*", "/?/?/?"])],
                RoutingValidationIssue("a rule may use at most 5 wildcards in total, this one uses 6")
            ),
            ([RuleCondition.queryString([.init(key: "\\*", value: "\\?\\*")]), .pathPattern(["/*/*/*/*/*"])], nil),
            (
                [RuleCondition.pathPattern([])],
                RoutingValidationIssue(field: "conditions[0]", "path-pattern condition needs at least one value")
            ),
        ] as [([RuleCondition], RoutingValidationIssue?)])
    func ruleLimits(_ conditions: [RuleCondition], _ issue: RoutingValidationIssue?) {
        #expect(RoutingValidation.validateRuleConditions(conditions) == issue)
    }

    @Test(
        arguments: [
            (ForwardAction(targetGroupName: "a"), nil),
            (
                ForwardAction(
                    targetGroups: [.init(targetGroupName: "a", weight: 0), .init(targetGroupName: "b", weight: 999)],
                    stickinessDurationSeconds: 604_800), nil
            ),
            (
                ForwardAction(targetGroups: []),
                RoutingValidationIssue(field: "targetGroups", "a forward action needs at least one target group")
            ),
            (
                ForwardAction(targetGroups: (1...6).map { .init(targetGroupName: "g\($0)", weight: 1) }),
                RoutingValidationIssue(
                    field: "targetGroups", "a forward action may name at most 5 target groups, got 6")
            ),
            (
                ForwardAction(targetGroups: [
                    .init(targetGroupName: "a", weight: 1000), .init(targetGroupName: "b", weight: 1),
                ]),
                RoutingValidationIssue(field: "targetGroups[0].weight", "weight must be between 0 and 999, got 1000")
            ),
            (
                ForwardAction(targetGroups: [
                    .init(targetGroupName: "a", weight: 0), .init(targetGroupName: "b", weight: 0),
                ]),
                RoutingValidationIssue(
                    field: "targetGroups", "at least one target group of a weighted forward needs a weight above 0")
            ),
            (
                ForwardAction(targetGroups: [.init(targetGroupName: "a"), .init(targetGroupName: "a")]),
                RoutingValidationIssue(
                    field: "targetGroups[1].name", "target group \"a\" appears more than once in this forward action")
            ),
            (
                ForwardAction(targetGroups: [.init(targetGroupName: "a")], stickinessDurationSeconds: 0),
                RoutingValidationIssue(
                    field: "stickiness.durationSeconds", "durationSeconds must be between 1 and 604800, got 0")
            ),
            (
                ForwardAction(targetGroups: [.init(targetGroupName: "a")], stickinessDurationSeconds: 604_801),
                RoutingValidationIssue(
                    field: "stickiness.durationSeconds", "durationSeconds must be between 1 and 604800, got 604801")
            ),
        ] as [(ForwardAction, RoutingValidationIssue?)])
    func forward(_ action: ForwardAction, _ issue: RoutingValidationIssue?) {
        #expect(RoutingValidation.validateForward(action) == issue)
    }

    @Test(
        arguments: [
            (FixedResponseAction(statusCode: 200), nil),
            (
                FixedResponseAction(
                    statusCode: 503, contentType: "application/json", messageBody: String(repeating: "x", count: 1024)),
                nil
            ),
            (
                FixedResponseAction(statusCode: 302),
                RoutingValidationIssue(field: "statusCode", "statusCode must be a 2XX, 4XX or 5XX code, got 302")
            ),
            (
                FixedResponseAction(statusCode: 600),
                RoutingValidationIssue(field: "statusCode", "statusCode must be a 2XX, 4XX or 5XX code, got 600")
            ),
            (
                FixedResponseAction(statusCode: 200, contentType: "image/png"),
                RoutingValidationIssue(
                    field: "contentType",
                    "contentType \"image/png\" is not supported; use one of text/plain, text/css, text/html, "
                        + "application/javascript, application/json"
                )
            ),
            (
                FixedResponseAction(statusCode: 200, messageBody: String(repeating: "x", count: 1025)),
                RoutingValidationIssue(field: "messageBody", "messageBody must be at most 1024 characters, got 1025")
            ),
        ] as [(FixedResponseAction, RoutingValidationIssue?)])
    func fixedResponse(_ action: FixedResponseAction, _ issue: RoutingValidationIssue?) {
        #expect(RoutingValidation.validateFixedResponse(action) == issue)
    }

    static let loop = "a redirect must change at least one of protocol, host, port or path, or it would loop"

    @Test(
        arguments: [
            (
                RedirectAction(
                    protocol: "HTTPS", host: "#{host}", port: "443", path: "/#{path}", query: "#{query}",
                    statusCode: 301), ListenerProtocol.http, nil
            ),
            (RedirectAction(host: "other.example.com", statusCode: 302), .https, nil),
            (RedirectAction(path: "/#{path}/", statusCode: 301), .http, nil),
            (
                RedirectAction(
                    protocol: "#{protocol}", host: "#{host}", port: "#{port}", path: "/#{path}", query: "a=1",
                    statusCode: 301), .http,
                RoutingValidationIssue(loop)
            ),
            (RedirectAction(query: "x=1", statusCode: 301), .http, RoutingValidationIssue(loop)),
            (
                RedirectAction(protocol: "HTTP", statusCode: 301), .https,
                RoutingValidationIssue(field: "protocol", "a redirect from an HTTPS listener to HTTP is not allowed")
            ),
            (
                RedirectAction(protocol: "https", statusCode: 301), .http,
                RoutingValidationIssue(field: "protocol", "protocol must be HTTP, HTTPS or #{protocol}, got \"https\"")
            ),
            (
                RedirectAction(port: "0", statusCode: 301), .http,
                RoutingValidationIssue(field: "port", "port must be a number between 1 and 65535 or #{port}, got \"0\"")
            ),
            (
                RedirectAction(port: "#{host}", statusCode: 301), .http,
                RoutingValidationIssue(field: "port", "placeholder #{host} is not allowed in port; allowed: #{port}")
            ),
            (
                RedirectAction(host: "#{path}.example.com", statusCode: 301), .http,
                RoutingValidationIssue(field: "host", "placeholder #{path} is not allowed in host; allowed: #{host}")
            ),
            (
                RedirectAction(path: "/#{query}", statusCode: 301), .http,
                RoutingValidationIssue(
                    field: "path", "placeholder #{query} is not allowed in path; allowed: #{host}, #{path}, #{port}")
            ),
            (
                RedirectAction(path: "new", statusCode: 301), .http,
                RoutingValidationIssue(field: "path", "path must start with '/' (write /#{path} to keep the path)")
            ),
            (
                RedirectAction(host: "", statusCode: 301), .http,
                RoutingValidationIssue(field: "host", "host must not be empty")
            ),
            (
                RedirectAction(host: String(repeating: "h", count: 129), statusCode: 301), .http,
                RoutingValidationIssue(field: "host", "host must be at most 128 characters, got 129")
            ),
            (
                RedirectAction(path: "/" + String(repeating: "p", count: 128), statusCode: 301), .http,
                RoutingValidationIssue(field: "path", "path must be at most 128 characters, got 129")
            ),
            (
                RedirectAction(path: "/x", query: String(repeating: "q", count: 129), statusCode: 301), .http,
                RoutingValidationIssue(field: "query", "query must be at most 128 characters, got 129")
            ),
            (
                RedirectAction(path: "/x", query: "?a=1", statusCode: 301), .http,
                RoutingValidationIssue(field: "query", "query is given without the leading '?'")
            ),
            (
                RedirectAction(path: "/x", statusCode: 307), .http,
                RoutingValidationIssue(field: "statusCode", "statusCode must be HTTP_301 or HTTP_302, got 307")
            ),
        ] as [(RedirectAction, ListenerProtocol, RoutingValidationIssue?)])
    func redirect(_ action: RedirectAction, _ listener: ListenerProtocol, _ issue: RoutingValidationIssue?) {
        #expect(RoutingValidation.validateRedirect(action, listenerProtocol: listener) == issue)
    }
}
