import AlbatrossTestKit
import Foundation
import InvocationModel
import LambdaModel
import NIOCore
import Testing

@testable import Observability

/// The line formatter against AWS's example lines (reproduced exactly from hand-built events) and field by field
/// for the answers the ALB gives itself.
struct ALBAccessLogLineTests {
    static let elb = "app/albatross-dev/0f1e2d3c4b5a6978"
    static let tgARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-fn/0123456789abcdef"
    /// 2026-03-14T09:26:53Z
    static let base: Int64 = 1_773_480_413

    static func ms(_ value: Double) -> TimeAmount { .nanoseconds(Int64(value * 1_000_000)) }

    @Test func reproducesAWSsSuccessfulLambdaExample() throws {
        let t0 = NIODeadline.uptimeNanoseconds(10_000_000_000)
        let request = FrontEndRequest(
            scheme: "https", clientAddress: "203.0.113.10", clientPort: 51234,
            requestLine: "POST https://api.example.test:443/orders?id=7 HTTP/1.1", userAgent: "curl/8.5.0",
            tlsProtocol: "TLSv1.2", tlsCipher: "ECDHE-RSA-AES128-GCM-SHA256", serverName: "api.example.test",
            certificateARN: "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
            receivedBytes: 418, sentBytes: 733, traceID: "Root=1-65f2c1dd-4b7e2a91c3d5e6f708192a3b",
            targetGroupARN: Self.tgARN, matchedRulePriority: 10, actionsExecuted: ["forward"], targetStatusCode: 200,
            requestCreationEpochMicroseconds: Self.base * 1_000_000 + 546_000, receivedAt: t0,
            dispatchedAt: t0 + Self.ms(2.2), targetRespondedAt: t0 + Self.ms(43.4),
            connectionTraceID: "TID_5f0c9a1b2c3d4e5f60718293a4b5c6d7")
        let written = InvocationEvent.ResponseWritten(status: 200, bytes: 4, albErrorReason: nil, request: request)
        let line = try #require(ALBAccessLogLine.format(written, at: t0 + Self.ms(43.793), elb: Self.elb))
        let expected =
            #"https 2026-03-14T09:26:53.589793Z app/albatross-dev/0f1e2d3c4b5a6978 203.0.113.10:51234 - 0.002 0.041 0.000 200 200 418 733 "POST https://api.example.test:443/orders?id=7 HTTP/1.1" "curl/8.5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-fn/0123456789abcdef "Root=1-65f2c1dd-4b7e2a91c3d5e6f708192a3b" "api.example.test" "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0" 10 2026-03-14T09:26:53.546000Z "forward" "-" "-" "-" "-" "-" "-" TID_5f0c9a1b2c3d4e5f60718293a4b5c6d7 "-" "-" "-""#
        #expect(line == expected)
        #expect(accessLogFields(line).count == 33)
    }

    @Test func reproducesAWSsFailedLambdaExample() throws {
        let t0 = NIODeadline.uptimeNanoseconds(50_000_000_000)
        let request = FrontEndRequest(
            scheme: "http", clientAddress: "203.0.113.10", clientPort: 51240,
            requestLine: "GET http://api.example.test:80/boom HTTP/1.1", userAgent: "python-requests/2.32.3",
            receivedBytes: 96, sentBytes: 272,
            traceID: "Self=1-65f2c1e8-0a1b2c3d4e5f60718293a4b5;Root=1-65f2c1e8-9f8e7d6c5b4a39281706f5e4",
            targetGroupARN: Self.tgARN, matchedRulePriority: 0, actionsExecuted: ["forward"],
            requestCreationEpochMicroseconds: (Self.base + 10) * 1_000_000 + 924_000, receivedAt: t0,
            dispatchedAt: t0 + Self.ms(0.4), targetRespondedAt: t0 + Self.ms(187.8),
            connectionTraceID: "TID_7e1d2c3b4a5968778695a4b3c2d1e0f9")
        let written = InvocationEvent.ResponseWritten(
            status: 502, bytes: 110, albErrorReason: "LambdaUnhandled", request: request)
        let line = try #require(ALBAccessLogLine.format(written, at: t0 + Self.ms(188.008), elb: Self.elb))
        let expected =
            #"http 2026-03-14T09:27:04.112008Z app/albatross-dev/0f1e2d3c4b5a6978 203.0.113.10:51240 - 0.000 0.187 0.000 502 - 96 272 "GET http://api.example.test:80/boom HTTP/1.1" "python-requests/2.32.3" - - arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-fn/0123456789abcdef "Self=1-65f2c1e8-0a1b2c3d4e5f60718293a4b5;Root=1-65f2c1e8-9f8e7d6c5b4a39281706f5e4" "-" "-" 0 2026-03-14T09:27:03.924000Z "forward" "-" "LambdaUnhandled" "-" "-" "-" "-" TID_7e1d2c3b4a5968778695a4b3c2d1e0f9 "-" "-" "-""#
        #expect(line == expected)
    }

