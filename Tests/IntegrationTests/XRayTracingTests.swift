import AlbatrossTestKit
import Foundation
import Testing
import Tracing

/// Active tracing end to end: a real Python function instrumented with the real `aws-xray-sdk` (from the
/// project venv) sends its subsegment to the embedded daemon over UDP, the platform writes its own segments
/// from the event stream, and both land in one stored trace under the Root the client sent.
@Suite(.serialized)
struct XRayTracingTests {
    /// The function calls a fixed-response rule of its own listener (a loopback HTTP server) inside an SDK
    /// subsegment, and reports the daemon address and trace header it was given.
    static func tracedFunction(in dir: TemporaryDirectory) throws {
        try dir.write(
            "traced/app.py",
            """
            import os
            import urllib.request
            from aws_xray_sdk.core import xray_recorder

            def handler(event, context):
                host = event["headers"]["host"]
                with xray_recorder.in_subsegment("backend-call") as subsegment:
                    subsegment.put_annotation("target", "backend")
                    body = urllib.request.urlopen("http://%s/backend" % host, timeout=5).read().decode()
                return {
                    "statusCode": 200,
                    "headers": {
                        "x-daemon": os.environ.get("AWS_XRAY_DAEMON_ADDRESS", "-"),
                        "x-context-missing": os.environ.get("AWS_XRAY_CONTEXT_MISSING", "-"),
                        "x-trace": os.environ.get("_X_AMZN_TRACE_ID", "-"),
                    },
                    "body": body,
                }
            """)
    }

    static func yaml(mode: String, tracing: String = "{samplingRate: 1.0}") -> String {
        FrontEndTests.yaml(
            functions:
                "  - {name: traced, runtime: python3.11, handler: app.handler, code: ./traced, timeout: 10, tracingConfig: {Mode: \(mode)}}",
            targetGroups: "  - {name: traced-tg, function: traced}",
            rules: """
                      - priority: 1
                        conditions: [{pathPattern: ["/backend"]}]
                        action: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: "backend says hi"}}
                """,
            defaultAction: "{forward: traced-tg}") + "\ntracing: \(tracing)\n"
    }

    static func newRoot() -> String {
        let hex = (0..<24).map { _ in String(Int.random(in: 0..<16), radix: 16) }.joined()
        return "1-\(String(Int(Date().timeIntervalSince1970), radix: 16))-\(hex)"
    }

    @Test func activeTracingStoresPlatformSegmentsAndTheSDKsSubsegmentUnderTheClientsRoot() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.tracedFunction(in: dir)
        let server = try await ServerHarness(yaml: Self.yaml(mode: "Active"), baseDirectory: dir.path)
        let daemon = try #require(server.application.tracing?.daemon)
        let root = Self.newRoot()
        let notSampled = Self.newRoot()
        let client = try server.client()
        let host = "127.0.0.1:\(server.port)"
        let first = try client.request(
            "GET", "/orders", headers: [("X-Amzn-Trace-Id", "Root=\(root);Parent=53995c3f42cd8ad8")], host: host)
        // An upstream decision not to sample is honoured: nothing is recorded for it.
        let second = try client.request(
            "GET", "/orders", headers: [("X-Amzn-Trace-Id", "Root=\(notSampled);Sampled=0")], host: host)
        await server.shutdown()
        #expect(first.status == 200 && first.text == "backend says hi", "\(first.status) \(first.text)")
        #expect(second.status == 200)
        #expect(first.header("x-daemon") == daemon.address && daemon.address.hasPrefix("127.0.0.1:"))
        #expect(first.header("x-context-missing") == "LOG_ERROR")
        let header = try #require(first.header("x-trace"))
        #expect(header.hasPrefix("Root=\(root);Parent=") && header.hasSuffix(";Sampled=1"), "\(header)")
        #expect(second.header("x-trace")?.hasSuffix(";Sampled=0") == true)

