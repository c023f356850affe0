import AlbatrossTLS
import AlbatrossTestKit
import Foundation
import Testing

/// The control API end to end: the real server on free ports, driven by real boto3 and the real AWS CLI
/// (Tests/Python/control_api_test.py, in the project venv that scripts/setup.sh makes), with SigV4 required.
@Suite(.serialized)
struct ControlAPIEndToEndTests {
    static let handler = """
        import os

        def handler(event, context):
            if event.get("fail"):
                raise ValueError("asked to fail")
            if "pad" in event:
                return {"size": len(event["pad"])}
            for index in range(event.get("lines", 0)):
                print(f"line {index} of {event['lines']}", flush=True)
            custom = context.client_context.custom if context.client_context else None
            return {
                "event": event, "greeting": os.environ["GREETING"], "version": context.function_version,
                "arn": context.invoked_function_arn, "request_id": context.aws_request_id, "client_context": custom,
            }
        """

    static func yaml(api: String, extraFunctions: Bool) -> String {
        var text = """
            dataDirectory: ./data
            environments:
              pythonInterpreter: \(PackagePaths.venvPython)
            api: \(api)
            functions:
              - name: echo
                runtime: python3.12
                handler: index.handler
                code: ./echo
                timeout: 20
                environment: {GREETING: hello}
                versions:
                  - {version: 1}
                aliases:
                  - {name: live, version: "1"}

            """
        if extraFunctions {
            for name in ["fn-a", "fn-b", "fn-c"] {
                text += "  - {name: \(name), runtime: provided.al2023, handler: h, code: ./bash}\n"
            }
        }
        return text
    }

