import AlbatrossTestKit
import Foundation
import NIOCore
import Testing

@testable import AlbatrossTLS

extension AlbatrossTLSTests {
    /// Clients that misbehave, on real sockets, while one well-behaved connection stays open throughout.
    @Suite struct HostileInput {
        @Test func misbehavingClientsDoNotDisturbAGoodConnection() throws {
            let fixture = try TLSFixture()
            let context = try fixture.context(names: ["a.test"])
            let server = try TestTLSServer(context: context, handshakeTimeout: .seconds(1))
            defer { server.stop() }
            let sentinel = fixture.directory + "/go"

            // The good client: one request now, one after every hostile step, on the same TLS connection.
            let script = """
                import os, socket, ssl, sys, time
                ctx = ssl.create_default_context(cafile=sys.argv[1])
                s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[2]))), server_hostname="a.test")
                def get(path):
                    s.sendall(("GET %s HTTP/1.1\\r\\nHost: a.test\\r\\n\\r\\n" % path).encode())
                    return s.recv(4096).decode().count("path=" + path)
                first = get("/before")
                print("ready", flush=True)
                deadline = time.time() + 30
                while not os.path.exists(sys.argv[3]) and time.time() < deadline:
                    time.sleep(0.05)
                print(first, get("/after"))
                """
            let good = try ChildProcess(["python3", "-c", script, fixture.caPath, "\(server.port)", sentinel])

            // Plain HTTP to the TLS port: refused because of what it sent, not by the handshake timeout. A listener
            // whose timeout is a minute still closes it within rawConnection's 5 s (no wall-clock bound on a busy
            // machine needed to tell the two apart); then the same on the listener the good client uses.
            let plainHTTP = Array("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n".utf8)
            let patient = try TestTLSServer(context: context, handshakeTimeout: .seconds(60))
            let refused = try patient.rawConnection(sending: plainHTTP)
            patient.stop()
            #expect(refused != nil, "plain HTTP is closed without waiting for the handshake timeout")
            let http = try server.rawConnection(sending: plainHTTP)
            #expect(http != nil, "plain HTTP closed after \(String(describing: http))")

            // Random bytes.
            var generator = SystemRandomNumberGenerator()
            let noise = (0..<4_096).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(try server.rawConnection(sending: noise) != nil)

            // Half a ClientHello, then silence: the handshake timeout closes it.
            let client = TestTLSClient(TestTLSClient.Options(serverName: "a.test"))
            client.step()
            let hello = Array(client.takeOutput()!.readableBytesView)
            let truncated = try server.rawConnection(sending: Array(hello.prefix(hello.count / 2)))
            #expect(
                truncated != nil && truncated! >= 0.95,
                "half a ClientHello: closed after \(String(describing: truncated))"
            )

            // Connects and never speaks.
            let silent = try server.rawConnection(sending: [])
            #expect(silent != nil && silent! >= 0.95, "silent client closed after \(String(describing: silent))")

            // A TLS 1.2 client asking for renegotiation.
            let renegotiation = try runProcess(
                [
                    "sh", "-c",
                    "(printf 'R\\n'; sleep 1) | openssl s_client -connect 127.0.0.1:\(server.port) "
                        + "-tls1_2 -servername a.test -CAfile \(fixture.caPath)",
                ]
            )
            #expect(renegotiation.output.contains("RENEGOTIATING"), "\(renegotiation.output)")

