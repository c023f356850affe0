import AlbatrossTestKit
import Foundation
import LambdaModel
import Observability
import Testing

/// ALB access logs through real sockets and real runtimes: the writer attached to the server's event bus writes
/// one line per answer, in the documented format (docs/observability.md), field by field.
@Suite(.serialized)
struct AccessLogTests {
    /// "quoted string or run of non-spaces" (observability.md §3.2).
    static func fields(_ line: String) -> [String] { accessLogFields(line) }

    static func isISOMicros(_ text: String) -> Bool {
        text.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"#, options: .regularExpression) != nil
    }

    static func isSeconds(_ text: String) -> Bool {
        text.range(of: #"^\d+\.\d{3}$"#, options: .regularExpression) != nil
    }

    /// Bytes of a response as it went over the wire: status line, header lines, blank line, body.
    static func wireSize(_ response: RawHTTPClient.Response) -> Int {
        var size = "HTTP/1.1 \(response.status) \(response.reason)\r\n".utf8.count + 2 + response.body.count
        for (name, value) in response.headers { size += name.utf8.count + value.utf8.count + 4 }
        return size
    }

    @Test func forwardFixedResponseRedirect502And413() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FrontEndTests.cannedFunction(in: dir, results: ["ok": #"{"statusCode":200,"body":"fine"}"#])
        let rules = """
                  - priority: 5
                    conditions: [{pathPattern: ["/health"]}]
                    action: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: "healthy"}}
                  - priority: 7
                    conditions: [{pathPattern: ["/old/*"]}]
                    action: {redirect: {protocol: HTTPS, port: "443", host: "#{host}", path: "/new/#{path}", query: "#{query}&x=1", statusCode: HTTP_301}}
            """
        let yaml =
            FrontEndTests.yaml(
                functions: FrontEndTests.cannedFunctionYAML, targetGroups: "  - {name: canned-tg, function: canned}",
                rules: rules)
                + """

                loadBalancer:
                  attributes:
                    access_logs.s3.enabled: true
                    access_logs.s3.bucket: ./alb-logs
                    access_logs.s3.prefix: dev
                """
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        let attributes = server.configuration.loadBalancerAttributes
        #expect(attributes.accessLogsEnabled)
        // The application's own writer, made from the configuration.
        let writer = try #require(server.application.accessLogs)
        let port = server.port
        let agent = #"test agent "quoted" 1.0"#
        let client = try server.client()
        let ok = try client.request("GET", "/r/ok", headers: [("User-Agent", agent)])
        let fixed = try client.request("GET", "/health")
        let redirect = try client.request("GET", "/old/a?q=1", host: "site.test:\(port)")
        let crash = try client.request("GET", "/r/crash")
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 1_048_577)
        let tooLarge = try server.client().request("POST", "/r/ok", body: big)
        // The same without Content-Length up front: refused once the body passes 1 MiB.
        let chunkedClient = try server.client()
        var chunked = "POST /r/ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        for _ in 0..<17 { chunked += String(65536, radix: 16) + "\r\n" + String(repeating: "b", count: 65536) + "\r\n" }
        chunked += "0\r\n\r\n"
        try? chunkedClient.send(chunked)
        let chunkedTooLarge = try chunkedClient.readResponse()
        await writer.flushed()
        await server.shutdown()
        let statuses: [Int] = [
            ok.status, fixed.status, redirect.status, crash.status, tooLarge.status, chunkedTooLarge.status,
        ]
        #expect(statuses == [200, 200, 301, 502, 413, 413])

        let files = writer.files
        #expect(!files.isEmpty && files.count <= 2, "one file, two if a 5-minute boundary passed")
        let folder = "\(dir.path)/alb-logs/dev/AWSLogs/123456789012/elasticloadbalancing/us-east-1/"
        for file in files {
            #expect(file.hasPrefix(folder) && file.hasSuffix("_127.0.0.1_\(file.suffix(15).prefix(8)).log.gz"))
            #expect(
                file.range(
                    of:
                        #"/\d{4}/\d\d/\d\d/123456789012_elasticloadbalancing_us-east-1_app\.albatross\.[0-9a-f]{16}_\d{8}T\d{4}Z_127\.0\.0\.1_[a-z0-9]{8}\.log\.gz$"#,
                    options: .regularExpression) != nil, "\(file)")
        }
        let lines = try files.flatMap { try ALBAccessLogWriter.readLines(of: $0) }
        try #require(lines.count == 6)
        let f = lines.map(Self.fields)
        let tgARN = try #require(server.configuration.targetGroups.first?.arn)
        let elb = "app/albatross/\(AccountContext.stableHex("albatross"))"

        for (index, fields) in f.enumerated() {
            #expect(fields.count == 33, "line \(index): \(lines[index])")
            guard fields.count == 33 else { continue }
            #expect(fields[0] == "http")
            #expect(Self.isISOMicros(fields[1]) && Self.isISOMicros(fields[21]))
            #expect(fields[21] <= fields[1], "request_creation_time is not after time")
            #expect(fields[2] == elb)
            #expect(fields[3].hasPrefix("127.0.0.1:") && Int(fields[3].dropFirst(10)) != nil)
            #expect(fields[4] == "-", "target:port is - for Lambda")
            #expect(fields[14] == "-" && fields[15] == "-", "no TLS on an HTTP listener")
            #expect(fields[18] == #""-""# && fields[19] == #""-""#)
            #expect(Array(fields[25...28]) == [#""-""#, #""-""#, #""-""#, #""-""#])
            #expect(fields[29].range(of: #"^TID_[0-9a-f]{32}$"#, options: .regularExpression) != nil)
            #expect(Array(fields[30...32]) == [#""-""#, #""-""#, #""-""#])
        }
        guard f.allSatisfy({ $0.count == 33 }) else { return }
        // One keep-alive connection, one conn_trace_id; the 413 came on another connection.
        #expect(Set(f[0..<4].map { $0[29] }).count == 1 && f[4][29] != f[0][29] && f[5][29] != f[4][29])

        // A forward answered 200 by the function.
        let forward = f[0]
        #expect(forward[5...7].allSatisfy(Self.isSeconds))
        #expect(forward[8] == "200" && forward[9] == "200")
        let sentHead = "GET /r/ok HTTP/1.1\r\nHost: localhost\r\nUser-Agent: \(agent)\r\n\r\n"
        #expect(forward[10] == String(sentHead.utf8.count))
        #expect(forward[11] == String(Self.wireSize(ok)))
        #expect(forward[12] == "\"GET http://localhost:\(port)/r/ok HTTP/1.1\"")
        #expect(forward[13] == #""test agent \"quoted\" 1.0""#)
        #expect(forward[16] == tgARN)
        #expect(forward[17].range(of: #"^"Root=1-[0-9a-f]{8}-[0-9a-f]{24}"$"#, options: .regularExpression) != nil)
        #expect(forward[20] == "0", "the default rule")
        #expect(forward[22] == #""forward""# && forward[23] == #""-""# && forward[24] == #""-""#)

        // A fixed response: not dispatched.
        let fixedLine = f[1]
        #expect(Array(fixedLine[5...9]) == ["-1", "-1", "-1", "200", "-"])
        #expect(fixedLine[11] == String(Self.wireSize(fixed)))
        #expect(fixedLine[12] == "\"GET http://localhost:\(port)/health HTTP/1.1\"" && fixedLine[13] == #""-""#)
        #expect(fixedLine[16] == "-" && fixedLine[17] == #""-""# && fixedLine[20] == "5")
        #expect(fixedLine[22] == #""fixed-response""# && fixedLine[23] == #""-""# && fixedLine[24] == #""-""#)

        // A redirect.
        let redirectLine = f[2]
        #expect(Array(redirectLine[5...9]) == ["-1", "-1", "-1", "301", "-"])
        #expect(redirectLine[12] == "\"GET http://site.test:\(port)/old/a?q=1 HTTP/1.1\"")
        #expect(redirectLine[16] == "-" && redirectLine[20] == "7")
        #expect(redirectLine[22] == #""redirect""#)
        #expect(redirectLine[23] == #""https://site.test:443/new/old/a?q=1&x=1""#)
        #expect(redirectLine[24] == #""-""#)

        // The function crashed: 502 LambdaUnhandled, dispatched, no target status.
        let failed = f[3]
        #expect(failed[5...7].allSatisfy(Self.isSeconds))
        #expect(failed[8] == "502" && failed[9] == "-")
        #expect(failed[16] == tgARN && failed[20] == "0" && failed[17].hasPrefix(#""Root=1-"#))
        #expect(failed[22] == #""forward""# && failed[24] == #""LambdaUnhandled""#)

        // A body over 1 MB: refused before the invoke, on its Content-Length (only the head was read) or once the
        // chunks passed the limit.
        for (refused, head) in [
            (f[4], "POST /r/ok HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048577\r\n\r\n"),
            (f[5], "POST /r/ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ] {
            #expect(Array(refused[5...9]) == ["-1", "-1", "-1", "413", "-"])
            #expect(refused[16] == tgARN && refused[20] == "0")
            #expect(refused[22] == #""forward""# && refused[24] == #""LambdaRequestTooLarge""#)
            if refused[12].contains("localhost") {
                #expect(refused[10] == String(head.utf8.count))
            } else {
                #expect((Int(refused[10]) ?? 0) > head.utf8.count + 1_048_576, "head and the body read")
                #expect(refused[12] == "\"POST http://x:\(port)/r/ok HTTP/1.1\"")
            }
        }
        #expect(f[4][12] == "\"POST http://localhost:\(port)/r/ok HTTP/1.1\"")
    }

    @Test func httpsLinesCarryTheProtocolCipherAndServerName() async throws {
        let setup = try await HTTPSListenerTests.start()
        defer { setup.dir.remove() }
        let logs = setup.dir.url("alb-logs")
        let writer = ALBAccessLogWriter(settings: ALBAccessLogSettings(directory: logs))
        writer.attach(to: setup.server.events)
        let url = "https://localhost:\(setup.port)/hello?x=1"
        let tls12 = try HTTPSListenerTests.run(
            ["curl", "-sS", "--cacert", setup.caPath, "--tls-max", "1.2", "-A", "curl test", url])
        let tls13 = try HTTPSListenerTests.run(["curl", "-sS", "--cacert", setup.caPath, "--tlsv1.3", url])
        await writer.flushed()
        await setup.server.shutdown()
        writer.shutdown()
        #expect(tls12.0 == 0 && tls13.0 == 0, "\(tls12.2) \(tls13.2)")
        let lines = try writer.files.flatMap { try ALBAccessLogWriter.readLines(of: $0) }
        try #require(lines.count == 2)
        let (first, second) = (Self.fields(lines[0]), Self.fields(lines[1]))
        #expect(first.count == 33 && second.count == 33)
        #expect(first[0] == "https" && second[0] == "https")
        #expect(first[8] == "200" && first[9] == "200")
        #expect(first[12] == "\"GET https://localhost:\(setup.port)/hello?x=1 HTTP/1.1\"")
        #expect(first[13] == #""curl test""#)
        #expect(first[15] == "TLSv1.2" && second[15] == "TLSv1.3")
        #expect(first[14].contains("-") && first[14] != "-", "an OpenSSL TLS 1.2 cipher name: \(first[14])")
        #expect(second[14].hasPrefix("TLS_"), "\(second[14])")
        #expect(first[18] == #""localhost""# && first[19] == #""-""#)
        #expect(first[29] != second[29], "two connections")
    }
}
