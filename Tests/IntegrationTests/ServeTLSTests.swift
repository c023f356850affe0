import AlbatrossTLS
import AlbatrossTestKit
import Foundation
import Testing

/// HTTPS through a real `albatross serve`: certificates reloaded on SIGHUP and when their files change, without
/// touching connections already open, and the HTTP → HTTPS redirect followed by curl to the HTTPS listener.
@Suite(.serialized)
struct ServeTLSTests {
    /// A local CA and a certificate for localhost in `certs/server.pem` + `certs/server-key.pem`.
    struct Certificates {
        var authority: CertificateAuthority
        var directory: String
        var certificatePath: String { directory + "/server.pem" }
        var keyPath: String { directory + "/server-key.pem" }
        var caPath: String { authority.certificatePath }

        init(in dir: TemporaryDirectory) throws {
            directory = dir.url("certs")
            authority = try CertificateAuthority.openOrCreate(in: directory)
            try issue()
        }

        /// Issues a new certificate for the same names into the same files (each replaced by a rename).
        func issue() throws {
            _ = try authority.issue(hostNames: ["localhost", "127.0.0.1"], fileStem: "server")
        }

        /// SHA-256 of the certificate in the file now, as lower-case hex.
        func fingerprint() async throws -> String {
            let result = try await AlbatrossCommand.run(
                executable: "/usr/bin/env",
                [
                    "python3", "-c",
                    "import hashlib, ssl, sys; "
                        + "print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())).hexdigest())",
                    certificatePath,
                ])
            guard result.status == 0 else { throw ChildProcessError("\(result)") }
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// A TLS client in Python: connects to `port` trusting `ca`, prints `<label> <sha256 of the server
    /// certificate> <HTTP status>` for a request, and with a sentinel path, waits for that file, then makes a
    /// second request on the same connection and prints its line again.
    static let client = """
        import hashlib, os, socket, ssl, sys, time
        ca, port = sys.argv[1], int(sys.argv[2])
        sentinel = sys.argv[3] if len(sys.argv) > 3 else None
        context = ssl.create_default_context(cafile=ca)
        tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
        def request(label):
            tls.sendall(b"GET /" + label.encode() + b" HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n")
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                chunk = tls.recv(65536)
                if not chunk:
                    raise SystemExit("closed before a response")
                data += chunk
            head, _, body = data.partition(b"\\r\\n\\r\\n")
            lines = head.decode().split("\\r\\n")
            length = int([l.split(":", 1)[1] for l in lines if l.lower().startswith("content-length:")][0])
            while len(body) < length:
                body += tls.recv(65536)
            digest = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
            print(label, digest, lines[0].split(" ")[1], flush=True)
        request("first")
        if sentinel:
            deadline = time.time() + 60
            while not os.path.exists(sentinel) and time.time() < deadline:
                time.sleep(0.02)
            request("again")
        """

    /// One new connection: the fingerprint of the certificate the server presented, and the status it answered.
    static func newConnection(port: Int, ca: String) async throws -> (fingerprint: String, status: String) {
        let result = try await AlbatrossCommand.run(
            executable: "/usr/bin/env", ["python3", "-c", client, ca, String(port)], timeout: 30)
        let fields = result.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard result.status == 0, fields.count == 3, fields[0] == "first" else {
            throw ChildProcessError("TLS client failed: \(result)")
        }
        return (fields[1], fields[2])
    }

    static func httpsConfiguration(_ certificates: Certificates, in dir: TemporaryDirectory) throws -> String {
        try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            listeners:
              - port: 0
                protocol: HTTPS
                certificates:
                  - {certificate: \(certificates.certificatePath), privateKey: \(certificates.keyPath)}
                defaultAction: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: "ok"}}
            """)
    }

    @Test func sighupServesTheNewCertificateAndLeavesALiveConnectionAlone() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certificates = try Certificates(in: dir)
        let old = try await certificates.fingerprint()
        let server = try await ServeProcess.start(configPath: try Self.httpsConfiguration(certificates, in: dir))
        defer { server.cleanUp() }

        // A connection opened before the reload, kept open across it.
        let sentinel = dir.url("go")
        let live = try BackgroundProcess(
            "python3", ["-c", Self.client, certificates.caPath, String(server.port), sentinel])
        defer { live.cleanUp() }
        #expect(await live.waitForOutput("\n"), "\(live.output)")
        #expect(live.output == "first \(old) 200\n", "\(live.output)")

        try certificates.issue()
        let new = try await certificates.fingerprint()
        #expect(new != old)
        server.signal(SIGHUP)
        #expect(
            await server.waitForOutput("albatross: SIGHUP: reloaded the certificates of listener 0"), "\(server.output)"
        )
        let after = try await Self.newConnection(port: server.port, ca: certificates.caPath)
        #expect(after.fingerprint == new && after.status == "200", "new connections get the new certificate")

        // The live connection still works and still has the certificate it started with.
        _ = FileManager.default.createFile(atPath: sentinel, contents: Data())
        let finished = try #require(await live.waitForExit(timeout: 20), "\(live.output)")
        #expect(finished.status == 0, "\(finished.output)")
        #expect(finished.output == "first \(old) 200\nagain \(old) 200\n", "\(finished.output)")

        // A broken file on SIGHUP: the error is reported and the current certificate stays.
        try dir.write("certs/server.pem", "not a certificate\n")
        server.signal(SIGHUP)
        #expect(
            await server.waitForOutput("albatross: SIGHUP: listener 0 keeps its certificates: "), "\(server.output)")
        let kept = try await Self.newConnection(port: server.port, ca: certificates.caPath)
        #expect(kept.fingerprint == new && kept.status == "200")

        let stopped = await server.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }

    /// The control API's HTTPS listener takes part in SIGHUP like the ALB's: after the files are replaced and the
    /// real server gets SIGHUP, a new TLS handshake with the API listener presents the new certificate.
    @Test func sighupReloadsTheControlAPIListenersCertificates() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certificates = try Certificates(in: dir)
        let old = try await certificates.fingerprint()
        let config = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            api:
              port: 0
              protocol: HTTPS
              certificates:
                - {certificate: \(certificates.certificatePath), privateKey: \(certificates.keyPath)}
            listeners:
              - port: 0
                defaultAction: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: "ok"}}
            """)
        let server = try await ServeProcess.start(configPath: config)
        defer { server.cleanUp() }
        #expect(await server.waitForOutput("albatross: control API on https://127.0.0.1:"), "\(server.output)")
        let port = try #require(
            server.output.firstMatch(of: #/control API on https://127\.0\.0\.1:(\d+) /#).map { Int($0.1)! })
        // An unknown path still gets the API's (JSON) answer: what matters is the handshake's certificate.
        let before = try await Self.newConnection(port: port, ca: certificates.caPath)
        #expect(before.fingerprint == old, "\(before)")

        try certificates.issue()
        let new = try await certificates.fingerprint()
        #expect(new != old)
        server.signal(SIGHUP)
        #expect(
            await server.waitForOutput("albatross: SIGHUP: reloaded the certificates of the API listener"),
            "\(server.output)")
        let after = try await Self.newConnection(port: port, ca: certificates.caPath)
        #expect(after.fingerprint == new, "new handshakes with the API listener get the new certificate: \(after)")
        #expect(after.status == before.status)
        // The ALB listener (HTTP here) is untouched, and the server stops cleanly.
        let stopped = await server.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }

    @Test func replacedCertificateFilesAreServedWithinSecondsWithoutASignal() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certificates = try Certificates(in: dir)
        let old = try await certificates.fingerprint()
        let server = try await ServeProcess.start(configPath: try Self.httpsConfiguration(certificates, in: dir))
        defer { server.cleanUp() }
        #expect(try await Self.newConnection(port: server.port, ca: certificates.caPath).fingerprint == old)

        try certificates.issue()
        let new = try await certificates.fingerprint()
        let replaced = Date()
        // The watcher checks every 5 s; 15 s leaves room for a loaded machine.
        let noticed = await server.waitForOutput(
            "albatross: listener 0: certificates changed on disk, reloaded", timeout: 15)
        let seconds = Date().timeIntervalSince(replaced)
        #expect(noticed, "the file watcher noticed the new files: \(server.output)")
        #expect(seconds <= 15)
        let after = try await Self.newConnection(port: server.port, ca: certificates.caPath)
        #expect(after.fingerprint == new && after.status == "200", "reloaded after \(seconds) s")
        #expect(!server.output.contains("SIGHUP"))
        let stopped = await server.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }

    @Test func curlFollowsTheHTTPToHTTPSRedirectToTheHTTPSListener() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certificates = try Certificates(in: dir)
        // The redirect names the HTTPS port, so it is chosen (by the OS) before the server starts.
        let httpsPort = try FreePort.next()
        let echo = "\(PackagePaths.root)/config/functions/echo"
        let config = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            functions:
              - {name: echo, runtime: provided.al2023, handler: echo.handler, code: \(echo)}
            targetGroups:
              - {name: echo-tg, function: echo}
            listeners:
              - port: 0
                defaultAction: {redirect: {protocol: HTTPS, port: "\(httpsPort)", statusCode: HTTP_301}}
              - port: \(httpsPort)
                protocol: HTTPS
                certificates:
                  - {certificate: \(certificates.certificatePath), privateKey: \(certificates.keyPath)}
                defaultAction: {forward: echo-tg}
            """)
        let server = try await ServeProcess.start(configPath: config, listenerCount: 2)
        defer { server.cleanUp() }
        let httpPort = try #require(server.port(scheme: "http"))
        #expect(server.port(scheme: "https") == httpsPort)

        let redirect = try RawHTTPClient(port: httpPort).request(
            "GET", "/a/b?x=1&y=%20", host: "localhost:\(httpPort)")
        #expect(redirect.status == 301)
        #expect(redirect.header("Location") == "https://localhost:\(httpsPort)/a/b?x=1&y=%20")

        let body = dir.url("body.json")
        let followed = try await AlbatrossCommand.run(
            executable: "/usr/bin/env",
            [
                "curl", "-sS", "-L", "--cacert", certificates.caPath, "-o", body, "-w",
                "%{http_code} %{num_redirects} %{url_effective}", "http://localhost:\(httpPort)/a/b?x=1&y=%20",
            ])
        #expect(followed.status == 0, "\(followed)")
        #expect(followed.stdout == "200 1 https://localhost:\(httpsPort)/a/b?x=1&y=%20", "\(followed)")
        let event =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: body))) as? [String: Any]
        #expect(event?["path"] as? String == "/a/b")
        #expect(event?["queryStringParameters"] as? [String: String] == ["x": "1", "y": "%20"])
        let headers = event?["headers"] as? [String: String] ?? [:]
        #expect(headers["x-forwarded-proto"] == "https")
        #expect(headers["x-forwarded-port"] == String(httpsPort))
        #expect(headers["host"] == "localhost:\(httpsPort)")
        let stopped = await server.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }
}