            // The good connection is still fine, and new connections too.
            _ = FileManager.default.createFile(atPath: sentinel, contents: Data())
            let result = good.wait(timeout: 20)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout == "ready\n1 1\n", "\(result.output)")
            let fresh = try runProcess(
                [
                    "curl", "-sS", "--max-time", "10", "--cacert", fixture.caPath,
                    "--resolve", "a.test:\(server.port):127.0.0.1", "https://a.test:\(server.port)/fresh",
                ]
            )
            #expect(fresh.stdout.contains("path=/fresh"), "\(fresh.output)")
        }
    }

    /// Resources come back after many connections. The counter of live `SSL` objects and the resident set size
    /// belong to the whole process, in which other targets' tests open TLS connections at the same time; so the
    /// measurement runs in a child process (this test binary again, running only
    /// ``measureTwoThousandHandshakesInThisProcess()``), where the only connections are its own.
    @Suite struct Resources {
        static let childVariable = "ALBATROSS_TLS_MEMORY_CHILD"
        static var isChild: Bool { ProcessInfo.processInfo.environment[childVariable] == "1" }

        @Test func memoryStaysFlatOverTwoThousandHandshakes() async throws {
            let executable = ProcessInfo.processInfo.arguments[0]
            try #require(executable.hasPrefix("/") && FileManager.default.isExecutableFile(atPath: executable))
            // Waited for on a thread of its own, not on one of the cooperative pool's few threads.
            let child = try await offPool {
                try runProcess(
                    [
                        "\(Self.childVariable)=1", executable, "--testing-library", "swift-testing", "--filter",
                        "measureTwoThousandHandshakesInThisProcess",
                    ], timeout: 300)
            }
            #expect(child.status == 0, "the measurement failed in the child process:\n\(child.output)")
            let match = try #require(
                child.stdout.firstMatch(of: #/tls-memory: live (\d+) -> (\d+), rss (\d+) -> (\d+)/#),
                "the child did not run the measurement:\n\(child.output)")
            let (liveBefore, liveAfter) = (Int(match.1)!, Int(match.2)!)
            let (rssBefore, rssAfter) = (Int(match.3)!, Int(match.4)!)
            #expect(liveBefore == 0, "no other TLS connection exists in the child")
            #expect(liveAfter == 0, "every SSL object was freed")
            #expect(rssBefore > 0 && rssAfter > 0)
            #expect(rssAfter - rssBefore < 8 << 20, "RSS grew by \((rssAfter - rssBefore) >> 10) KiB")
        }

        @Test(.enabled(if: isChild, "only in the child process that memoryStaysFlatOverTwoThousandHandshakes starts"))
        func measureTwoThousandHandshakesInThisProcess() throws {
            let fixture = try TLSFixture()
            let context = try fixture.context()
            var options = TestTLSClient.Options()
            options.trustedCAPath = fixture.caPath
            options.serverName = "a.test"
            options.alpn = ["http/1.1"]
            let liveBefore = TLSConnection.liveCount.load(ordering: .relaxed)

            func handshakes(_ count: Int) {
                for index in 0..<count {
                    let pair = try! InMemoryPair(context: context, client: options)
                    pair.handshake()
                    pair.client.write(Array("ping \(index)".utf8))
                    pair.pump()
                    if index % 2 == 0 {
                        pair.client.shutdown()  // clean close
                        pair.pump()
                    }
                    pair.finish()  // otherwise: our close_notify and the close timer
                    precondition(pair.recorder.handshakes.count == 1)
                }
            }
            handshakes(300)  // warm up allocator pools and OpenSSL's lazily built tables
            let rssBefore = try #require(residentBytes(), "/proc/self/statm must be readable to measure memory")
            handshakes(2_000)
            let rssAfter = try #require(residentBytes(), "/proc/self/statm must be readable to measure memory")
            let liveAfter = TLSConnection.liveCount.load(ordering: .relaxed)
            #expect(liveAfter == liveBefore)
            #expect(rssAfter - rssBefore < 8 << 20, "RSS grew by \((rssAfter - rssBefore) >> 10) KiB")
            FileHandle.standardOutput.write(
                Data("tls-memory: live \(liveBefore) -> \(liveAfter), rss \(rssBefore) -> \(rssAfter)\n".utf8))
        }
    }
}

/// Resident set size of this process (from /proc/self/statm); nil when it cannot be read.
func residentBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]), pages > 0 else { return nil }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
