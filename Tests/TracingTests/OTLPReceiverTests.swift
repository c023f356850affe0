import AlbatrossTestKit
import Foundation
import Testing

@testable import Tracing

/// The OTLP/HTTP receiver on a real loopback socket with a real trace store: both encodings, gzip, and each
/// refusal with the status and `google.rpc.Status` body the OTLP/HTTP specification asks for.
@Suite(.serialized)
struct OTLPReceiverTests {
    typealias Proto = OTLPTraceDecoderTests

    final class Fixture {
        let dir: TemporaryDirectory
        let store: TraceStore
        let receiver: OTLPReceiver

        init(limits: OTLPReceiver.Limits = OTLPReceiver.Limits()) throws {
            dir = try TemporaryDirectory()
            store = TraceStore(dataDirectory: dir.path)
            receiver = try OTLPReceiver(port: 0, limits: limits, store: store)
        }

        func client() throws -> RawHTTPClient { try RawHTTPClient(port: receiver.port, timeout: 10) }

        func post(
            _ body: [UInt8], type: String = "application/x-protobuf", encoding: String? = nil,
            path: String = "/v1/traces", on client: RawHTTPClient? = nil
        ) throws -> RawHTTPClient.Response {
            var headers = [("Content-Type", type)]
            if let encoding { headers.append(("Content-Encoding", encoding)) }
            return try (client ?? self.client()).request(
                "POST", path, headers: headers, body: body, host: "127.0.0.1:\(receiver.port)")
        }

        func documents(_ traceID: String) -> [String] {
            store.flush()
            return TraceStore.documents(traceID: traceID, in: store.directory) ?? []
        }

        func close() async {
            await receiver.close()
            store.shutdown()
            dir.remove()
        }
    }

    static let traceID = "1-6553f100-abababababababababababab"

