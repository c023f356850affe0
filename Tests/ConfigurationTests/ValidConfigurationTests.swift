import AlbatrossTestKit
import Configuration
import Foundation
import LambdaModel
import Routing
import Testing

struct ValidConfigurationTests {
    static let fullYAML = """
        dataDirectory: state/data
        region: eu-west-3
        accountId: "000000000042"
        environments:
          idleTimeoutSeconds: 120
          shutdownGraceSeconds: 0
          pythonInterpreter: ./venv/bin/python
        loadBalancer:
          attributes:
            routing.http.xff_header_processing.mode: preserve
            routing.http.xff_client_port.enabled: true
            routing.http.preserve_host_header.enabled: "true"
            routing.http.drop_invalid_header_fields.enabled: true
            routing.http.x_amzn_tls_version_and_cipher_suite.enabled: true
            idle_timeout.timeout_seconds: "4000"
            albatross.multi_value_header_order: shuffle
            albatross.request_header_timeout_seconds: 3
            albatross.max_connections_per_listener: "200"
            albatross.lambda_permissions.enforced: false
        functions:
          - name: echo
            runtime: provided.al2023
            handler: function.handler
            code: ./functions/echo
            memorySize: 10240
            timeout: 900
            maximumConcurrency: 1000
            environment:
              GREETING: hello
              COUNT: 3
              ENABLED: true
          - name: py
            runtime: python3.12
            handler: app.handler
            code: functions/hello-python
            pythonInterpreter: ../elsewhere/bin/python3
          - name: zipped
            runtime: provided
            handler: x
            code: functions/bundle.zip
        targetGroups:
          - name: echo-tg
            function: echo
          - name: py-live
            function: py:live
            multiValueHeaders: true
          - name: py-v3
            function: py:3
          - name: zip-latest
            function: zipped:$LATEST
        listeners:
          - port: 0
            defaultAction: {forward: echo-tg}
            rules:
              - priority: 50000
                conditions:
                  - sourceIp: [127.0.0.0/8, "::1/128"]
                action:
                  fixedResponse: {statusCode: 503}
              - priority: 7
                conditions:
                  - pathPattern: ["/api/*"]
                  - hostHeader: ["*.example.com"]
                  - httpRequestMethod: [GET, HEAD]
                  - httpHeader: {name: x-env, values: [beta]}
                action:
                  forward:
                    targetGroups: [{name: py-live, weight: 90}, {name: py-v3, weight: 10}]
                    stickiness: {durationSeconds: 3600}
              - priority: 8
                conditions:
                  - queryString: [{key: version, value: v2}, {value: "*"}]
                  - queryString: [{key: "\\\\*", value: x}]
                action:
                  redirect: {host: "new.#{host}", path: "/v2/#{path}", query: "#{query}&from=#{port}", statusCode: 302}
          - port: 8443
            bindAddress: "::1"
            protocol: HTTPS
            certificates:
              - {certificate: certs/local.pem, privateKey: certs/local-key.pem}
              - {certificate: /ABS/certs/other.pem, privateKey: certs/other-key.pem}
            sslPolicy: ELBSecurityPolicy-2016-08
            defaultAction:
              redirect: {protocol: HTTPS, port: 443, path: "/#{path}", statusCode: HTTP_301}
            rules:
              - priority: 1
                conditions: [{pathPattern: [/x]}]
                action:
                  fixedResponse: {statusCode: "404", contentType: application/json, messageBody: '{"a":1}'}
          - port: 0
            protocol: HTTPS
            certificates: [{certificate: certs/local.pem, privateKey: certs/local-key.pem}]
            defaultAction: {forward: {targetGroups: [{name: zip-latest}]}}
        """