        let directory = TraceStore.directory(dataDirectory: server.configuration.dataDirectory)
        #expect(TraceStore.traceFiles(in: directory).map(\.traceID) == [root])
        let lines = try #require(TraceStore.documents(traceID: root, in: directory))
        let tree = TraceTree(traceID: root, lines: lines)
        #expect(tree.roots.count == 1, "\(lines)")
        let service = try #require(tree.roots.first)
        #expect(service.origin == "AWS::Lambda" && service.name == "traced")
        let function = try #require(service.children.first)
        #expect(function.origin == "AWS::Lambda::Function")
        #expect(function.children.map(\.name) == ["Initialization", "Invocation", "Overhead"], "\(lines)")
        let invocation = function.children[1]
        #expect(invocation.id == header.split(separator: ";")[1].dropFirst("Parent=".count).description)
        #expect(invocation.children.map(\.name) == ["backend-call"], "the SDK's subsegment, under Invocation")
        let call = try #require(invocation.children.first)
        #expect(call.start >= invocation.start && (call.end ?? 0) <= (invocation.end ?? 0))
        #expect(lines.contains { $0.contains(#""parent_id":"53995c3f42cd8ad8""#) && $0.contains("AWS::Lambda\"") })
        #expect(daemon.counts.accepted >= 1 && daemon.counts.malformed == 0)
        let drawing = TraceWaterfall.render(tree)
        #expect(drawing.contains("backend-call") && drawing.contains("[cold start]"), "\(drawing)")
    }

    @Test func passThroughRecordsNothingAndTheSDKSendsNothing() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.tracedFunction(in: dir)
        let server = try await ServerHarness(yaml: Self.yaml(mode: "PassThrough"), baseDirectory: dir.path)
        let daemon = try #require(server.application.tracing?.daemon)
        let client = try server.client()
        let response = try client.request(
            "GET", "/orders", headers: [("X-Amzn-Trace-Id", "Root=\(Self.newRoot())")],
            host: "127.0.0.1:\(server.port)")
        await server.shutdown()
        #expect(response.status == 200 && response.text == "backend says hi")
        #expect(response.header("x-trace")?.hasSuffix(";Sampled=0") == true)
        let directory = TraceStore.directory(dataDirectory: server.configuration.dataDirectory)
        #expect(TraceStore.traceFiles(in: directory).isEmpty)
        #expect(daemon.counts == XRayDaemon.Counts())
    }

    @Test func malformedOversizedAndFloodedDatagramsDoNotAffectServing() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.tracedFunction(in: dir)
        let server = try await ServerHarness(
            yaml: Self.yaml(
                mode: "Active", tracing: "{samplingRate: 0, reservoirPerSecond: 0, maxDatagramsPerSecond: 10}"),
            baseDirectory: dir.path)
        let daemon = try #require(server.application.tracing?.daemon)
        let socket = try UDPSender(port: daemon.port)
        defer { socket.close() }
        let junk: [[UInt8]] = [
            Array("no header at all".utf8),
            Array(#"{"format":"xml","version":1}"#.utf8) + [10] + Array("{}".utf8),
            Array(#"{"format":"json","version":1}"#.utf8) + [10] + Array(#"{"name":"x","id":"bad"}"#.utf8),
            Array(#"{"format":"json","version":1}"#.utf8) + [10] + Array(repeating: UInt8(ascii: "["), count: 65_000),
            Array(repeating: 0xff, count: 65_507),
        ]
        let client = try server.client()
        var statuses: [Int] = []
        let started = Date()
        for round in 0..<10 {
            for index in 0..<300 { socket.send(junk[(round + index) % junk.count]) }
            statuses.append(try client.request("GET", "/orders", host: "127.0.0.1:\(server.port)").status)
        }
        let elapsed = Date().timeIntervalSince(started)
        await server.shutdown()
        #expect(statuses == Array(repeating: 200, count: 10))
        let counts = daemon.counts
        #expect(counts.accepted == 0, "\(counts)")
        #expect(counts.malformed > 0 && counts.rateLimited > 0, "\(counts)")
        // The bucket holds a second's worth and refills at 10 a second.
        #expect(counts.malformed <= 10 + Int(elapsed * 10) + 2, "\(counts) in \(elapsed) s")
        let directory = TraceStore.directory(dataDirectory: server.configuration.dataDirectory)
        #expect(TraceStore.traceFiles(in: directory).isEmpty, "nothing sampled, nothing valid received")
    }
}

/// `albatross traces` on the real executable, after real `albatross invoke`s of an Active function: the list
/// (filtered by function), and one trace drawn as a waterfall.
@Suite(.serialized)
struct TracesCommandTests {
    @Test func listsAndDrawsStoredTraces() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "fn", handler: #"printf '{"ok":true}'"#)
        let config = try dir.write(
            "c.yaml",
            """
            dataDirectory: ./data
            tracing: {samplingRate: 1.0}
            functions:
              - {name: fn, runtime: provided.al2023, handler: h, code: ./fn, tracingConfig: {Mode: Active}}
            """)
        for _ in 0..<2 {
            let invoked = try await AlbatrossCommand.run(["invoke", "fn", "-p", "{}", "-c", config])
            #expect(invoked.status == 0, "\(invoked)")
        }
        let listed = try await AlbatrossCommand.run(["traces", "-c", config])
        #expect(listed.status == 0, "\(listed)")
        #expect(listed.lines.count == 2, "\(listed)")
        // `<ISO time>  <trace id>  fn  <duration>  [cold start]` (each `invoke` is a new process: a cold start).
        let row =
            #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z  (1-[0-9a-f]{8}-[0-9a-f]{24})  fn  \d+\.\d{2} ms  \[cold start\]$/#
        let ids = listed.lines.compactMap { try? row.wholeMatch(in: $0)?.output.1 }.map(String.init)
        #expect(ids.count == 2, "\(listed.lines)")
        let other = try await AlbatrossCommand.run(["traces", "-c", config, "--function", "other"])
        #expect(other.status == 0 && other.lines.isEmpty)
        let drawn = try await AlbatrossCommand.run(["traces", ids.first ?? "", "-c", config])
        #expect(drawn.status == 0, "\(drawn)")
        let names = ["fn (AWS::Lambda)", "  fn (AWS::Lambda::Function)", "    Initialization", "    Invocation"]
        for name in names { #expect(drawn.stdout.contains(name), "\(drawn.stdout)") }
        #expect(drawn.lines.first?.hasPrefix("Trace \(ids.first ?? "")  function fn  ") == true)
        let missing = try await AlbatrossCommand.run(["traces", "1-00000000-000000000000000000000000", "-c", config])
        #expect(missing.status == 1 && missing.stderr.contains("no trace 1-00000000-000000000000000000000000"))
    }
}

/// A UDP socket that sends datagrams to a port on 127.0.0.1 (the X-Ray SDK's side of the daemon protocol).
final class UDPSender {
    private let fd: Int32
    private var address = sockaddr_in()

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EBADF) }
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
    }

    func send(_ bytes: [UInt8]) {
        var target = address
        _ = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    func close() { Glibc.close(fd) }
}
