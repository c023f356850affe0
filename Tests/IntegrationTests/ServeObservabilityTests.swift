import AlbatrossTestKit
import Foundation
import Testing

/// The observability parts of issue 9 as `albatross serve` wires them from its configuration: the admin
/// listener with `/metrics`, and ALB access logs written for a request, through the real binary.
@Suite(.serialized)
struct ServeObservabilityTests {
    @Test func serveWiresTheAdminListenerAndAccessLogsFromItsConfiguration() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "hello", handler: #"printf '{"statusCode":200,"body":"hello"}'"#)
        let config = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            admin: {address: 127.0.0.1, port: 0}
            functions:
              - {name: hello, runtime: provided.al2023, handler: h, code: ./hello}
            targetGroups:
              - {name: hello-tg, function: hello}
            listeners:
              - port: 0
                defaultAction: {forward: hello-tg}
            loadBalancer:
              attributes:
                access_logs.s3.enabled: true
                access_logs.s3.bucket: ./alb-logs
            """)
        let server = try await ServeProcess.start(configPath: config, arguments: ["--quiet"])
        defer { server.cleanUp() }
        let adminPort = try #require(await server.adminPort(), "no admin listener announced: \(server.output)")
        let answer = try RawHTTPClient(port: server.port, timeout: 10).request("GET", "/hi")
        #expect(answer.status == 200 && answer.text == "hello")
        var scrape = ""
        let counted = await eventually(seconds: 5) {
            scrape = (try? RawHTTPClient(port: adminPort, timeout: 5).request("GET", "/metrics").text) ?? ""
            return scrape.contains(#"function="hello""#)
        }
        #expect(counted, "the invocation is counted on /metrics: \(scrape.prefix(2000))")
        let outcome = await server.stop()
        #expect(outcome.status == 0)
        // The access-log writer flushed at shutdown: one gzip file under AWSLogs/ with the request's line.
        let logs = dir.url("alb-logs")
        let files =
            (FileManager.default.enumerator(atPath: logs)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".log.gz") }
        #expect(files.count == 1, "\(files)")
        if let file = files.first {
            let text = try #require(
                String(data: try Data(contentsOf: URL(fileURLWithPath: "\(logs)/\(file)")).gunzipped(), encoding: .utf8)
            )
            #expect(text.contains(#""GET http://localhost:\#(server.port)/hi HTTP/1.1""#), "\(text)")
        }
    }
}

extension Data {
    /// Decompresses with the system's `gzip -dc` (the test needs no zlib binding of its own).
    fileprivate func gunzipped() throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "gzip -dc"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(self)
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return data
    }
}
