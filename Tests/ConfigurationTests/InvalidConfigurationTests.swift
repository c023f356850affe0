import AlbatrossTestKit
import Configuration
import Testing

/// One configuration that must be refused, with the exact line, key path and message expected.
struct BadConfiguration: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var line: Int?
    var keyPath: String
    var message: String
    var testDescription: String { name }
}

/// A valid prefix (lines 1–8) that the cases extend; listeners start on line 9.
let prefix = """
    functions:
      - name: echo
        runtime: provided.al2023
        handler: function.handler
        code: ./functions/echo
    targetGroups:
      - name: echo-tg
        function: echo

    """

/// `prefix` plus one listener whose single rule (priority 10, line 13) has `conditions` and `action`.
func withRule(conditions: String = "[{pathPattern: [/x]}]", action: String = "{forward: echo-tg}") -> String {
    prefix + """
        listeners:
          - port: 0
            defaultAction: {forward: echo-tg}
            rules:
              - priority: 10
                conditions: \(conditions)
                action: \(action)
        """
}

struct InvalidConfigurationTests {
    static let cases: [BadConfiguration] = [
        .init(
            name: "unknown root key with suggestion", yaml: prefix + "listners: []\n", line: 9, keyPath: "listners",
            message: "unknown key \"listners\"; did you mean \"listeners\"?"
        ),
        .init(
            name: "unknown key without close match", yaml: prefix + "colour: blue\n", line: 9, keyPath: "colour",
            message:
                "unknown key \"colour\"; allowed keys: dataDirectory, region, accountId, randomSeed, environments, "
                + "loadBalancer, layers, functions, targetGroups, listeners, logs, admin, tracing, api, async"
        ),
        .init(
            name: "misspelt function key",
            yaml: prefix + "  - {name: two, runtime: provided, handler: h, code: functions/echo, memorysize: 256}\n",
            line: 9, keyPath: "functions[1].memorysize",
            message: "unknown key \"memorysize\"; did you mean \"memorySize\"?"
        ).replacingTargetGroupsPlacement(),
        .init(
            name: "wrong type for a list", yaml: "functions: {name: echo}\n", line: 1, keyPath: "functions",
            message: "expected a list, found a mapping"
        ),
        .init(
            name: "wrong type for an integer",
            yaml: prefix.replacingOccurrences(of: "    code:", with: "    memorySize: big\n    code:"),
            line: 5, keyPath: "functions[0].memorySize", message: "expected an integer, found \"big\""
        ),
        .init(
            name: "memory out of range",
            yaml: prefix.replacingOccurrences(of: "    code:", with: "    memorySize: 64\n    code:"),
            line: 5, keyPath: "functions[0].memorySize", message: "must be between 128 and 10240, got 64"
        ),
        .init(
            name: "timeout out of range",
            yaml: prefix.replacingOccurrences(of: "    code:", with: "    timeout: 901\n    code:"),
            line: 5, keyPath: "functions[0].timeout", message: "must be between 1 and 900, got 901"
        ),
        .init(
            name: "boolean expected", yaml: prefix + "    multiValueHeaders: yes please\n", line: 9,
            keyPath: "targetGroups[0].multiValueHeaders", message: "expected true or false, found \"yes please\""
        ),
        .init(
            name: "bad function name", yaml: prefix.replacingOccurrences(of: "name: echo", with: "name: my.function"),
            line: 2, keyPath: "functions[0].name",
            message: "function name may contain only letters, digits, hyphens (-) and underscores (_)"
        ),
        .init(
            name: "duplicate function",
            yaml: """
                functions:
                  - {name: echo, runtime: provided, handler: h, code: functions/echo}
                  - {name: echo, runtime: provided, handler: h, code: functions/echo}
                """,
            line: 3, keyPath: "functions[1].name", message: "function \"echo\" is already defined at line 2"
        ),
        .init(
            name: "unsupported runtime", yaml: prefix.replacingOccurrences(of: "provided.al2023", with: "nodejs20.x"),
            line: 3, keyPath: "functions[0].runtime",
            message: "runtime \"nodejs20.x\" is not supported; supported runtimes: provided, provided.al2, "
                + "provided.al2023, python3.9, python3.10, python3.11, python3.12, python3.13, python3.14"
        ),
        .init(
            name: "runtime typo", yaml: prefix.replacingOccurrences(of: "provided.al2023", with: "python3.21"),
            line: 3, keyPath: "functions[0].runtime",
            message: "runtime \"python3.21\" is not supported; supported runtimes: provided, provided.al2, "
                + "provided.al2023, python3.9, python3.10, python3.11, python3.12, python3.13, python3.14; "
                + "did you mean python3.11?"
        ),
        .init(
            name: "missing handler", yaml: prefix.replacingOccurrences(of: "    handler: function.handler\n", with: ""),
            line: 2, keyPath: "functions[0]", message: "missing required key \"handler\""
        ),
        .init(
            name: "missing bootstrap",
            yaml: prefix.replacingOccurrences(of: "./functions/echo", with: "./functions/empty"),
            line: 5, keyPath: "functions[0].code",
            message: "code directory /BASE/functions/empty has no bootstrap file; provided.al2023 functions need an "
                + "executable /BASE/functions/empty/bootstrap"
        ),
        .init(
            name: "bootstrap not executable",
            yaml: prefix.replacingOccurrences(of: "./functions/echo", with: "functions/plain"),
            line: 5, keyPath: "functions[0].code",
            message: "/BASE/functions/plain/bootstrap is not executable (chmod +x it)"
        ),
        .init(
            name: "code does not exist", yaml: prefix.replacingOccurrences(of: "./functions/echo", with: "../gone"),
            line: 5, keyPath: "functions[0].code", message: "code path /PARENT/gone does not exist"
        ),
        .init(
            name: "code is neither directory nor zip",
            yaml: prefix.replacingOccurrences(of: "./functions/echo", with: "functions/notes.txt"),
            line: 5, keyPath: "functions[0].code",
            message: "code must be a directory or a .zip file, got the file /BASE/functions/notes.txt"
        ),
        .init(
            name: "pythonInterpreter on a provided runtime",
            yaml: prefix.replacingOccurrences(of: "    code:", with: "    pythonInterpreter: python3\n    code:"),
            line: 5, keyPath: "functions[0].pythonInterpreter",
            message: "pythonInterpreter applies only to python runtimes, not to provided.al2023"
        ),
        .init(
            name: "reserved environment variable",
            yaml: prefix.replacingOccurrences(
                of: "    code:", with: "    environment: {OK: 1, AWS_REGION: x}\n    code:"),
            line: 5, keyPath: "functions[0].environment.AWS_REGION",
            message: "AWS_REGION is a reserved environment variable set by the platform"
        ),
        .init(
            name: "bad environment variable name",
            yaml: prefix.replacingOccurrences(of: "    code:", with: "    environment:\n      1ST: x\n    code:"),
            line: 6, keyPath: "functions[0].environment.1ST",
            message: "environment variable names must start with a letter, got \"1ST\""
        ),
        .init(
            name: "environment value is a list",
            yaml: prefix.replacingOccurrences(of: "    code:", with: "    environment:\n      A: [1, 2]\n    code:"),
            line: 6, keyPath: "functions[0].environment.A",
            message: "environment variable values must be strings, found a list"
        ),
        .init(
            name: "environment too large",
            yaml: prefix.replacingOccurrences(
                of: "    code:",
                with:
                    "    environment:\n      A: \(String(repeating: "a", count: 3000))\n      B: "
                    + "\(String(repeating: "b", count: 1100))\n    code:"
            ),
            line: 6, keyPath: "functions[0].environment",
            message: "environment variables total 4102 bytes; the limit is 4096 bytes (4 KB)"
        ),
        .init(
            name: "bad target group name", yaml: prefix.replacingOccurrences(of: "name: echo-tg", with: "name: -tg"),
            line: 7, keyPath: "targetGroups[0].name",
            message: "target group name must not begin or end with a hyphen"
        ),
        .init(
            name: "dangling function reference",
            yaml: prefix.replacingOccurrences(of: "function: echo", with: "function: ecko"),
            line: 8, keyPath: "targetGroups[0].function",
            message: "function \"ecko\" is not defined; did you mean \"echo\"?"
        ),
        .init(
            name: "dangling function reference far from any name",
            yaml: prefix.replacingOccurrences(of: "function: echo", with: "function: billing"),
            line: 8, keyPath: "targetGroups[0].function", message: "function \"billing\" is not defined (defined: echo)"
        ),
        .init(
            name: "bad qualifier", yaml: prefix.replacingOccurrences(of: "function: echo", with: "function: echo:v1.2"),
            line: 8, keyPath: "targetGroups[0].function",
            message:
                "qualifier \"v1.2\" must be $LATEST, a version number, or an alias name of letters, digits, '-' and '_'"
        ),
        .init(
            name: "dangling target group reference",
            yaml: withRule(action: "{forward: echo-gt}"), line: 15, keyPath: "listeners[0].rules[0].action.forward",
            message: "target group \"echo-gt\" is not defined; did you mean \"echo-tg\"?"
        ),
        .init(
            name: "accountId not 12 digits", yaml: "accountId: 12345\n", line: 1, keyPath: "accountId",
            message: "accountId must be exactly 12 digits, got \"12345\"; quote it in YAML"
        ),
        .init(
            name: "bad region", yaml: "region: Mars\n", line: 1, keyPath: "region",
            message: "\"Mars\" is not a Region name such as us-east-1"
        ),
        .init(
            name: "environments out of range", yaml: "environments: {idleTimeoutSeconds: 0}\n", line: 1,
            keyPath: "environments.idleTimeoutSeconds", message: "must be between 1 and 86400, got 0"
        ),
        .init(
            name: "attribute typo",
            yaml: "loadBalancer:\n  attributes:\n    routing.http.xff_header_processing.mod: append\n", line: 3,
            keyPath: "loadBalancer.attributes.routing.http.xff_header_processing.mod",
            message:
                "unknown key \"routing.http.xff_header_processing.mod\"; did you mean "
                + "\"routing.http.xff_header_processing.mode\"?"
        ),
        .init(
            name: "attribute value",
            yaml: "loadBalancer:\n  attributes:\n    routing.http.xff_header_processing.mode: apend\n", line: 3,
            keyPath: "loadBalancer.attributes.routing.http.xff_header_processing.mode",
            message: "\"apend\" is not one of append, preserve, remove; did you mean append?"
        ),
        .init(
            name: "idle timeout attribute range",
            yaml: "loadBalancer: {attributes: {idle_timeout.timeout_seconds: 4001}}\n",
            line: 1, keyPath: "loadBalancer.attributes.idle_timeout.timeout_seconds",
            message: "must be between 1 and 4000, got 4001"
        ),
        .init(
            name: "request header timeout range",
            yaml: "loadBalancer: {attributes: {albatross.request_header_timeout_seconds: 0}}\n",
            line: 1, keyPath: "loadBalancer.attributes.albatross.request_header_timeout_seconds",
            message: "must be between 1 and 4000, got 0"
        ),
        .init(
            name: "connection bound range",
            yaml: "loadBalancer: {attributes: {albatross.max_connections_per_listener: 0}}\n",
            line: 1, keyPath: "loadBalancer.attributes.albatross.max_connections_per_listener",
            message: "must be between 1 and 1000000, got 0"
        ),
        .init(
            name: "port out of range",
            yaml: prefix + "listeners:\n  - {port: 65536, defaultAction: {forward: echo-tg}}\n",
            line: 10, keyPath: "listeners[0].port", message: "must be between 0 and 65535, got 65536"
        ),
        .init(
            name: "port used twice",
            yaml: prefix + """
                listeners:
                  - {port: 8080, defaultAction: {forward: echo-tg}}
                  - {port: 8081, defaultAction: {forward: echo-tg}}
                  - {port: 8080, defaultAction: {forward: echo-tg}}
                """,
            line: 12, keyPath: "listeners[2].port", message: "port 8080 on 127.0.0.1 is already used by listeners[0]"
        ),
        .init(
            name: "bad bind address",
            yaml: prefix + "listeners:\n  - {port: 1, bindAddress: localhost, defaultAction: {forward: echo-tg}}\n",
            line: 10, keyPath: "listeners[0].bindAddress",
            message: "bindAddress must be an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got \"localhost\""
        ),
        .init(
            name: "HTTPS without certificates",
            yaml: prefix + "listeners:\n  - port: 0\n    protocol: HTTPS\n    defaultAction: {forward: echo-tg}\n",
            line: 10, keyPath: "listeners[0]", message: "missing required key \"certificates\""
        ),
        .init(
            name: "certificates on HTTP",
            yaml: prefix + "listeners:\n  - port: 0\n    certificates: []\n    defaultAction: {forward: echo-tg}\n",
            line: 11, keyPath: "listeners[0].certificates", message: "certificates applies only to HTTPS listeners"
        ),
        .init(
            name: "certificate file missing",
            yaml: prefix
                + "listeners:\n  - port: 0\n    protocol: HTTPS\n    certificates: [{certificate: "
                + "certs/nope.pem, privateKey: certs/local-key.pem}]\n    defaultAction: {forward: echo-tg}\n",
            line: 12, keyPath: "listeners[0].certificates[0].certificate",
            message: "file /BASE/certs/nope.pem does not exist"
        ),
        .init(
            name: "unknown SSL policy",
            yaml: prefix
                + "listeners:\n  - port: 0\n    protocol: HTTPS\n    certificates: [{certificate: "
                + "certs/local.pem, privateKey: certs/local-key.pem}]\n    sslPolicy: "
                + "ELBSecurityPolicy-TLS13-1-2-2021-07\n    defaultAction: {forward: echo-tg}\n",
            line: 13, keyPath: "listeners[0].sslPolicy",
            message: "\"ELBSecurityPolicy-TLS13-1-2-2021-07\" is not one of ELBSecurityPolicy-TLS13-1-2-2021-06, "
                + "ELBSecurityPolicy-TLS13-1-3-2021-06, ELBSecurityPolicy-TLS13-1-2-Res-2021-06, "
                + "ELBSecurityPolicy-2016-08; did you mean ELBSecurityPolicy-TLS13-1-2-2021-06?"
        ),
        .init(
            name: "protocol spelt in lower case",
            yaml: prefix + "listeners:\n  - {port: 0, protocol: http, defaultAction: {forward: echo-tg}}\n",
            line: 10, keyPath: "listeners[0].protocol",
            message: "\"http\" is not one of HTTP, HTTPS; did you mean HTTP?"
        ),
        .init(
            name: "path pattern too long",
            yaml: withRule(conditions: "[{pathPattern: [/ok, /\(String(repeating: "a", count: 128))]}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions[0].pathPattern[1]",
            message: "path pattern must be at most 128 characters, got 129"
        ),
        .init(
            name: "host header with underscore", yaml: withRule(conditions: "[{hostHeader: [my_host.example.com]}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions[0].hostHeader[0]",
            message: "host-header pattern \"my_host.example.com\" contains '_'; allowed are letters, digits, '-', '.', "
                + "and the wildcards '*' and '?'"
        ),
        .init(
            name: "header condition on Host", yaml: withRule(conditions: "[{httpHeader: {name: host, values: [a]}}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions[0].httpHeader.name",
            message: "HTTP header name must not be Host; use a hostHeader condition instead"
        ),
        .init(
            name: "query value too long",
            yaml: withRule(conditions: "[{queryString: [{key: k, value: \(String(repeating: "v", count: 129))}]}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions[0].queryString[0].value",
            message: "query-string value must be at most 128 characters, got 129"
        ),
        .init(
            name: "bad CIDR", yaml: withRule(conditions: "[{sourceIp: [10.0.0.0/8, 10.0.0.300/32]}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions[0].sourceIp[1]",
            message: "\"10.0.0.300/32\" is not a CIDR block such as 192.0.2.0/24 or 2001:db8::/32"
        ),
        .init(
            name: "condition with two kinds", yaml: withRule(conditions: "[{pathPattern: [/a], hostHeader: [a.com]}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions[0]",
            message: "a condition has exactly one of pathPattern, hostHeader, httpRequestMethod, httpHeader, "
                + "queryString, sourceIp; write several conditions to combine them"
        ),
        .init(
            name: "unknown condition kind", yaml: withRule(conditions: "[{pathpattern: [/a]}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions[0].pathpattern",
            message: "unknown key \"pathpattern\"; did you mean \"pathPattern\"?"
        ),
        .init(
            name: "two path-pattern conditions",
            yaml: withRule(conditions: "[{pathPattern: [/a]}, {pathPattern: [/b]}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions[1]",
            message:
                "a rule may have only one path-pattern condition (conditions[0] is one already); list several "
                + "values in it instead"
        ),
        .init(
            name: "too many condition values",
            yaml: withRule(conditions: "[{pathPattern: [/a, /b, /c]}, {httpRequestMethod: [GET, HEAD, POST]}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions",
            message: "a rule may have at most 5 condition values in total, this one has 6"
        ),
        .init(
            name: "too many wildcards", yaml: withRule(conditions: "[{pathPattern: [\"/*/*/*\", \"/?/?/?\"]}]"),
            line: 14, keyPath: "listeners[0].rules[0].conditions",
            message: "a rule may use at most 5 wildcards in total, this one uses 6"
        ),
        .init(
            name: "no conditions", yaml: withRule(conditions: "[]"), line: 14,
            keyPath: "listeners[0].rules[0].conditions",
            message: "a rule needs at least one condition; use defaultAction for a catch-all"
        ),
        .init(
            name: "priority out of range",
            yaml: withRule().replacingOccurrences(of: "priority: 10", with: "priority: 50001"),
            line: 13, keyPath: "listeners[0].rules[0].priority",
            message: "priority must be between 1 and 50000, got 50001"
        ),
        .init(
            name: "duplicate priority",
            yaml: withRule() + "\n      - {priority: 20, conditions: [{pathPattern: [/y]}], action: {forward: echo-tg}}"
                + "\n      - {priority: 10, conditions: [{pathPattern: [/z]}], action: {forward: echo-tg}}",
            line: 17, keyPath: "listeners[0].rules[2].priority",
            message: "priority 10 is already used by rules[0]; priorities must be unique per listener"
        ),
        .init(
            name: "action with two kinds",
            yaml: withRule(action: "{forward: echo-tg, fixedResponse: {statusCode: 200}}"),
            line: 15, keyPath: "listeners[0].rules[0].action",
            message: "an action needs exactly one of forward, fixedResponse or redirect"
        ),
        .init(
            name: "empty action", yaml: withRule(action: "{}"), line: 15, keyPath: "listeners[0].rules[0].action",
            message: "an action needs exactly one of forward, fixedResponse or redirect"
        ),
        .init(
            name: "weight required with several groups",
            yaml: withRule(action: "{forward: {targetGroups: [{name: echo-tg, weight: 1}, {name: echo-tg}]}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.forward.targetGroups[1]",
            message: "weight is required when a forward action names more than one target group"
        ),
        .init(
            name: "weight out of range",
            yaml: withRule(action: "{forward: {targetGroups: [{name: echo-tg, weight: 1000}]}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.forward.targetGroups[0].weight",
            message: "must be between 0 and 999, got 1000"
        ),
        .init(
            name: "same group twice",
            yaml: withRule(
                action: "{forward: {targetGroups: [{name: echo-tg, weight: 1}, {name: echo-tg, weight: 2}]}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.forward.targetGroups[1].name",
            message: "target group \"echo-tg\" appears more than once in this forward action"
        ),
        .init(
            name: "stickiness out of range",
            yaml: withRule(
                action: "{forward: {targetGroups: [{name: echo-tg}], stickiness: {durationSeconds: 604801}}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.forward.stickiness.durationSeconds",
            message: "must be between 1 and 604800, got 604801"
        ),
        .init(
            name: "fixed response status", yaml: withRule(action: "{fixedResponse: {statusCode: 302}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.fixedResponse.statusCode",
            message: "statusCode must be a 2XX, 4XX or 5XX code, got 302"
        ),
        .init(
            name: "fixed response content type",
            yaml: withRule(action: "{fixedResponse: {statusCode: 200, contentType: text/xml}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.fixedResponse.contentType",
            message: "contentType \"text/xml\" is not supported; use one of text/plain, text/css, text/html, "
                + "application/javascript, application/json"
        ),
        .init(
            name: "fixed response body too long",
            yaml: withRule(
                action: "{fixedResponse: {statusCode: 200, messageBody: \(String(repeating: "b", count: 1025))}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.fixedResponse.messageBody",
            message: "messageBody must be at most 1024 characters, got 1025"
        ),
        .init(
            name: "redirect loop",
            yaml: withRule(
                action: "{redirect: {host: \"#{host}\", path: \"/#{path}\", query: \"x=1\", statusCode: HTTP_301}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.redirect",
            message: "a redirect must change at least one of protocol, host, port or path, or it would loop"
        ),
        .init(
            name: "redirect status", yaml: withRule(action: "{redirect: {path: /new, statusCode: HTTP_307}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.redirect.statusCode",
            message: "statusCode must be HTTP_301 or HTTP_302, got \"HTTP_307\""
        ),
        .init(
            name: "redirect without status", yaml: withRule(action: "{redirect: {path: /new}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.redirect", message: "missing required key \"statusCode\""
        ),
        .init(
            name: "HTTPS to HTTP redirect",
            yaml: prefix
                + "listeners:\n  - port: 0\n    protocol: HTTPS\n    certificates: [{certificate: "
                + "certs/local.pem, privateKey: certs/local-key.pem}]\n    defaultAction: {redirect: {protocol: "
                + "HTTP, statusCode: 301}}\n",
            line: 13, keyPath: "listeners[0].defaultAction.redirect.protocol",
            message: "a redirect from an HTTPS listener to HTTP is not allowed"
        ),
        .init(
            name: "placeholder in the wrong component",
            yaml: withRule(action: "{redirect: {port: \"#{host}\", statusCode: 301}}"),
            line: 15, keyPath: "listeners[0].rules[0].action.redirect.port",
            message: "placeholder #{host} is not allowed in port; allowed: #{port}"
        ),
        .init(
            name: "missing default action", yaml: prefix + "listeners:\n  - port: 0\n", line: 10,
            keyPath: "listeners[0]",
            message: "missing required key \"defaultAction\""
        ),
        .init(
            name: "admin address not an IP", yaml: prefix + "admin:\n  address: localhost\n", line: 10,
            keyPath: "admin.address",
            message: "address must be an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got \"localhost\""
        ),
        .init(
            name: "admin port out of range", yaml: prefix + "admin:\n  port: 70000\n", line: 10, keyPath: "admin.port",
            message: "must be between 0 and 65535, got 70000"
        ),
        .init(
            name: "unknown admin key", yaml: prefix + "admin:\n  metricsPath: /m\n", line: 10,
            keyPath: "admin.metricsPath",
            message: "unknown key \"metricsPath\"; allowed keys: address, port"
        ),
        .init(
            name: "api auth not a choice", yaml: prefix + "api:\n  auth: iam\n", line: 10, keyPath: "api.auth",
            message: "\"iam\" is not one of none, sigv4"
        ),
        .init(
            name: "api sigv4 without credentials", yaml: prefix + "api:\n  auth: sigv4\n", line: 10, keyPath: "api",
            message: "api.auth is sigv4 but api.credentials lists no access key; add one or use auth: none"
        ),
        .init(
            name: "api certificates without HTTPS",
            yaml: prefix + "api:\n  certificates:\n    - {certificate: c.pem, privateKey: k.pem}\n", line: 11,
            keyPath: "api.certificates", message: "certificates and sslPolicy need protocol: HTTPS"
        ),
        .init(
            name: "api HTTPS without certificates", yaml: prefix + "api:\n  protocol: HTTPS\n", line: 10,
            keyPath: "api", message: "missing required key \"certificates\""
        ),
        .init(
            name: "api credential without secret", yaml: prefix + "api:\n  credentials:\n    - {accessKeyId: AK}\n",
            line: 11, keyPath: "api.credentials[0]", message: "missing required key \"secretAccessKey\""
        ),
        .init(
            name: "invalid YAML", yaml: "functions: [\n", line: 2, keyPath: "",
            message: "invalid YAML: did not find expected node content"
        ),
        .init(
            name: "duplicate YAML key", yaml: "region: us-east-1\nregion: eu-west-1\n", line: 1, keyPath: "",
            message: "duplicate key \"region\" in one mapping"
        ),
        .init(
            name: "empty document", yaml: "# nothing\n", line: nil, keyPath: "", message: "the configuration is empty"),
        .init(
            name: "document is a list", yaml: "- a\n", line: 1, keyPath: "", message: "expected a mapping, found a list"
        ),
    ]

    @Test(arguments: cases)
    func refused(_ example: BadConfiguration) throws {
        try TemporaryDirectory.with { directory in
            let base = directory.path + "/conf"
            try directory.makeFunctionCode(under: "conf/")
            let parent = directory.path
            do throws(ConfigurationError) {
                _ = try ConfigurationLoader.parse(yaml: example.yaml, file: "bad.yaml", baseDirectory: base)
                Issue.record("accepted a bad configuration")
            } catch {
                let message = example.message
                    .replacingOccurrences(of: "/BASE", with: base).replacingOccurrences(of: "/PARENT", with: parent)
                #expect(error.keyPath == example.keyPath)
                #expect(error.message == message)
                #expect(error.line == example.line)
                #expect(error.file == "bad.yaml")
            }
        }
    }
}

extension BadConfiguration {
    /// The "misspelt function key" case appends a second function after the target groups in `prefix`;
    /// rebuild its YAML so that the second function sits in the functions list (line 6).
    func replacingTargetGroupsPlacement() -> BadConfiguration {
        var copy = self
        copy.yaml = """
            functions:
              - name: echo
                runtime: provided.al2023
                handler: function.handler
                code: ./functions/echo
              - {name: two, runtime: provided, handler: h, code: functions/echo, memorysize: 256}
            """
        copy.line = 6
        return copy
    }
}