    static func undispatched(
        actions: [String], priority: Int?, redirect: String? = nil, targetGroup: String? = nil,
        userAgent: String? = nil, requestLine: String = "GET http://localhost:80/x HTTP/1.1"
    ) -> FrontEndRequest {
        FrontEndRequest(
            scheme: "http", clientAddress: "127.0.0.1", clientPort: 40000, requestLine: requestLine,
            userAgent: userAgent, receivedBytes: 40, sentBytes: 120, traceID: nil, targetGroupARN: targetGroup,
            matchedRulePriority: priority, actionsExecuted: actions, redirectURL: redirect,
            requestCreationEpochMicroseconds: Self.base * 1_000_000, receivedAt: .uptimeNanoseconds(1_000),
            connectionTraceID: "TID_00000000000000000000000000000001")
    }

    @Test func fixedResponseIsNotDispatched() throws {
        let request = Self.undispatched(actions: ["fixed-response"], priority: 5)
        let line = try #require(
            ALBAccessLogLine.format(
                .init(status: 200, bytes: 7, albErrorReason: nil, request: request), at: .uptimeNanoseconds(1_001_000),
                elb: Self.elb))
        let f = accessLogFields(line)
        #expect(f.count == 33)
        #expect(f[1] == "2026-03-14T09:26:53.001000Z", "1 ms after the request arrived")
        #expect(f[4] == "-")
        #expect(Array(f[5...7]) == ["-1", "-1", "-1"])
        #expect(f[8] == "200" && f[9] == "-")
        #expect(f[16] == "-", "no target group")
        #expect(f[17] == #""-""#, "no trace id")
        #expect(f[20] == "5")
        #expect(f[21] == "2026-03-14T09:26:53.000000Z")
        #expect(f[22] == #""fixed-response""# && f[23] == #""-""# && f[24] == #""-""#)
    }

    @Test func redirectCarriesItsLocation() throws {
        let request = Self.undispatched(
            actions: ["redirect"], priority: 7, redirect: "https://site.test:443/new/a?q=1")
        let line = try #require(
            ALBAccessLogLine.format(
                .init(status: 301, bytes: 0, albErrorReason: nil, request: request), at: .uptimeNanoseconds(1_000),
                elb: Self.elb))
        let f = accessLogFields(line)
        #expect(f[8] == "301" && f[9] == "-" && Array(f[5...7]) == ["-1", "-1", "-1"])
        #expect(f[22] == #""redirect""# && f[23] == #""https://site.test:443/new/a?q=1""#)
    }

    @Test func tooLargeBodyIsAForwardThatWasNotSent() throws {
        let request = Self.undispatched(actions: ["forward"], priority: 0, targetGroup: Self.tgARN)
        let line = try #require(
            ALBAccessLogLine.format(
                .init(status: 413, bytes: 0, albErrorReason: "LambdaRequestTooLarge", request: request),
                at: .uptimeNanoseconds(1_000), elb: Self.elb))
        let f = accessLogFields(line)
        #expect(Array(f[5...9]) == ["-1", "-1", "-1", "413", "-"])
        #expect(f[16] == Self.tgARN && f[20] == "0")
        #expect(f[22] == #""forward""# && f[24] == #""LambdaRequestTooLarge""#)
    }

    @Test func refusedBeforeRoutingHasNoRuleAndNoAction() throws {
        let request = Self.undispatched(actions: [], priority: nil)
        let line = try #require(
            ALBAccessLogLine.format(
                .init(status: 400, bytes: 0, albErrorReason: nil, request: request), at: .uptimeNanoseconds(1_000),
                elb: Self.elb))
        let f = accessLogFields(line)
        #expect(f[20] == "-" && f[22] == #""-""# && f[24] == #""-""#)
    }

    @Test func quotesAndSpacesInUserAgentsAndRequestsStayInOneField() throws {
        let request = Self.undispatched(
            actions: ["fixed-response"], priority: 1, userAgent: #"Mozilla/5.0 (X11) "quoted" back\slash"#,
            requestLine: #"GET http://localhost:80/a%20b?q="x y" HTTP/1.1"#)
        let line = try #require(
            ALBAccessLogLine.format(
                .init(status: 200, bytes: 0, albErrorReason: nil, request: request), at: .uptimeNanoseconds(1_000),
                elb: Self.elb))
        let f = accessLogFields(line)
        #expect(f.count == 33)
        #expect(f[12] == #""GET http://localhost:80/a%20b?q=\"x y\" HTTP/1.1""#)
        #expect(f[13] == #""Mozilla/5.0 (X11) \"quoted\" back\\slash""#)
        #expect(ALBAccessLogLine.quoted(nil) == #""-""# && ALBAccessLogLine.quoted("") == #""-""#)
    }

    @Test func userAgentsAreCutAt8KB() throws {
        let request = Self.undispatched(
            actions: ["fixed-response"], priority: 1, userAgent: String(repeating: "a", count: 9000))
        let line = try #require(
            ALBAccessLogLine.format(
                .init(status: 200, bytes: 0, albErrorReason: nil, request: request), at: .uptimeNanoseconds(1_000),
                elb: Self.elb))
        #expect(accessLogFields(line)[13].count == 8192 + 2)
    }

    @Test func noRequestFactsNoLine() {
        #expect(
            ALBAccessLogLine.format(.init(status: 200, bytes: 0, albErrorReason: nil), at: .now(), elb: Self.elb)
                == nil)
    }

    @Test func timesAndDurations() {
        #expect(ALBAccessLogLine.iso8601(epochMicroseconds: 0) == "1970-01-01T00:00:00.000000Z")
        #expect(ALBAccessLogLine.iso8601(epochMicroseconds: -1) == "1969-12-31T23:59:59.999999Z")
        #expect(ALBAccessLogLine.iso8601(epochMicroseconds: 1_530_570_180_186_641) == "2018-07-02T22:23:00.186641Z")
        #expect(ALBAccessLogLine.seconds(.zero) == "0.000")
        #expect(ALBAccessLogLine.seconds(.microseconds(41_200)) == "0.041")
        #expect(ALBAccessLogLine.seconds(.milliseconds(12_345)) == "12.345")
        #expect(ALBAccessLogLine.seconds(.nanoseconds(-5)) == "0.000")
    }
}

