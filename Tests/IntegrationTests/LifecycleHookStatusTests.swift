import AlbatrossTestKit
import Foundation
import Rollout
import Testing

/// PutLifecycleEventHookExecutionStatus end to end: hook functions written for AWS (Python, boto3's
/// `codedeploy.put_lifecycle_event_hook_execution_status`, no endpoint or client options in the code) run as a
/// rollout's hooks and report through the control API listener; the report, not the return value, decides.
@Suite(.serialized)
struct LifecycleHookStatusTests {
    /// A hook as AWS's docs write one. It first checks that a made-up deployment is refused as CodeDeploy refuses
    /// it, then reports its verdict (VERDICT), and returns the opposite, which must not count.
    static let hook = """
        import os
        import boto3
        from botocore.exceptions import ClientError

        codedeploy = boto3.client("codedeploy")

        def handler(event, context):
            try:
                codedeploy.put_lifecycle_event_hook_execution_status(
                    deploymentId="d-AAAAAAAAA", lifecycleEventHookExecutionId="x", status="Succeeded")
                verdict = "Failed"
            except ClientError as error:
                code = error.response["Error"]["Code"]
                verdict = os.environ["VERDICT"] if code == "DeploymentDoesNotExistException" else "Failed"
            codedeploy.put_lifecycle_event_hook_execution_status(
                deploymentId=event["DeploymentId"],
                lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
                status=verdict)
            return {"status": "Failed" if verdict == "Succeeded" else "Succeeded"}
        """

    /// A port the OS says is free now (the hooks' environment must name the API's address before it starts).
    static func freePort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(socket, generic, length) == 0 && getsockname(socket, generic, &length) == 0
            }
        }
        #expect(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func yaml(apiPort: Int, credentials: String) -> String {
        func hook(_ name: String, _ verdict: String) -> String {
            """
              - name: \(name)
                runtime: python3.12
                handler: index.handler
                code: ./hook
                timeout: 30
                environment:
                  VERDICT: \(verdict)
                  AWS_ENDPOINT_URL_CODEDEPLOY: http://127.0.0.1:\(apiPort)
                  AWS_SHARED_CREDENTIALS_FILE: \(credentials)

            """
        }
        return """
            dataDirectory: ./data
            environments:
              pythonInterpreter: \(PackagePaths.venvPython)
            api: {port: \(apiPort)}
            functions:
              - name: shop
                runtime: provided.al2023
                handler: h
                code: ./good
                versions:
                  - {version: 1, code: ./good}
                  - {version: 2, code: ./good2}
            """ + "\n" + hook("CodeDeployHook_ok", "Succeeded") + hook("CodeDeployHook_no", "Failed")
    }

    @Test func boto3HooksReportThroughTheControlAPIAndTheirReportDecides() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "good", handler: TestFunctions.albResponse(body: "ok"))
        try TestFunctions.writeBash(in: dir, name: "good2", handler: TestFunctions.albResponse(body: "ok 2"))
        _ = try dir.write("hook/index.py", Self.hook)
        // Any key will do with `auth: none`; the file stands for the role credentials AWS gives a function.
        let credentials = try dir.write(
            "credentials", "[default]\naws_access_key_id = AKID\naws_secret_access_key = s\n")
        let port = try Self.freePort()
        let server = try await ServerHarness(
            yaml: Self.yaml(apiPort: port, credentials: credentials), baseDirectory: dir.path)
        let runner = try #require(server.application.rollouts)
        try server.registry.createAlias(functionName: "shop", name: "a", routing: .init(primaryVersion: "1"))
        try server.registry.createAlias(functionName: "shop", name: "b", routing: .init(primaryVersion: "1"))

        let good = try await runner.start(
            RolloutRequest(
                function: "shop", alias: "a", to: "2", config: "LambdaAllAtOnce", preHook: "CodeDeployHook_ok"))
        let bad = try await runner.start(
            RolloutRequest(
                function: "shop", alias: "b", to: "2", config: "LambdaAllAtOnce", preHook: "CodeDeployHook_no"))
        let succeeded = try await RolloutTests.wait(runner, good.id, timeout: 90)
        let failed = try await RolloutTests.wait(runner, bad.id, timeout: 90)

        // A report for a hook that has completed is refused with CodeDeploy's error, in JSON 1.1's shape.
        let client = try RawHTTPClient(port: port)
        let late = try client.request(
            "POST", "/",
            headers: [
                ("X-Amz-Target", "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"),
                ("Content-Type", "application/x-amz-json-1.1"),
            ],
            body: Array(
                #"{"deploymentId":"\#(good.id)","lifecycleEventHookExecutionId":"\#(succeeded.hookExecutionIds["BeforeAllowTraffic"] ?? "")","status":"Failed"}"#
                    .utf8))
        let a = try server.registry.alias(functionName: "shop", name: "a")
        let b = try server.registry.alias(functionName: "shop", name: "b")
        await server.shutdown()

        #expect(succeeded.machine.status == .succeeded, "\(succeeded.json())")
        #expect(succeeded.machine.hooks["BeforeAllowTraffic"] == .succeeded)
        #expect(
            succeeded.machine.history.contains { $0.event.contains("through PutLifecycleEventHookExecutionStatus") },
            "decided by the report although the function returned status Failed")
        #expect(a.routing.primaryVersion == "2")
        #expect(failed.machine.status == .failed && failed.machine.errorCode == "HOOK_EXECUTION_FAILURE")
        #expect(failed.machine.hooks["BeforeAllowTraffic"] == .failed, "\(failed.json())")
        #expect(b.routing.primaryVersion == "1" && b.routing.additionalVersion == nil)
        #expect(late.status == 400, "\(late)")
        #expect(late.header("x-amzn-ErrorType") == "LifecycleEventAlreadyCompletedException")
        #expect(late.text.contains(#""__type":"LifecycleEventAlreadyCompletedException""#), "\(late.text)")
    }
}