    @Test func fullConfigurationParsesIntoExpectedValues() throws {
        try TemporaryDirectory.with { directory in
            try directory.makeFunctionCode(under: "conf/")
            let base = directory.path + "/conf"
            let yaml = Self.fullYAML.replacingOccurrences(of: "/ABS", with: base)
            let configuration = try ConfigurationLoader.parse(yaml: yaml, file: "full.yaml", baseDirectory: base)

            let account = AccountContext(region: "eu-west-3", accountID: "000000000042")
            var expected = AlbatrossConfiguration(dataDirectory: base + "/state/data", account: account)
            expected.environments.idleTimeoutSeconds = 120
            expected.environments.shutdownGraceSeconds = 0
            expected.environments.defaultPythonInterpreter = base + "/venv/bin/python"
            var attributes = LoadBalancerAttributes()
            attributes.xffMode = .preserve
            attributes.xffClientPort = true
            attributes.preserveHostHeader = true
            attributes.dropInvalidHeaderFields = true
            attributes.tlsVersionAndCipherSuiteHeaders = true
            attributes.idleTimeoutSeconds = 4000
            attributes.multiValueHeaderOrder = .shuffle
            attributes.requestHeaderTimeoutSeconds = 3
            attributes.maximumConnectionsPerListener = 200
            attributes.lambdaPermissionsEnforced = false
            expected.loadBalancerAttributes = attributes
            expected.functions = [
                FunctionConfiguration(
                    name: "echo", runtime: Runtime(identifier: "provided.al2023")!, handler: "function.handler",
                    code: .directory(base + "/functions/echo"), memorySize: 10240, timeout: 900,
                    environment: [
                        EnvironmentVariable(name: "GREETING", value: "hello"),
                        EnvironmentVariable(name: "COUNT", value: "3"),
                        EnvironmentVariable(name: "ENABLED", value: "true"),
                    ],
                    maximumConcurrency: 1000
                ),
                FunctionConfiguration(
                    name: "py",
                    runtime: Runtime(
                        identifier: "python3.12", pythonInterpreter: directory.path + "/elsewhere/bin/python3")!,
                    handler: "app.handler", code: .directory(base + "/functions/hello-python")
                ),
                FunctionConfiguration(
                    name: "zipped", runtime: Runtime(identifier: "provided")!, handler: "x",
                    code: .zip(base + "/functions/bundle.zip")
                ),
            ]
            expected.targetGroups = [
                TargetGroup(name: "echo-tg", arn: account.targetGroupARN("echo-tg"), functionName: "echo"),
                TargetGroup(
                    name: "py-live", arn: account.targetGroupARN("py-live"), functionName: "py", qualifier: "live",
                    multiValueHeaders: true
                ),
                TargetGroup(name: "py-v3", arn: account.targetGroupARN("py-v3"), functionName: "py", qualifier: "3"),
                TargetGroup(
                    name: "zip-latest", arn: account.targetGroupARN("zip-latest"), functionName: "zipped",
                    qualifier: "$LATEST"
                ),
            ]
            expected.listeners = [
                ListenerConfiguration(
                    port: 0,
                    rules: [
                        ListenerRule(
                            priority: 50000, conditions: [.sourceIP(["127.0.0.0/8", "::1/128"])],
                            action: .fixedResponse(FixedResponseAction(statusCode: 503))
                        ),
                        ListenerRule(
                            priority: 7,
                            conditions: [
                                .pathPattern(["/api/*"]), .hostHeader(["*.example.com"]),
                                .httpRequestMethod(["GET", "HEAD"]), .httpHeader(name: "x-env", values: ["beta"]),
                            ],
                            action: .forward(
                                ForwardAction(
                                    targetGroups: [
                                        .init(targetGroupName: "py-live", weight: 90),
                                        .init(targetGroupName: "py-v3", weight: 10),
                                    ],
                                    stickinessDurationSeconds: 3600
                                )
                            )
                        ),
                        ListenerRule(
                            priority: 8,
                            conditions: [
                                .queryString([.init(key: "version", value: "v2"), .init(key: nil, value: "*")]),
                                .queryString([.init(key: "\\*", value: "x")]),
                            ],
                            action: .redirect(
                                RedirectAction(
                                    host: "new.#{host}", path: "/v2/#{path}", query: "#{query}&from=#{port}",
                                    statusCode: 302
                                )
                            )
                        ),
                    ],
                    defaultAction: .forward(ForwardAction(targetGroupName: "echo-tg"))
                ),
                ListenerConfiguration(
                    port: 8443, bindAddress: "::1", protocol: .https,
                    tls: ListenerTLSSettings(
                        defaultCertificate: .init(
                            certificateChainPath: base + "/certs/local.pem",
                            privateKeyPath: base + "/certs/local-key.pem"
                        ),
                        certificates: [
                            .init(
                                certificateChainPath: base + "/certs/other.pem",
                                privateKeyPath: base + "/certs/other-key.pem"
                            )
                        ],
                        securityPolicy: "ELBSecurityPolicy-2016-08"
                    ),
                    rules: [
                        ListenerRule(
                            priority: 1, conditions: [.pathPattern(["/x"])],
                            action: .fixedResponse(
                                FixedResponseAction(
                                    statusCode: 404, contentType: "application/json", messageBody: #"{"a":1}"#)
                            )
                        )
                    ],
                    defaultAction: .redirect(
                        RedirectAction(protocol: "HTTPS", port: "443", path: "/#{path}", statusCode: 301))
                ),
                ListenerConfiguration(
                    port: 0, protocol: .https,
                    tls: ListenerTLSSettings(
                        defaultCertificate: .init(
                            certificateChainPath: base + "/certs/local.pem",
                            privateKeyPath: base + "/certs/local-key.pem"
                        ),
                        securityPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06"
                    ),
                    defaultAction: .forward(
                        ForwardAction(targetGroups: [.init(targetGroupName: "zip-latest", weight: 1)]))
                ),
            ]
            #expect(configuration.dataDirectory == expected.dataDirectory)
            #expect(configuration.account == expected.account)
            #expect(configuration.environments == expected.environments)
            #expect(configuration.loadBalancerAttributes == expected.loadBalancerAttributes)
            #expect(configuration.functions == expected.functions)
            #expect(configuration.targetGroups == expected.targetGroups)
            for (got, want) in zip(configuration.listeners, expected.listeners) { #expect(got == want) }
            expected.file = "full.yaml"
            #expect(configuration == expected)
        }
    }

    @Test func defaultsApplyWhenKeysAreOmitted() throws {
        try TemporaryDirectory.with { directory in
            try directory.makeFunctionCode()
            let yaml = """
                functions:
                  - {name: f, runtime: python3.13, handler: app.handler, code: functions/hello-python}
                """
            let configuration = try ConfigurationLoader.parse(
                yaml: yaml, file: "min.yaml", baseDirectory: directory.path)
            #expect(configuration.dataDirectory == directory.path + "/data")
            #expect(configuration.account == AccountContext())
            #expect(configuration.environments == EnvironmentSettings())
            #expect(configuration.loadBalancerAttributes == LoadBalancerAttributes())
            // As on AWS, the load balancer needs the function's permission (each YAML group gets a statement).
            #expect(configuration.loadBalancerAttributes.lambdaPermissionsEnforced)
            #expect(configuration.admin == nil, "no admin listener without an admin section")
            let function = try #require(configuration.functions.first)
            #expect(function.memorySize == 128)
            #expect(function.timeout == 3)
            #expect(function.maximumConcurrency == 10)
            #expect(function.environment.isEmpty)
            #expect(function.runtime.pythonInterpreter == nil)
            #expect(configuration.targetGroups.isEmpty && configuration.listeners.isEmpty)
        }
    }

    @Test func adminSectionGivesTheMetricsListenerItsAddress() throws {
        try TemporaryDirectory.with { directory in
            let empty = try ConfigurationLoader.parse(
                yaml: "admin: {}\n", file: "a.yaml", baseDirectory: directory.path)
            #expect(empty.admin == AdminSettings(address: "127.0.0.1", port: 9464))
            let set = try ConfigurationLoader.parse(
                yaml: "admin:\n  address: \"::1\"\n  port: 0\n", file: "a.yaml", baseDirectory: directory.path)
            #expect(set.admin == AdminSettings(address: "::1", port: 0))
        }
    }

    @Test func apiSectionGivesTheControlAPIItsAddressAndCredentials() throws {
        try TemporaryDirectory.with { directory in
            let none = try ConfigurationLoader.parse(
                yaml: "region: eu-west-1\n", file: "a.yaml", baseDirectory: directory.path)
            #expect(none.api == nil, "no API listener without an api section")
            let empty = try ConfigurationLoader.parse(yaml: "api: {}\n", file: "a.yaml", baseDirectory: directory.path)
            #expect(empty.api == APISettings(address: "127.0.0.1", port: 9001, auth: .none))
            let yaml = """
                accountId: "111122223333"
                api:
                  port: 0
                  auth: sigv4
                  credentials:
                    - {accessKeyId: AKID1, secretAccessKey: s1}
                    - {accessKeyId: ASIA2, secretAccessKey: s2, sessionToken: t2, accountId: "444455556666"}
                """
            let set = try #require(
                try ConfigurationLoader.parse(yaml: yaml, file: "a.yaml", baseDirectory: directory.path).api)
            #expect(set.port == 0 && set.auth == .sigv4)
            #expect(
                set.credentials == [
                    .init(accessKeyId: "AKID1", secretAccessKey: "s1", accountId: "111122223333"),
                    .init(accessKeyId: "ASIA2", secretAccessKey: "s2", sessionToken: "t2", accountId: "444455556666"),
                ])
        }
    }

