import AlbatrossTestKit
import Foundation
import Testing

/// `albatross cert` run as a process: the files it writes, that curl and openssl trust what it issues (served by
/// a TLS server that is not Albatross), and clear errors with exit statuses for bad arguments.
@Suite(.serialized)
struct CertCommandTests {
    /// Runs a tool from `PATH` (openssl, curl) to completion.
    static func tool(_ arguments: [String]) async throws -> AlbatrossCommand.Result {
        try await AlbatrossCommand.run(executable: "/usr/bin/env", arguments, timeout: 30)
    }

    static func mode(_ path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return -1 }
        return Int(info.st_mode) & 0o777
    }

    @Test func createsAnAuthorityOnceAndLeavesThatCurlAndOpenSSLTrust() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certs = dir.url("state/certs")
        let first = try await AlbatrossCommand.run(["cert", "--dir", certs])
        #expect(first.status == 0 && first.stderr == "", "\(first)")
        #expect(
            first.lines == [
                "certificate authority: \(certs)/ca.pem",
                "certificate:           \(certs)/localhost.pem",
                "private key:           \(certs)/localhost-key.pem",
                "names:                 localhost, 127.0.0.1, ::1",
                "trust it with:         curl --cacert \(certs)/ca.pem https://...",
            ], "\(first)")
        #expect(Self.mode(certs) == 0o700, "the directory holding the CA key is private")
        #expect(Self.mode("\(certs)/ca-key.pem") == 0o600)
        #expect(Self.mode("\(certs)/localhost-key.pem") == 0o600)
        #expect(Self.mode("\(certs)/ca.pem") == 0o644 && Self.mode("\(certs)/localhost.pem") == 0o644)

        let verified = try await Self.tool([
            "openssl", "verify", "-CAfile", "\(certs)/ca.pem", "\(certs)/localhost.pem",
        ])
        #expect(verified.status == 0 && verified.stdout == "\(certs)/localhost.pem: OK\n", "\(verified)")
        let names = try await Self.tool([
            "openssl", "x509", "-in", "\(certs)/localhost.pem", "-noout", "-ext", "subjectAltName",
        ])
        #expect(names.stdout.contains("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"), "\(names)")
        let leaf = try await Self.tool(["openssl", "x509", "-in", "\(certs)/localhost.pem", "-noout", "-text"])
        #expect(leaf.stdout.contains("id-ecPublicKey") && leaf.stdout.contains("TLS Web Server Authentication"))
        #expect(leaf.stdout.contains("CA:FALSE"), "\(leaf)")

        // A second run reuses the authority: an RSA leaf for other names, its own file name and validity.
        let authority = try String(contentsOfFile: "\(certs)/ca.pem", encoding: .utf8)
        let second = try await AlbatrossCommand.run(
            [
                "cert", "--dir", certs, "--host", "a.test", "--host", "*.b.test", "--host", "10.0.0.1", "--name",
                "custom", "--rsa", "--days", "30",
            ])
        #expect(second.status == 0, "\(second)")
        #expect(second.lines[1] == "certificate:           \(certs)/custom.pem", "\(second)")
        #expect(second.lines[3] == "names:                 a.test, *.b.test, 10.0.0.1", "\(second)")
        #expect(try String(contentsOfFile: "\(certs)/ca.pem", encoding: .utf8) == authority, "the CA is reused")
        let rsa = try await Self.tool(["openssl", "x509", "-in", "\(certs)/custom.pem", "-noout", "-text"])
        #expect(rsa.stdout.contains("rsaEncryption") && rsa.stdout.contains("Subject: CN = a.test"), "\(rsa)")
        #expect(rsa.stdout.contains("DNS:a.test, DNS:*.b.test, IP Address:10.0.0.1"), "\(rsa)")
        let days29 = try await Self.tool([
            "openssl", "x509", "-in", "\(certs)/custom.pem", "-noout", "-checkend", "2505600",
        ])
        let days31 = try await Self.tool([
            "openssl", "x509", "-in", "\(certs)/custom.pem", "-noout", "-checkend", "2678400",
        ])
        #expect(days29.status == 0 && days31.status == 1, "valid for 30 days: \(days29) \(days31)")
        #expect(
            try await Self.tool(["openssl", "verify", "-CAfile", "\(certs)/ca.pem", "\(certs)/custom.pem"]).status == 0)

        // curl trusts the leaf through ca.pem when a TLS server that is not Albatross presents it.
        let script = """
            import http.server, ssl, sys
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[1], sys.argv[2])
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    self.send_header("Content-Length", "7")
                    self.end_headers()
                    self.wfile.write(b"trusted")
                def log_message(self, *args):
                    pass
            server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            print("port", server.server_address[1], flush=True)
            server.serve_forever()
            """
        let server = try BackgroundProcess(
            "python3", ["-c", script, "\(certs)/localhost.pem", "\(certs)/localhost-key.pem"])
        defer { server.cleanUp() }
        #expect(await server.waitForOutput("\n"), "\(server.output)")
        let port = try #require(server.output.firstMatch(of: #/port (\d+)/#).map { String($0.1) }, "\(server.output)")
        for host in ["localhost", "127.0.0.1"] {
            let trusted = try await Self.tool([
                "curl", "-sS", "--cacert", "\(certs)/ca.pem", "https://\(host):\(port)/",
            ])
            #expect(trusted.status == 0 && trusted.stdout == "trusted", "\(host): \(trusted)")
        }
        let untrusted = try await Self.tool(["curl", "-sS", "https://localhost:\(port)/"])
        #expect(untrusted.status == 60, "without ca.pem curl refuses the certificate: \(untrusted)")
        let wrongName = try await Self.tool([
            "curl", "-sS", "--cacert", "\(certs)/ca.pem", "--resolve", "other.test:\(port):127.0.0.1",
            "https://other.test:\(port)/",
        ])
        #expect(wrongName.status == 60, "a name the certificate does not carry is refused: \(wrongName)")
    }

    @Test func badArgumentsAreClearErrorsWithAStatus() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certs = dir.url("certs")
        func expectFailure(
            _ arguments: [String], status: Int32, _ message: String, sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            let result = try await AlbatrossCommand.run(["cert", "--dir", certs] + arguments)
            #expect(result.status == status && result.exited, "\(result)", sourceLocation: sourceLocation)
            #expect(result.stdout == "", "\(result)", sourceLocation: sourceLocation)
            #expect(result.stderr.hasPrefix(message), "\(result)", sourceLocation: sourceLocation)
        }
        try await expectFailure(
            ["--host", "bad host!"], status: 1,
            "albatross: invalid TLS configuration: 'bad host!' is neither a host name nor an IP address\n")
        try await expectFailure(
            ["--host", ""], status: 1,
            "albatross: invalid TLS configuration: '' is neither a host name nor an IP address\n")
        try await expectFailure(
            ["--days", "0", "--name", "zero"], status: 1,
            "albatross: invalid TLS configuration: a certificate must be valid for at least 1 day, got 0 "
                + "(it would be expired at once)\n")
        try await expectFailure(
            ["--days=-3", "--name", "negative"], status: 1,
            "albatross: invalid TLS configuration: a certificate must be valid for at least 1 day, got -3")
        #expect(!FileManager.default.fileExists(atPath: "\(certs)/zero.pem"), "no expired certificate was written")
        #expect(!FileManager.default.fileExists(atPath: "\(certs)/negative.pem"))
        try await expectFailure(
            ["--days", "many"], status: 64, "Error: The value 'many' is invalid for '--days <days>'\n")
        try await expectFailure(["--colour"], status: 64, "Error: Unknown option '--colour'\n")
        let file = try dir.write("plain-file", "x")
        let result = try await AlbatrossCommand.run(["cert", "--dir", "\(file)/certs"])
        #expect(result.status == 1 && result.stdout == "", "\(result)")
        #expect(result.stderr == "albatross: cannot write \(file)/certs: Not a directory\n", "\(result)")
    }
}