    static func start(
        in dir: TemporaryDirectory, api: String, extraFunctions: Bool
    ) async throws -> (ServerHarness, Int) {
        _ = try dir.write("echo/index.py", Self.handler)
        try TestFunctions.writeBash(in: dir, name: "bash", handler: "echo '{}'")
        let server = try await ServerHarness(
            yaml: Self.yaml(api: api, extraFunctions: extraFunctions), baseDirectory: dir.path)
        // The listener binds when the services run; sleeping (not usleep) leaves the cooperative threads to them.
        let deadline = Date().addingTimeInterval(30)
        while server.application.api?.port == nil && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        return (server, try #require(server.application.api?.port))
    }

    @Test func boto3AndTheAWSCLIAgainstASigV4Server() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, port) = try await Self.start(
            in: dir,
            api: "{port: 0, auth: sigv4, credentials: [{accessKeyId: AKIDALBATROSS, secretAccessKey: s3cr3t/key}]}",
            extraFunctions: true)
        defer { Task { await server.shutdown() } }
        let result = try await AlbatrossCommand.run(
            executable: PackagePaths.venvPython, ["\(PackagePaths.root)/Tests/Python/control_api_test.py"],
            environment: [
                "ALBATROSS_API_ENDPOINT": "http://127.0.0.1:\(port)", "ALBATROSS_ACCESS_KEY": "AKIDALBATROSS",
                "ALBATROSS_SECRET_KEY": "s3cr3t/key", "TMPDIR": dir.path,
            ], timeout: 240)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("\nOK"), "\(result)")
        await server.shutdown()
    }

    /// The write operations (Tests/Python/control_api_writes_test.py): create → invoke → update code → publish →
    /// weighted alias → 1,000 invokes counted by executed version → update alias → delete, every error path, the
    /// waiters, hostile zips, the seed's own CLI example, and the functions the configuration declares.
    @Test func writeOperationsWithBoto3AndTheAWSCLI() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, port) = try await Self.start(
            in: dir,
            api: "{port: 0, auth: sigv4, credentials: [{accessKeyId: AKIDALBATROSS, secretAccessKey: s3cr3t/key}]}",
            extraFunctions: false)
        defer { Task { await server.shutdown() } }
        let result = try await AlbatrossCommand.run(
            executable: PackagePaths.venvPython, ["\(PackagePaths.root)/Tests/Python/control_api_writes_test.py"],
            environment: [
                "ALBATROSS_API_ENDPOINT": "http://127.0.0.1:\(port)", "ALBATROSS_ACCESS_KEY": "AKIDALBATROSS",
                "ALBATROSS_SECRET_KEY": "s3cr3t/key", "TMPDIR": dir.path,
            ], timeout: 400)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("\nOK"), "\(result)")
        await server.shutdown()
    }

    /// Reserved and provisioned concurrency and layers (Tests/Python/control_api_concurrency_layers_test.py):
    /// reserved 0 → 429 with its Reason, provisioned environments READY and used, layers published with the CLI
    /// and used by ARN, AWS's errors, the configuration's function refused with 409.
    @Test func concurrencyAndLayersWithBoto3AndTheAWSCLI() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, port) = try await Self.start(
            in: dir,
            api: "{port: 0, auth: sigv4, credentials: [{accessKeyId: AKIDALBATROSS, secretAccessKey: s3cr3t/key}]}",
            extraFunctions: false)
        defer { Task { await server.shutdown() } }
        let result = try await AlbatrossCommand.run(
            executable: PackagePaths.venvPython,
            ["\(PackagePaths.root)/Tests/Python/control_api_concurrency_layers_test.py"],
            environment: [
                "ALBATROSS_API_ENDPOINT": "http://127.0.0.1:\(port)", "ALBATROSS_ACCESS_KEY": "AKIDALBATROSS",
                "ALBATROSS_SECRET_KEY": "s3cr3t/key", "TMPDIR": dir.path,
            ], timeout: 300)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("\nOK"), "\(result)")
        await server.shutdown()
    }

    /// `protocol: HTTPS` on the API listener, with the certificates an HTTPS listener takes: boto3 with
    /// `verify=<CA file>` lists, gets (its `Code.Location` is an https link) and invokes; plain HTTP is refused.
    @Test func httpsWithBoto3VerifyingTheCertificate() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certificates = dir.url("certs")
        let authority = try CertificateAuthority.openOrCreate(in: certificates)
        _ = try authority.issue(hostNames: ["localhost", "127.0.0.1"], fileStem: "server")
        let (server, port) = try await Self.start(
            in: dir,
            api: "{port: 0, protocol: HTTPS, certificates: [{certificate: ./certs/server.pem, "
                + "privateKey: ./certs/server-key.pem}]}",
            extraFunctions: false)
        defer { Task { await server.shutdown() } }
        let script = """
            import json, ssl, sys, urllib.request
            import boto3
            from botocore.config import Config
            client = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                                  aws_access_key_id="AKID", aws_secret_access_key="s", verify=sys.argv[2],
                                  config=Config(retries={"max_attempts": 1}))
            names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
            location = client.get_function(FunctionName="echo")["Code"]["Location"]
            context = ssl.create_default_context(cafile=sys.argv[2])
            with urllib.request.urlopen(location, context=context, timeout=10) as download:
                size = len(download.read())
            result = json.loads(client.invoke(FunctionName="echo", Payload=b'{"a": 1}')["Payload"].read())
            print(json.dumps({"names": names, "location": location[:8], "size": size, "event": result["event"]}))
            """
        let scriptPath = try dir.write("https_client.py", script)
        let result = try await AlbatrossCommand.run(
            executable: PackagePaths.venvPython,
            [scriptPath, "https://localhost:\(port)", authority.certificatePath], timeout: 120)
        #expect(result.status == 0, "\(result)")
        let output = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(output["names"] as? [String] == ["echo"], "\(result)")
        #expect(output["location"] as? String == "https://")
        #expect((output["size"] as? Int ?? 0) > 0)
        #expect(output["event"] as? [String: Int] == ["a": 1])
        // Plain HTTP on the HTTPS port gets no API answer.
        let plain = try? RawHTTPClient(port: port, timeout: 5).request("GET", "/2015-03-31/functions")
        #expect(plain?.status != 200)
        await server.shutdown()
    }

    /// Without `auth`, any request is served; the emulator endpoint invokes the only function.
    @Test func emulatorEndpointWithoutAuthentication() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, port) = try await Self.start(in: dir, api: "{port: 0}", extraFunctions: false)
        let client = try RawHTTPClient(port: port, timeout: 30)
        let response = try client.request(
            "POST", "/2015-03-31/functions/function/invocations", body: Array(#"{"a":1}"#.utf8))
        #expect(response.status == 200)
        #expect(response.header("x-amz-executed-version") == "$LATEST")
        #expect(response.header("x-amzn-requestid")?.count == 36)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(body["event"] as? [String: Int] == ["a": 1])
        // The same connection (keep-alive) answers the next request.
        let missing = try client.request("GET", "/2015-03-31/functions/nope")
        #expect(missing.status == 404)
        #expect(missing.header("x-amzn-errortype") == "ResourceNotFoundException")
        // Over the Invoke limit: read and dropped, then AWS's 413, and the connection is closed.
        let large = try RawHTTPClient(port: port, timeout: 30).request(
            "POST", "/2015-03-31/functions/echo/invocations", body: [UInt8](repeating: 0x20, count: 6_291_457))
        #expect(large.status == 413)
        #expect(large.header("x-amzn-errortype") == "RequestEntityTooLargeException")
        #expect(large.header("connection") == "close")
        #expect(large.header("x-amzn-requestid")?.count == 36)
        await server.shutdown()
    }
}
