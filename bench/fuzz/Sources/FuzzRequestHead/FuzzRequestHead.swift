// libFuzzer target: what a client's bytes reach before anything is invoked. The bytes go, as raw HTTP/1.1, through
// the listener's HTTP codec (its own request decoder, `HTTP1RequestDecoder`, with NIO's response encoder,
// pipelining assistance and error handling) on an EmbeddedChannel; every request that comes out is checked against
// what the decoder promises (a token method, a visible-ASCII target, token field names, values without CR, LF or
// NUL), turned into an
// `ALBRequestHead` the way ALBRequestHandler does, checked by `ALBRequestCheck`, and, when it may proceed, encoded
// into the Lambda event by `ALBEventEncoder` with four sets of target-group attributes.
//
// Checks beyond "does not crash": a rejection has one of the ALB's statuses; an event is valid JSON (it is parsed
// back with ALBEvents' strict parser), an object whose `httpMethod` is the request's method and whose `path` is
// the one the listener rules see (`ALBRequestHead.originForm`, empty → `/`), with the header and query maps of the
// chosen mode.
import ALBEvents
import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import LoadBalancer

/// A fixed-seed generator, so that every run of an input takes the same path (libFuzzer needs determinism).
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fuzz/0123456789abcdef"
private let variants: [(ALBEventOptions, ALBConnectionInfo)] = [
    (
        ALBEventOptions(targetGroupArn: arn),
        ALBConnectionInfo(
            clientAddress: "203.0.113.7", clientPort: 50000,
            listenerPort: 80, isHTTPS: false)
    ),
    (
        ALBEventOptions(targetGroupArn: arn, multiValueHeaders: true, xffMode: .preserve, tlsHeaders: true),
        ALBConnectionInfo(
            clientAddress: "2001:db8::1", clientPort: 1, listenerPort: 443, isHTTPS: true,
            tlsProtocol: "TLSv1.3", tlsCipherSuite: "TLS_AES_128_GCM_SHA256")
    ),
    (
        ALBEventOptions(targetGroupArn: arn, xffMode: .remove, preserveHostHeader: true, dropInvalidHeaderFields: true),
        ALBConnectionInfo(clientAddress: "127.0.0.1", clientPort: 2, listenerPort: 8080, isHTTPS: false)
    ),
    (
        ALBEventOptions(targetGroupArn: arn, multiValueHeaders: true, xffClientPort: true, maximumRequestBodySize: 16),
        ALBConnectionInfo(clientAddress: "198.51.100.1", clientPort: 65535, listenerPort: 8443, isHTTPS: true)
    ),
]

/// Takes each request the codec produces, runs the ALB's checks and the event encoder on it, and answers it (so
/// that the pipelining handler lets the next one through).
private final class ALBTranslation: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var random = SplitMix(state: 1)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            checkDecoded(head)
            self.head = head
            body = nil
        case .body(var chunk):
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard let head else { fatalError("end without head") }
            self.head = nil
            translate(head)
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private func translate(_ head: HTTPRequestHead) {
        var headers: [(name: String, value: String)] = []
        for (name, value) in head.headers { headers.append((name, value)) }
        let albHead = ALBRequestHead(
            method: head.method.rawValue, uri: head.uri, headers: headers,
            requiresHost: head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1))
        if let rejection = ALBRequestCheck.rejection(for: albHead, options: ALBEventOptions(targetGroupArn: "")) {
            check([400, 405, 413, 463, 501].contains(rejection.status), "rejection \(rejection.status)")
            return
        }
        // What the listener rules see (ALBRequestHandler.requestFacts).
        let uri = ALBRequestHead.originForm(of: head.uri)
        let pathPart = uri.firstIndex(of: "?").map { uri[..<$0] } ?? uri
        let rulesPath = pathPart.isEmpty ? "/" : String(pathPart)
        for (options, connection) in variants {
            var event = ByteBuffer()
            do {
                _ = try ALBEventEncoder.encode(
                    head: albHead, body: body, connection: connection, options: options, now: 1_700_000_000,
                    random: &random, into: &event)
            } catch {
                check(error.status == 413 || error.status == 502, "encoder refusal \(error.status)")
                check(event.readableBytes == 0, "a refused event left bytes behind")
                continue
            }
            let parsed: JSONValue
            do {
                parsed = try JSONParser.parse(event)
            } catch {
                fatalError("event is not JSON: \(error): \(String(buffer: event))")
            }
            guard case .object(let object) = parsed else { fatalError("event is not an object") }
            check(object["httpMethod"] == .string(head.method.rawValue), "httpMethod")
            check(object["path"] == .string(rulesPath), "event path differs from the rules' path")
            let headerKey = options.multiValueHeaders ? "multiValueHeaders" : "headers"
            let queryKey = options.multiValueHeaders ? "multiValueQueryStringParameters" : "queryStringParameters"
            guard case .object(let map) = object[headerKey] else { fatalError("no \(headerKey)") }
            guard case .object = object[queryKey] else { fatalError("no \(queryKey)") }
            for member in map.members {
                check(member.key == member.key.lowercased(), "header name not lower-cased")
            }
            guard case .bool = object["isBase64Encoded"] else { fatalError("isBase64Encoded") }
            guard case .string = object["body"] else { fatalError("body") }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestHead(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let channel = EmbeddedChannel()
    do {
        try channel.pipeline.syncOperations.addHandlers([
            HTTPResponseEncoder(), ByteToMessageHandler(HTTP1RequestDecoder()), HTTPServerPipelineHandler(),
            HTTPServerProtocolErrorHandler(), ALBTranslation(),
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
    } catch {
        fatalError("pipeline: \(error)")
    }
    // Two writes, split in the middle, so that a head or body crossing reads is covered too.
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let half = size / 2
    for part in [bytes[..<half], bytes[half...]] where channel.isActive {
        do {
            try channel.writeInbound(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: part)))
        } catch {
            break  // The codec's error (the error handler has answered 400 and closed).
        }
    }
    while (try? channel.readOutbound(as: IOData.self)) != nil {}
    _ = try? channel.finish()
    // A close started inside the pipeline (the codec's error handler) tears the pipeline down in a task: run it,
    // or the channel, its handlers and the environment keep one another alive (LeakSanitizer reports it).
    channel.embeddedEventLoop.run()
    return 0
}

/// What `HTTP1RequestDecoder` promises of every head it lets through.
private func checkDecoded(_ head: HTTPRequestHead) {
    let method = head.method.rawValue.utf8
    check(!method.isEmpty && method.allSatisfy(isTokenByte), "method is not a token")
    check(!head.uri.isEmpty && head.uri.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target is not visible ASCII")
    check(head.version == .http1_1 || head.version == .http1_0, "version \(head.version)")
    for (name, value) in head.headers {
        check(!name.isEmpty && name.utf8.allSatisfy(isTokenByte), "field name is not a token")
        check(!value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }, "field value holds CR, LF or NUL")
        check(value.utf8.first != 0x20 && value.utf8.last != 0x20, "field value is not trimmed")
    }
    let lengths = head.headers["content-length"]
    check(lengths.count <= 1, "two Content-Length fields")
    check(lengths.isEmpty || !head.headers.contains(name: "transfer-encoding"), "Content-Length with Transfer-Encoding")
}

private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }
}

/// `precondition` with its message kept in release builds (libFuzzer's log then says what went wrong).
private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
