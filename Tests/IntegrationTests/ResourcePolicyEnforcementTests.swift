import AlbatrossTestKit
import Foundation
import Observability
import Testing

/// The ALB's `LambdaAccessDenied`, on by default: a real server whose target groups invoke their function only while
/// its resource policy (as each group names it) allows `elasticloadbalancing.amazonaws.com` for that group's ARN.
/// Each YAML group starts with a real statement of its own (as SAM adds an `AWS::Lambda::Permission`), which real
/// boto3 and the AWS CLI read, remove and replace (Tests/Python/resource_policy_test.py, which also checks that policy
/// changes renew the RevisionId and that stale RevisionIds get PreconditionFailedException). The access log shows
/// the error reason of every denial, and the function never ran for one. Then a restart with a group gone: its
/// statement goes with it, and the statements removed by hand stay removed.
@Suite(.serialized)
struct ResourcePolicyEnforcementTests {
    static func yaml(invocations: String, withV1Group: Bool) -> String {
        """
        dataDirectory: ./data
        api: {port: 0}
        loadBalancer:
          attributes:
            access_logs.s3.enabled: true
            access_logs.s3.bucket: ./alb-logs
        functions:
          - name: web
            runtime: provided.al2023
            handler: h
            code: ./web
            environment: {MARKS: '\(invocations)'}
            versions:
              - {version: 1}
            aliases:
              - {name: live, version: "1"}
        targetGroups:
          - {name: web-tg, function: web}
          - {name: live-tg, function: "web:live"}
        \(withV1Group ? "  - {name: v1-tg, function: \"web:1\"}" : "")
        listeners:
          - port: 0
            rules:
              - {priority: 1, conditions: [{pathPattern: ["/live"]}], action: {forward: live-tg}}
        \(withV1Group ? "      - {priority: 2, conditions: [{pathPattern: [\"/v1\"]}], action: {forward: v1-tg}}" : "")
            defaultAction: {forward: web-tg}
        """
    }