/// The writer's files: AWS's key layout, one file per 5-minute interval of the lines' times, gzip members that
/// read back as one stream.
struct ALBAccessLogWriterTests {
    static func event(epochSeconds: Int64, micros: Int64 = 0, path: String = "/") -> InvocationEvent {
        let t0 = NIODeadline.uptimeNanoseconds(5_000_000_000)
        let request = FrontEndRequest(
            scheme: "http", clientAddress: "127.0.0.1", clientPort: 1234,
            requestLine: "GET http://localhost:80\(path) HTTP/1.1", userAgent: nil, receivedBytes: 10, sentBytes: 20,
            traceID: nil, targetGroupARN: nil, matchedRulePriority: 1, actionsExecuted: ["fixed-response"],
            requestCreationEpochMicroseconds: epochSeconds * 1_000_000 + micros, receivedAt: t0,
            connectionTraceID: "TID_0")
        return InvocationEvent(
            at: t0, requestID: "r",
            detail: .responseWritten(.init(status: 200, bytes: 0, albErrorReason: nil, request: request)))
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "albatross-access-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func filesAreNamedAndRotatedAsALBDoes() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = ALBAccessLogWriter(
            settings: ALBAccessLogSettings(
                directory: dir, prefix: "team/alb",
                account: AccountContext(region: "eu-west-1", accountID: "111122223333"),
                loadBalancerName: "albatross-dev", nodeAddress: "127.0.0.1"))
        // 2026-03-14T09:24:59Z is 1_773_480_299.
        writer.receive([Self.event(epochSeconds: 1_773_480_299, micros: 999_999, path: "/a")])
        writer.receive([
            Self.event(epochSeconds: 1_773_480_300, path: "/b"), Self.event(epochSeconds: 1_773_480_599, path: "/c"),
        ])
        writer.receive([Self.event(epochSeconds: 1_773_480_600, path: "/d")])
        // Midnight rolls the date folders over: 2026-03-14T23:57:00Z ends in the 2026-03-15T00:00Z file.
        writer.receive([Self.event(epochSeconds: 1_773_532_620, path: "/e")])
        let files = writer.files
        #expect(files.count == 4)
        let lb = "app.albatross-dev.\(AccountContext.stableHex("albatross-dev"))"
        let folder = "\(dir)/team/alb/AWSLogs/111122223333/elasticloadbalancing/eu-west-1"
        let ends = ["2026/03/14/", "2026/03/14/", "2026/03/14/", "2026/03/15/"]
        let stamps = ["20260314T0925Z", "20260314T0930Z", "20260314T0935Z", "20260315T0000Z"]
        for (index, file) in files.enumerated() {
            let prefix =
                "\(folder)/\(ends[index])111122223333_elasticloadbalancing_eu-west-1_\(lb)_\(stamps[index])_127.0.0.1_"
            #expect(file.hasPrefix(prefix), "\(file)")
            let random = file.dropFirst(prefix.count).dropLast(".log.gz".count)
            #expect(file.hasSuffix(".log.gz") && random.count == 8, "\(file)")
            #expect(FileManager.default.fileExists(atPath: file))
        }
        let paths = try files.map { try ALBAccessLogWriter.readLines(of: $0).map { accessLogFields($0)[12] } }
        #expect(
            paths == [
                [#""GET http://localhost:80/a HTTP/1.1""#],
                [#""GET http://localhost:80/b HTTP/1.1""#, #""GET http://localhost:80/c HTTP/1.1""#],
                [#""GET http://localhost:80/d HTTP/1.1""#], [#""GET http://localhost:80/e HTTP/1.1""#],
            ])
        // The raw file is gzip (magic 1f 8b), two members for the two batches of the 09:30 file.
        let raw = try #require(FileManager.default.contents(atPath: files[1]))
        #expect(Array(raw.prefix(2)) == [0x1f, 0x8b])
    }

    @Test func uncompressedFilesAndAShortInterval() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = ALBAccessLogWriter(
            settings: ALBAccessLogSettings(directory: dir, rotationSeconds: 60, compress: false))
        writer.receive([Self.event(epochSeconds: 1_773_480_299), Self.event(epochSeconds: 1_773_480_300)])
        let files = writer.files
        #expect(files.count == 2)
        #expect(files.allSatisfy { $0.hasSuffix(".log") && $0.hasPrefix("\(dir)/AWSLogs/123456789012/") })
        #expect(files[0].contains("_20260314T0925Z_") && files[1].contains("_20260314T0926Z_"))
        let text = try #require(FileManager.default.contents(atPath: files[0]))
        #expect(String(decoding: text, as: UTF8.self).hasSuffix("TID_0 \"-\" \"-\" \"-\"\n"))
    }

    @Test func throughTheBus() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bus = InvocationEventBus()
        let writer = ALBAccessLogWriter(settings: ALBAccessLogSettings(directory: dir))
        #expect(!bus.wants(.responseWritten))
        writer.attach(to: bus)
        #expect(bus.wants(.responseWritten) && !bus.wants(.received))
        bus.emit(Self.event(epochSeconds: 1_773_480_299))
        await writer.flushed()
        writer.shutdown()
        bus.emit(Self.event(epochSeconds: 1_773_480_299))
        bus.shutdown()
        let files = writer.files
        #expect(files.count == 1)
        #expect(try ALBAccessLogWriter.readLines(of: files[0]).count == 1)
        #expect(writer.writeFailures == 0 && writer.droppedEvents == 0)
    }
}
