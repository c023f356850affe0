import AlbatrossTLS
import Foundation
import NIOCore
import Testing

extension AlbatrossTLSTests {
    /// Real clients (curl, openssl s_client, Python's ssl module) against a NIOPosix listener on 127.0.0.1.
    @Suite struct RealSockets {
        let fixture: TLSFixture
        let server: TestTLSServer

        init() throws {
            fixture = try TLSFixture()
            let fallback = try fixture.issue(["default.test", "127.0.0.1"])
            let named = try fixture.issue(["a.test", "b.test"])
            let context = try TLSServerContext(configuration: .with(fallback.files, [named.files]))
            server = try TestTLSServer(context: context)
        }

        private func curl(_ extra: [String], host: String = "a.test") throws -> ProcessResult {
            try runProcess(
                [
                    "curl", "-sS", "--max-time", "10", "--cacert", fixture.caPath,
                    "--resolve", "\(host):\(server.port):127.0.0.1", "https://\(host):\(server.port)/hello",
                ] + extra
            )
        }

        private func sClient(_ extra: [String]) throws -> ProcessResult {
            try runProcess(
                ["openssl", "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", fixture.caPath] + extra,
                stdin: ""
            )
        }

        @Test func curlWithTLS13AndForcedTLS12() throws {
            defer { server.stop() }
            let modern = try curl(["--tlsv1.3"])
            #expect(modern.status == 0, "\(modern.output)")
            #expect(modern.stdout == "ok TLSv1.3 TLS_AES_128_GCM_SHA256 sni=a.test alpn=http/1.1 path=/hello\n")
            let older = try curl(["--tls-max", "1.2", "--http1.1"])
            #expect(older.status == 0, "\(older.output)")
            #expect(older.stdout.hasPrefix("ok TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 sni=a.test"), "\(older.stdout)")
            // The IP address SAN of the default certificate.
            let byAddress = try runProcess(
                ["curl", "-sS", "--max-time", "10", "--cacert", fixture.caPath, "https://127.0.0.1:\(server.port)/ip"]
            )
            #expect(byAddress.stdout.contains("sni=- alpn=http/1.1 path=/ip"), "\(byAddress.output)")
        }

        @Test func opensslSClient() throws {
            defer { server.stop() }
            let old = try sClient(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-servername", "a.test"])
            #expect(old.status != 0)
            #expect(
                old.output.contains("protocol version") || old.output.contains("unsupported protocol"),
                "\(old.output)")

            let named = try sClient(["-servername", "b.test", "-verify_return_error"])
            #expect(named.status == 0, "\(named.output)")
            #expect(named.stdout.contains("subject=CN = a.test"), "\(named.stdout)")
            #expect(named.stdout.contains("Verify return code: 0 (ok)"))

            let anonymous = try sClient(["-noservername"])
            #expect(anonymous.stdout.contains("subject=CN = default.test"), "\(anonymous.stdout)")

            let alpn = try sClient(["-servername", "a.test", "-alpn", "http/1.1"])
            #expect(alpn.stdout.contains("ALPN protocol: http/1.1"), "\(alpn.stdout)")
            let noALPN = try sClient(["-servername", "a.test", "-alpn", "h2"])
            #expect(noALPN.stdout.contains("No ALPN negotiated"), "\(noALPN.stdout)")

            // Resumption across processes with a TLS 1.2 ticket (sent inside the handshake, before s_client exits).
            let sessionFile = fixture.directory + "/session.pem"
            let full = try sClient(["-servername", "a.test", "-tls1_2", "-sess_out", sessionFile])
            #expect(full.stdout.contains("New, TLSv1.2"), "\(full.stdout)")
            let resumed = try sClient(["-servername", "a.test", "-tls1_2", "-sess_in", sessionFile])
            #expect(resumed.stdout.contains("Reused, TLSv1.2"), "\(resumed.stdout)")
        }

        @Test func pythonSSLModuleWithKeepAliveAndPipelining() throws {
            defer { server.stop() }
            let script = """
                import socket, ssl, sys
                ctx = ssl.create_default_context(cafile=sys.argv[1])
                raw = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
                s = ctx.wrap_socket(raw, server_hostname="a.test")
                s.sendall(b"GET /one HTTP/1.1\\r\\nHost: a.test\\r\\n\\r\\n")
                first = s.recv(4096).decode()
                two = b"GET /two HTTP/1.1\\r\\nHost: a.test\\r\\n\\r\\n"
                s.sendall(two + two.replace(b"/two", b"/three"))  # pipelined
                rest = b""
                while rest.count(b"HTTP/1.1 200") < 2:
                    chunk = s.recv(4096)
                    if not chunk: break
                    rest += chunk
                text = rest.decode()
                print(s.version(), first.count("path=/one"), text.count("path=/two"), text.count("path=/three"))
                s.unwrap()
                raw.close()
                """
            let result = try runProcess(["python3", "-c", script, fixture.caPath, "\(server.port)"])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout == "TLSv1.3 1 1 1\n", "\(result.output)")
        }
    }
}