    @Test func loadBalancerInvokesOnlyWhatTheResourcePolicyAllows() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "web",
            handler: #"echo invoked >> "$MARKS"; printf '{"statusCode":200,"body":"web"}'"#)
        let server = try await ServerHarness(
            yaml: Self.yaml(invocations: dir.url("invocations"), withV1Group: true), baseDirectory: dir.path)
        defer { Task { await server.shutdown() } }
        #expect(server.configuration.loadBalancerAttributes.lambdaPermissionsEnforced)
        var apiPort: Int?
        _ = await eventually(seconds: 30) {
            apiPort = server.application.api?.port
            return apiPort != nil
        }
        let port = try #require(apiPort)
        let groups = Dictionary(uniqueKeysWithValues: server.configuration.targetGroups.map { ($0.name, $0.arn) })
        let result = try await AlbatrossCommand.run(
            executable: PackagePaths.venvPython, ["\(PackagePaths.root)/Tests/Python/resource_policy_test.py"],
            environment: [
                "ALBATROSS_API_ENDPOINT": "http://127.0.0.1:\(port)",
                "ALBATROSS_ALB": "http://127.0.0.1:\(server.port)",
                "ALBATROSS_WEB_TG": try #require(groups["web-tg"]),
                "ALBATROSS_LIVE_TG": try #require(groups["live-tg"]),
                "ALBATROSS_V1_TG": try #require(groups["v1-tg"]),
                "TMPDIR": dir.path,
            ], timeout: 240)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("Ran 6 tests"), "\(result)")
        #expect(result.stderr.contains("\nOK"), "\(result)")

        let writer = try #require(server.application.accessLogs)
        await writer.flushed()
        let lines = try writer.files.flatMap { try ALBAccessLogWriter.readLines(of: $0) }
        let denied = lines.filter { $0.contains(#""LambdaAccessDenied""#) }
        // 8 denials (3 + 1 + 2 + 2 in the script's order) and 9 answers from the function.
        #expect(denied.count == 8, "\(lines.joined(separator: "\n"))")
        #expect(denied.allSatisfy { accessLogFields($0)[8] == "502" }, "\(denied)")
        #expect(lines.filter { accessLogFields($0)[8] == "200" }.count == 9, "\(lines.joined(separator: "\n"))")
        // The function ran for the 9 allowed requests and the API's own Invoke, never for a denied request.
        let marks = (try? String(contentsOfFile: dir.url("invocations"), encoding: .utf8)) ?? ""
        #expect(marks.split(separator: "\n").count == 10, "\(marks)")
        await server.shutdown()

        // A restart without v1-tg: its statement leaves web:1's policy (the one added by hand stays); the YAML
        // statements the script removed from web and web:live are not put back.
        let restarted = try await ServerHarness(
            yaml: Self.yaml(invocations: dir.url("invocations"), withV1Group: false), baseDirectory: dir.path)
        defer { Task { await restarted.shutdown() } }
        func sids(_ qualifier: String?) throws -> [String] {
            try restarted.registry.policy(functionName: "web", qualifier: qualifier)?.statements.map(\.sid) ?? []
        }
        #expect(try sids("1") == ["v1"])
        #expect(try sids(nil) == ["other-tg", "with-revision"])
        #expect(try sids("live") == ["wrong-tg"])
        let port2 = restarted.port
        let statuses = try await offPool {
            // /v1 is no rule now: the default action (web-tg), denied like /.
            try ["/", "/live", "/v1"].map { try RawHTTPClient(port: port2).request("GET", $0).status }
        }
        #expect(statuses == [502, 502, 502])
        await restarted.shutdown()
    }

    /// Identity policies per credential and cross-account callers (Tests/Python/identity_policy_test.py): a
    /// credential's policy limits it, a resource policy can add to it within the account, another account needs
    /// both, an explicit Deny wins, and denials are AWS's 403 AccessDeniedException naming principal, action and
    /// resource.
    @Test func identityPoliciesAndCrossAccountCallersWithSigV4() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "web", handler: #"printf '{"statusCode":200,"body":"web"}'"#)
        func credential(
            _ key: String, account: String? = nil, principal: String? = nil, policy: String? = nil
        )
            -> String
        {
            var text = "    - accessKeyId: \(key)\n      secretAccessKey: \(key.lowercased())\n"
            if let account { text += "      accountId: \"\(account)\"\n" }
            if let principal { text += "      principalArn: \(principal)\n" }
            if let policy { text += "      policy: '\(policy)'\n" }
            return text
        }
        let fn = "arn:aws:lambda:*:*:function"
        let allowReads = #"{"Effect":"Allow","Action":["lambda:Get*","lambda:List*"],"Resource":"*"}"#
        let denySecret = #"{"Effect":"Deny","Action":"lambda:GetFunction","Resource":"\#(fn):secret"}"#
        let invokeWeb = #"{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"\#(fn):web"}"#
        let allowAll = #"{"Effect":"Allow","Action":"*","Resource":"*"}"#
        let denyInvoke = #"{"Effect":"Deny","Action":"lambda:InvokeFunction","Resource":"*"}"#
        func document(_ statements: String) -> String { #"{"Version":"2012-10-17","Statement":\#(statements)}"# }
        var yaml = "dataDirectory: ./data\napi:\n  port: 0\n  auth: sigv4\n  credentials:\n"
        yaml += credential("AKIDADMIN")
        yaml += credential("AKIDREADER", policy: document("[\(allowReads),\(denySecret)]"))
        yaml += credential("AKIDINVOKER", policy: document(invokeWeb))
        yaml += credential("AKIDOTHER", account: "111122223333", principal: "arn:aws:iam::111122223333:user/bob")
        yaml += credential("AKIDOTHERDENY", account: "111122223333", policy: document("[\(allowAll),\(denyInvoke)]"))
        yaml += """
            functions:
              - name: web
                runtime: provided.al2023
                handler: h
                code: ./web
                versions:
                  - {version: 1}
                aliases:
                  - {name: live, version: "1"}
              - {name: secret, runtime: provided.al2023, handler: h, code: ./web}

            """
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        defer { Task { await server.shutdown() } }
        let credentials = server.configuration.api?.credentials ?? []
        #expect(credentials.map(\.principal).contains("arn:aws:iam::111122223333:user/bob"))
        #expect(credentials.first { $0.accessKeyId == "AKIDREADER" }?.policy?.contains("lambda:Get*") == true)
        var apiPort: Int?
        _ = await eventually(seconds: 30) {
            apiPort = server.application.api?.port
            return apiPort != nil
        }
        let port = try #require(apiPort)
        let result = try await AlbatrossCommand.run(
            executable: PackagePaths.venvPython, ["\(PackagePaths.root)/Tests/Python/identity_policy_test.py"],
            environment: ["ALBATROSS_API_ENDPOINT": "http://127.0.0.1:\(port)", "TMPDIR": dir.path], timeout: 240)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("Ran 4 tests"), "\(result)")
        #expect(result.stderr.contains("\nOK"), "\(result)")
        await server.shutdown()
    }
}