    /// `google.rpc.Status` fields 1 (code) and 2 (message) of a protobuf error body.
    static func status(_ body: [UInt8]) throws -> (code: UInt64, message: String) {
        var reader = ProtobufReader(body[...])
        var code: UInt64 = 0
        var message = ""
        while let field = try reader.next() {
            switch (field.number, field.value) {
            case (1, .varint(let value)): code = value
            case (2, .bytes(let text)): message = String(decoding: text, as: UTF8.self)
            default: break
            }
        }
        return (code, message)
    }

    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-c"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let writer = Thread {
            input.fileHandleForWriting.write(Data(bytes))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(data)
    }

    @Test func protobufJSONAndGzipExportsAreStoredAsXRayDocuments() async throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        let plain = try fixture.post(Proto.protobuf, on: client)
        #expect(plain.status == 200 && plain.body.isEmpty, "\(plain.status) \(plain.text)")
        #expect(plain.header("Content-Type") == "application/x-protobuf")
        // The same connection again (the Python exporter keeps one), gzip as `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`.
        let zipped = try fixture.post(try Self.gzip(Proto.protobuf), encoding: "gzip", on: client)
        #expect(zipped.status == 200 && zipped.body.isEmpty, "\(zipped.status) \(zipped.text)")
        let json = try fixture.post(Array(Proto.json.utf8), type: "application/json; charset=utf-8")
        #expect(json.status == 200 && json.text == "{}" && json.header("Content-Type") == "application/json")
        let lines = fixture.documents(Self.traceID)
        #expect(lines.count == 6, "\(lines)")
        #expect(lines.filter { $0.contains(#""id":"0102030405060708""#) && !$0.contains("parent_id") }.count == 3)
        #expect(
            lines.filter {
                $0.contains(#""id":"090a0b0c0d0e0f10""#) && $0.contains(#""parent_id":"0102030405060708""#)
                    && $0.contains(#""fault":true"#)
            }.count == 3)
        #expect(fixture.receiver.counts == OTLPReceiver.Counts(acceptedSpans: 6))
        await fixture.close()
    }

    /// More connections than `maximumConnections`: each extra one is closed at once (before anything is read)
    /// and counted, while the connections held go on being served, and a new one is served once one of them
    /// closes.
    @Test func connectionsBeyondTheBoundAreClosedWhileServingGoesOn() async throws {
        let fixture = try Fixture(limits: OTLPReceiver.Limits(maximumConnections: 3))
        var held: [RawHTTPClient] = []
        for _ in 0..<3 {
            let client = try fixture.client()
            #expect(try fixture.post(Proto.protobuf, on: client).status == 200)
            held.append(client)
        }
        #expect(fixture.receiver.openConnections == 3)
        // Eight more at once: the kernel accepts them, the receiver closes each without reading.
        let extra = try (0..<8).map { _ in try fixture.client() }
        for client in extra {
            #expect(client.waitForData(seconds: 10), "closed at once, not left waiting")
            #expect(client.isClosedOrResetByPeer())
        }
        #expect(fixture.receiver.counts.refusedConnections == 8)
        #expect(fixture.receiver.openConnections == 3)
        for client in held {
            #expect(try fixture.post(Proto.protobuf, on: client).status == 200, "the held connections still serve")
        }
        held.removeLast()  // closes its socket
        let freed = await eventually(seconds: 10) { fixture.receiver.openConnections == 2 }
        #expect(freed)
        let fresh = try fixture.client()
        #expect(try fixture.post(Proto.protobuf, on: fresh).status == 200, "a new connection once one closed")
        #expect(fixture.receiver.counts == OTLPReceiver.Counts(acceptedSpans: 14, refusedConnections: 8))
        held.removeAll()
        await fixture.close()
    }

    @Test func badSpansAreRefusedOneByOneAsPartialSuccess() async throws {
        let fixture = try Fixture()
        let zeroID = Proto.span(id: Array(repeating: 0, count: 8), name: "bad", kind: 1, start: 1, end: 2)
        let shortTrace = Proto.span(id: Proto.childID, name: "short", kind: 1, start: 1, end: 2, traceID: [1, 2, 3])
        let good = Proto.span(
            id: Proto.rootID, name: "good", kind: 2, start: 1_700_000_000_000_000_000, end: 1_700_000_000_100_000_000)
        let response = try fixture.post(Proto.request(spans: [zeroID, good, shortTrace]))
        #expect(response.status == 200)
        // ExportTraceServiceResponse.partial_success (1) { rejected_spans (1) = 2; error_message (2) }.
        var reader = ProtobufReader(response.body[...])
        let partial = try #require(try reader.next())
        #expect(partial.number == 1)
        guard case .bytes(let inner) = partial.value else {
            Issue.record("partial_success is not a message")
            return
        }
        var fields = ProtobufReader(inner)
        let rejected = try #require(try fields.next())
        #expect(rejected.number == 1)
        if case .varint(let count) = rejected.value { #expect(count == 2) } else { Issue.record("\(rejected)") }
        let message = try #require(try fields.next())
        if case .bytes(let text) = message.value {
            #expect(String(decoding: text, as: UTF8.self).contains("spanId"))
        }
        #expect(fixture.documents(Self.traceID).count == 1)
        let json = try fixture.post(
            Array(
                #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"6553f100abababababababababababab","spanId":"zz","name":"x"}]}]}]}"#
                    .utf8), type: "application/json")
        #expect(json.status == 200 && json.text.hasPrefix(#"{"partialSuccess":{"rejectedSpans":"1","errorMessage":"#))
        #expect(fixture.receiver.counts == OTLPReceiver.Counts(acceptedSpans: 1, rejectedSpans: 3))
        await fixture.close()
    }

    @Test func refusalsFollowTheOTLPHTTPSpecification() async throws {
        let fixture = try Fixture(limits: OTLPReceiver.Limits(maximumBodyBytes: 4096))
        // 400: not protobuf (a field number 0), in protobuf; bad JSON, in JSON.
        let garbage = try fixture.post([0x00, 0x01, 0x02])
        #expect(garbage.status == 400 && garbage.header("Content-Type") == "application/x-protobuf")
        #expect(try Self.status(garbage.body).code == 3)
        let badJSON = try fixture.post(Array("[1,2".utf8), type: "application/json")
        #expect(badJSON.status == 400 && badJSON.text.hasPrefix(#"{"code":3,"message":"#), "\(badJSON.text)")
        // 415: another media type or content coding.
        let text = try fixture.post(Proto.protobuf, type: "text/plain")
        #expect(text.status == 415, "\(text.status)")
        #expect(try Self.status(text.body).message.contains("application/x-protobuf"))
        let brotli = try fixture.post(Proto.protobuf, encoding: "br")
        #expect(brotli.status == 415)
        // 413: a body over the limit (refused from its Content-Length, the connection closed), and a gzip body
        // whose inflated size is over it.
        let client = try fixture.client()
        let big = try fixture.post(Array(repeating: 0x0A, count: 5000), on: client)
        #expect(big.status == 413 && big.header("Connection") == "close")
        #expect(try Self.status(big.body).code == 11)
        let bomb = try Self.gzip(Array(repeating: 0, count: 100_000))
        #expect(bomb.count < 4096)
        let inflated = try fixture.post(bomb, encoding: "gzip")
        #expect(inflated.status == 413, "\(inflated.status) \(inflated.text)")
        let corrupt = try fixture.post(Array(try Self.gzip(Proto.protobuf).prefix(20)), encoding: "gzip")
        #expect(corrupt.status == 400)
        // 404, 405.
        #expect(try fixture.post(Proto.protobuf, path: "/v1/metrics").status == 404)
        let get = try fixture.client().request("GET", "/v1/traces", host: "127.0.0.1")
        #expect(get.status == 405 && get.header("Allow") == "POST")
        #expect(fixture.receiver.counts == OTLPReceiver.Counts(refusedRequests: 9), "\(fixture.receiver.counts)")
        // Still serving.
        #expect(try fixture.post(Proto.protobuf).status == 200)
        await fixture.close()
    }
}