    @Test func aliasesStandForTheAnchoredNode() throws {
        try TemporaryDirectory.with { directory in
            try directory.makeFunctionCode()
            let yaml = """
                functions:
                  - {name: a, runtime: provided, handler: h, code: functions/echo, environment: &shared {STAGE: dev}}
                  - {name: b, runtime: provided, handler: h, code: functions/echo, environment: *shared}
                """
            let configuration = try ConfigurationLoader.parse(yaml: yaml, file: "a.yaml", baseDirectory: directory.path)
            let stage = [EnvironmentVariable(name: "STAGE", value: "dev")]
            #expect(configuration.functions.map(\.environment) == [stage, stage])
        }
    }

    /// The shipped example, copied next to function directories created for the test.
    @Test func exampleConfigurationLoads() throws {
        let example = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/example.yaml")
        let text = try String(contentsOf: example, encoding: .utf8)
        try TemporaryDirectory.with { directory in
            try directory.makeFunctionCode(under: "config/")
            // The loader only checks that certificate files exist; `albatross cert` makes real ones.
            try directory.write("config/certs/localhost.pem", "certificate")
            try directory.write("config/certs/localhost-key.pem", "key")
            let path = try directory.write("config/example.yaml", text)
            let configuration = try ConfigurationLoader.load(path: path)
            #expect(configuration.functions.map(\.name) == ["echo", "hello-python"])
            #expect(configuration.functions[1].runtime.pythonInterpreter == directory.path + "/.venv/bin/python")
            #expect(configuration.functions[0].code == .directory(directory.path + "/config/functions/echo"))
            #expect(configuration.targetGroups.map(\.multiValueHeaders) == [false, true])
            let listener = try #require(configuration.listeners.first)
            #expect(listener.port == 8080 && listener.bindAddress == "127.0.0.1" && listener.protocol == .http)
            #expect(configuration.listeners.map(\.port) == [8080, 8443, 8081])
            #expect(configuration.listeners[1].protocol == .https)
            let redirectListener = ListenerRouter(configuration.listeners[2])
            guard case .redirect(let toHTTPS) = redirectListener.defaultAction else {
                Issue.record("expected the HTTP → HTTPS redirect")
                return
            }
            #expect(
                redirectListener.renderRedirect(
                    toHTTPS, protocol: .http, host: "localhost", port: 8081, path: "/a/b", query: "q=1"
                ).location == "https://localhost:8443/a/b?q=1")

            // The rules route as the comments say.
            let router = ListenerRouter(listener)
            func route(_ method: String, _ path: String) -> RuleAction {
                router.route(
                    RequestFacts(method: method, rawPath: path, host: "localhost:8080", sourceAddress: "127.0.0.1"))
            }
            #expect(
                route("GET", "/healthz")
                    == .fixedResponse(.init(statusCode: 200, contentType: "text/plain", messageBody: "ok")))
            #expect(route("GET", "/python") == .forward(.init(targetGroupName: "hello-python-tg")))
            #expect(route("POST", "/python/items") == .forward(.init(targetGroupName: "hello-python-tg")))
            #expect(route("GET", "/anything") == .forward(.init(targetGroupName: "echo-tg")))
            guard case .redirect(let redirect) = route("GET", "/old-echo") else {
                Issue.record("expected a redirect")
                return
            }
            let rendered = router.renderRedirect(
                redirect, protocol: .http, host: "localhost", port: 8080, path: "/old-echo", query: "a=1")
            #expect(rendered.status == 302)
            #expect(rendered.location == "http://localhost:8080/echo?a=1")
        }
    }

    @Test func loadReportsAMissingFile() {
        #expect(
            throws: ConfigurationError(
                file: "/nonexistent/albatross.yaml", line: nil, keyPath: "",
                message: "cannot read the configuration file: no such file"
            )
        ) {
            try ConfigurationLoader.load(path: "/nonexistent/albatross.yaml")
        }
    }

    @Test func descriptionNamesFileLineKeyPathAndProblem() {
        let error = ConfigurationError(
            file: "config/example.yaml", line: 14, keyPath: "listeners[0].rules[1].conditions[0].pathPattern[0]",
            message: "path pattern must be at most 128 characters, got 130"
        )
        #expect(
            error.description
                == "config/example.yaml:14: listeners[0].rules[1].conditions[0].pathPattern[0]: path pattern "
                + "must be at most 128 characters, got 130"
        )
        #expect(ConfigurationError(file: "a.yaml", line: nil, keyPath: "", message: "m").description == "a.yaml: m")
    }
}
