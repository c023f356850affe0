import ALBEvents
import Foundation
import NIOCore
import Testing

/// SplitMix64: a small seeded generator so trace ids and shuffles are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Returns the given values in turn (then repeats), so expected trace ids can be written down by hand.
struct FixedGenerator: RandomNumberGenerator {
    var values: [UInt64]
    var position = 0
    init(_ values: [UInt64]) { self.values = values }
    mutating func next() -> UInt64 {
        defer { position = (position + 1) % values.count }
        return values[position]
    }
}

let testTG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lam/0123456789abcdef"
/// The reference's trace regex `^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`.
func isFreshRoot(_ value: String) -> Bool {
    value.wholeMatch(of: /Root=1-[0-9a-f]{8}-[0-9a-f]{24}/) != nil
}

func connection(
    port: Int = 80, https: Bool = false, client: String = "203.0.113.10", clientPort: Int = 50_123,
    tlsProtocol: String? = nil, tlsCipherSuite: String? = nil
) -> ALBConnectionInfo {
    ALBConnectionInfo(
        clientAddress: client, clientPort: clientPort, listenerPort: port, isHTTPS: https,
        tlsProtocol: tlsProtocol, tlsCipherSuite: tlsCipherSuite)
}

/// An encoded event, parsed back twice: by Foundation (is it JSON at all?) and by the module's own parser
/// (exact shape, key order).
struct Event {
    var text: String
    var trace: String
    var root: JSONObject

    subscript(key: String) -> JSONValue? { root[key] }

    var keys: [String] { root.members.map(\.key) }

    func stringMap(_ key: String) -> [String: String] {
        guard case .object(let map) = root[key] else { return [:] }
        var result: [String: String] = [:]
        for member in map.members {
            if case .string(let text) = member.value { result[member.key] = text }
        }
        return result
    }

    func arrayMap(_ key: String) -> [String: [String]] {
        guard case .object(let map) = root[key] else { return [:] }
        var result: [String: [String]] = [:]
        for member in map.members {
            if case .array(let elements) = member.value {
                result[member.key] = elements.compactMap { if case .string(let text) = $0 { text } else { nil } }
            }
        }
        return result
    }

    func mapKeys(_ key: String) -> [String] {
        guard case .object(let map) = root[key] else { return [] }
        return map.members.map(\.key)
    }

    var body: String? { if case .string(let text) = root["body"] { text } else { nil } }
    var isBase64Encoded: Bool? { if case .bool(let flag) = root["isBase64Encoded"] { flag } else { nil } }

    /// Headers of either mode as name → values.
    var headerValues: [String: [String]] {
        if root["multiValueHeaders"] != nil { return arrayMap("multiValueHeaders") }
        return stringMap("headers").mapValues { [$0] }
    }
}

func encodeEvent(
    method: String = "GET", uri: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
    options: ALBEventOptions = ALBEventOptions(targetGroupArn: testTG),
    connection info: ALBConnectionInfo = connection(),
    now: Int = 0x5BDB_40CA, seed: UInt64 = 42
) throws -> Event {
    let head = ALBRequestHead(method: method, uri: uri, headers: headers.map { (name: $0.0, value: $0.1) })
    var random = SeededGenerator(seed: seed)
    var buffer = ByteBufferAllocator().buffer(capacity: 0)
    let bodyBuffer = body.map { ByteBuffer(bytes: $0) }
    let trace = try ALBEventEncoder.encode(
        head: head, body: bodyBuffer, connection: info, options: options, now: now, random: &random, into: &buffer)
    let text = String(buffer: buffer)
    // Foundation must accept it as JSON, too.
    let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8))
    #expect(foundation is [String: Any])
    guard case .object(let root) = try JSONParser.parse(buffer) else {
        Issue.record("event is not a JSON object: \(text)")
        return Event(text: text, trace: trace, root: JSONObject())
    }
    return Event(text: text, trace: trace, root: root)
}

func options(
    multi: Bool = false, xff: XFFMode = .append, xffClientPort: Bool = false, preserveHost: Bool = false,
    dropInvalid: Bool = false, tls: Bool = false, maxBody: Int = 1_048_576
) -> ALBEventOptions {
    ALBEventOptions(
        targetGroupArn: testTG, multiValueHeaders: multi, xffMode: xff, xffClientPort: xffClientPort,
        preserveHostHeader: preserveHost, dropInvalidHeaderFields: dropInvalid, tlsHeaders: tls,
        maximumRequestBodySize: maxBody)
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
