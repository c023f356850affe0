import AlbatrossTLS
import AlbatrossTestKit
import Foundation
import Testing

/// HTTPS listeners through the whole ALB path, with real clients: curl, openssl s_client and Python's ssl.
@Suite(.serialized)
struct HTTPSListenerTests {
    struct Setup {
        var dir: TemporaryDirectory
        var server: ServerHarness
        var caPath: String
        var port: Int { server.port }
    }

    static func start(
        tlsHeaders: Bool = false, policy: String = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    ) async throws
        -> Setup
    {
        let dir = try TemporaryDirectory()
        let authority = try CertificateAuthority.openOrCreate(in: dir.url("certs"))
        let issued = try authority.issue(hostNames: ["localhost", "127.0.0.1"])
        let echo = "\(PackagePaths.root)/config/functions/echo"
        let yaml = """
            dataDirectory: ./data
            loadBalancer:
              attributes:
                routing.http.x_amzn_tls_version_and_cipher_suite.enabled: \(tlsHeaders)
            functions:
              - {name: echo, runtime: provided.al2023, handler: echo.handler, code: \(echo)}
            targetGroups:
              - {name: echo-tg, function: echo}
            listeners:
              - port: 0
                protocol: HTTPS
                sslPolicy: \(policy)
                certificates:
                  - {certificate: \(issued.certificatePath), privateKey: \(issued.privateKeyPath)}
                defaultAction: {forward: echo-tg}
            """
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        return Setup(dir: dir, server: server, caPath: authority.certificatePath)
    }

    /// Runs a command, returns (status, stdout, stderr); killed after `timeout` seconds.
    static func run(_ arguments: [String], input: String? = nil, timeout: Double = 20) throws -> (Int32, String, String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        let inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, stdout, stderr)
    }

    @Test func curlTrustsTheListenerWithTheLocalAuthorityOverTLS13And12() async throws {
        let setup = try await Self.start()
        defer { setup.dir.remove() }
        let url = "https://localhost:\(setup.port)/hello?x=1"
        let tls13 = try Self.run(["curl", "-sS", "--cacert", setup.caPath, "--tlsv1.3", url])
        let tls12 = try Self.run(["curl", "-sS", "--cacert", setup.caPath, "--tls-max", "1.2", url])
        let untrusted = try Self.run(["curl", "-sS", url])
        await setup.server.shutdown()
        #expect(tls13.0 == 0, "\(tls13.2)")
        #expect(tls12.0 == 0, "\(tls12.2)")
        #expect(untrusted.0 != 0, "without the CA the certificate is not trusted")
        let event = try JSONSerialization.jsonObject(with: Data(tls13.1.utf8)) as? [String: Any]
        let headers = event?["headers"] as? [String: String] ?? [:]
        #expect(headers["x-forwarded-proto"] == "https")
        #expect(headers["x-forwarded-port"] == String(setup.port))
        #expect(headers["x-amzn-tls-version"] == nil, "off by default")
        #expect(event?["path"] as? String == "/hello")
    }

    @Test func tlsVersionAndCipherHeadersWhenTheAttributeIsOn() async throws {
        let setup = try await Self.start(tlsHeaders: true)
        defer { setup.dir.remove() }
        let url = "https://localhost:\(setup.port)/"
        let tls13 = try Self.run(["curl", "-sS", "--cacert", setup.caPath, url])
        let tls12 = try Self.run(["curl", "-sS", "--cacert", setup.caPath, "--tls-max", "1.2", url])
        await setup.server.shutdown()
        let h13 =
            (try JSONSerialization.jsonObject(with: Data(tls13.1.utf8)) as? [String: Any])?["headers"]
            as? [String: String]
        let h12 =
            (try JSONSerialization.jsonObject(with: Data(tls12.1.utf8)) as? [String: Any])?["headers"]
            as? [String: String]
        #expect(h13?["x-amzn-tls-version"] == "TLSv1.3")
        #expect(h13?["x-amzn-tls-cipher-suite"]?.hasPrefix("TLS_") == true)
        #expect(h12?["x-amzn-tls-version"] == "TLSv1.2")
        #expect(h12?["x-amzn-tls-cipher-suite"]?.hasPrefix("ECDHE-") == true, "OpenSSL naming")
    }

    @Test func opensslClientSeesPolicyAndALPNAndOldProtocolsAreRefused() async throws {
        let setup = try await Self.start()
        defer { setup.dir.remove() }
        let target = "127.0.0.1:\(setup.port)"
        let ok = try Self.run(
            [
                "openssl", "s_client", "-connect", target, "-servername", "localhost", "-alpn", "http/1.1",
                "-CAfile", setup.caPath,
            ], input: "")
        let tls11 = try Self.run(
            ["openssl", "s_client", "-connect", target, "-tls1_1", "-CAfile", setup.caPath, "-brief"], input: "")
        // The listener still answers after the refused handshake.
        let after = try Self.run([
            "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", setup.caPath,
            "https://localhost:\(setup.port)/",
        ])
        await setup.server.shutdown()
        let okText = ok.1 + ok.2
        #expect(okText.contains("New, TLSv1.3"), "\(okText)")
        #expect(okText.contains("ALPN protocol: http/1.1"), "\(okText)")
        #expect(okText.contains("Verify return code: 0 (ok)"), "\(okText)")
        #expect(tls11.0 != 0)
        #expect(after.1 == "200")
    }

    @Test func pythonKeepAliveAndPipelinedRequestsThroughTLS() async throws {
        let setup = try await Self.start()
        defer { setup.dir.remove() }
        let script = """
            import socket, ssl, sys
            context = ssl.create_default_context(cafile=sys.argv[1])
            with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    request = b"GET /one HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\nGET /two HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n"
                    tls.sendall(request)
                    data = b""
                    while data.count(b"HTTP/1.1 200") < 2 or not data.rstrip().endswith(b"}"):
                        chunk = tls.recv(65536)
                        if not chunk: break
                        data += chunk
                    first, second = data.find(b'"path":"/one"'), data.find(b'"path":"/two"')
                    print("pipelined-ok" if 0 <= first < second else "pipelined-bad", tls.version())
                    tls.sendall(b"GET /three HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
                    rest = b""
                    while True:
                        chunk = tls.recv(65536)
                        if not chunk: break
                        rest += chunk
                    print("keepalive-ok" if b'"path":"/three"' in rest else "keepalive-bad")
            """
        let result = try Self.run(["python3", "-c", script, setup.caPath, String(setup.port)])
        await setup.server.shutdown()
        #expect(result.1.contains("pipelined-ok TLSv1.3"), "\(result.1) \(result.2)")
        #expect(result.1.contains("keepalive-ok"), "\(result.1) \(result.2)")
    }

    @Test func plainHTTPOnTheHTTPSPortIsClosedWithoutHarm() async throws {
        let setup = try await Self.start()
        defer { setup.dir.remove() }
        let client = try RawHTTPClient(port: setup.port, timeout: 5)
        try client.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let closed = client.isClosedByPeer()
        let after = try Self.run([
            "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", setup.caPath,
            "https://localhost:\(setup.port)/",
        ])
        await setup.server.shutdown()
        #expect(closed)
        #expect(after.1 == "200")
    }
}
