import AlbatrossTestKit
import Foundation
import Observability
import Testing

/// The ALB's `LambdaAccessDenied`, opt-in with `albatross.lambda_permissions.enforced`: a real server whose target
/// groups invoke their function only while its resource policy (as each group names it) allows
/// `elasticloadbalancing.amazonaws.com` for that group's ARN, driven by real boto3 and the AWS CLI
/// (Tests/Python/resource_policy_test.py), which also checks that policy changes renew the RevisionId and that
/// stale RevisionIds get PreconditionFailedException. The access log shows the error reason of every denial, and
/// the function never ran for one.
@Suite(.serialized)
struct ResourcePolicyEnforcementTests {
    @Test func loadBalancerInvokesOnlyWhatTheResourcePolicyAllows() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "web",
            handler: #"echo invoked >> "$MARKS"; printf '{"statusCode":200,"body":"web"}'"#)
        let yaml = """
            dataDirectory: ./data
            api: {port: 0}
            loadBalancer:
              attributes:
                albatross.lambda_permissions.enforced: true
                access_logs.s3.enabled: true
                access_logs.s3.bucket: ./alb-logs
            functions:
              - name: web
                runtime: provided.al2023
                handler: h
                code: ./web
                environment: {MARKS: '\(dir.url("invocations"))'}
                versions:
                  - {version: 1}
                aliases:
                  - {name: live, version: "1"}
            targetGroups:
              - {name: web-tg, function: web}
              - {name: live-tg, function: "web:live"}
            listeners:
              - port: 0
                rules:
                  - {priority: 1, conditions: [{pathPattern: ["/live"]}], action: {forward: live-tg}}
                defaultAction: {forward: web-tg}
            """
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
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
                "TMPDIR": dir.path,
            ], timeout: 240)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("Ran 5 tests"), "\(result)")
        #expect(result.stderr.contains("\nOK"), "\(result)")

        let writer = try #require(server.application.accessLogs)
        await writer.flushed()
        let lines = try writer.files.flatMap { try ALBAccessLogWriter.readLines(of: $0) }
        let denied = lines.filter { $0.contains(#""LambdaAccessDenied""#) }
        // 7 denials (2 + 2 + 1 + 2 in the script's order) and 4 answers from the function.
        #expect(denied.count == 7, "\(lines.joined(separator: "\n"))")
        #expect(denied.allSatisfy { accessLogFields($0)[8] == "502" }, "\(denied)")
        #expect(lines.filter { accessLogFields($0)[8] == "200" }.count == 4, "\(lines.joined(separator: "\n"))")
        // The function ran for the 4 allowed requests and the API's own Invoke, never for a denied request.
        let marks = (try? String(contentsOfFile: dir.url("invocations"), encoding: .utf8)) ?? ""
        #expect(marks.split(separator: "\n").count == 5, "\(marks)")
        await server.shutdown()
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
