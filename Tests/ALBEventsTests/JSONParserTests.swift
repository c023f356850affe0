import ALBEvents
import Foundation
import NIOCore
import Testing

/// Accept and reject tables for the strict RFC 8259 parser.
@Suite struct JSONParserTests {
    static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try JSONParser.parse(ByteBuffer(bytes: bytes))
    }

    @Test(
        arguments: [
            ("null", JSONValue.null),
            ("true", .bool(true)),
            (" \t\r\nfalse \n", .bool(false)),
            ("0", .number(JSONNumber(text: "0"))),
            ("-0", .number(JSONNumber(text: "-0"))),
            ("-12.5e+3", .number(JSONNumber(text: "-12.5e+3"))),
            ("1E-7", .number(JSONNumber(text: "1E-7"))),
            ("123456789012345678901234567890", .number(JSONNumber(text: "123456789012345678901234567890"))),
            (#""""#, .string("")),
            (#""a\"b\\c\/d\b\f\n\r\t""#, .string("a\"b\\c/d\u{8}\u{C}\n\r\t")),
            (#""\u0041\u00e9\u20AC\ud83d\ude00""#, .string("Aé€😀")),
            (#""\u0000""#, .string("\u{0}")),
            ("\"é💥\u{7F}\"", .string("é💥\u{7F}")),
            ("[]", .array([])),
            (
                "[1, [2, {}], \"x\"]",
                .array([
                    .number(JSONNumber(text: "1")), .array([.number(JSONNumber(text: "2")), .object(JSONObject())]),
                    .string("x"),
                ])
            ),
            (
                #"{"a":1,"b":{"c":[null]}}"#,
                .object(
                    JSONObject([
                        ("a", .number(JSONNumber(text: "1"))), ("b", .object(JSONObject([("c", .array([.null]))]))),
                    ]))
            ),
            (#"{"a":1,"a":2}"#, .object(JSONObject([("a", .number(JSONNumber(text: "2")))]))),
            (
                #"{"a":1,"b":2,"a":3}"#,
                .object(JSONObject([("a", .number(JSONNumber(text: "3"))), ("b", .number(JSONNumber(text: "2")))]))
            ),
            (#" { "k" : "v" } "#, .object(JSONObject([("k", .string("v"))]))),
        ] as [(String, JSONValue)])
    func accepts(text: String, expected: JSONValue) throws {
        #expect(try Self.parse(Array(text.utf8)) == expected)
        #expect(try JSONParser.parse(text) == expected)
    }

    @Test(arguments: [
        "", " ", "nul", "nulll", "True", "NaN", "Infinity", "-Infinity", "undefined",
        "01", "-01", "00", "+1", ".5", "1.", "1.e3", "1e", "1e+", "-", "--1", "0x10", "1_000",
        "\"abc", "\"\\\"", "\"\\x41\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\"", "\"\\'\"", "\"\\a\"",
        "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"\\ud83dx\"", "\"\\ude00\\ud83d\"",
        "\"a\tb\"", "\"a\nb\"", "\"\u{1}\"", "'a'",
        "[1,]", "[,1]", "[1 2]", "[", "]", "[1", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
        "{a:1}", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "{1:2}", "[1]]", "{}}", "{} {}", "1 2", "null x", "\"a\"\"b\"",
        "/* c */ 1", "1 // c", "[1]\u{0}", "\u{C}1", "\u{A0}1",
    ])
    func rejectsText(text: String) {
        #expect(throws: JSONParseError.self, "\(text.debugDescription)") { try Self.parse(Array(text.utf8)) }
    }

    @Test(
        arguments: [
            [0xEF, 0xBB, 0xBF, 0x31],  // BOM
            [0x22, 0xFF, 0x22],  // invalid byte
            [0x22, 0xC0, 0xAF, 0x22],  // overlong '/'
            [0x22, 0xE0, 0x80, 0xAF, 0x22],  // overlong
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // encoded surrogate U+D800
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0xC3, 0x22],  // truncated
            [0x22, 0xE2, 0x82, 0x22],  // truncated
            [0x22, 0x80, 0x22],  // lone continuation
            [0x22, 0x5C, 0x6E, 0xFF, 0x22],  // invalid after an escape (slow path)
            [0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22],  // 5-byte form
            [0x7B, 0x22, 0x61, 0xFE, 0x22, 0x3A, 0x31, 0x7D],  // invalid in a key
        ] as [[UInt8]])
    func rejectsBytes(bytes: [UInt8]) {
        #expect(throws: JSONParseError.self) { try Self.parse(bytes) }
    }

    @Test func depthLimit() throws {
        let ok =
            String(repeating: "[", count: JSONParser.maximumDepth)
            + String(repeating: "]", count: JSONParser.maximumDepth)
        #expect(throws: Never.self) { try JSONParser.parse(ok) }
        let deep =
            String(repeating: "[", count: JSONParser.maximumDepth + 1)
            + String(repeating: "]", count: JSONParser.maximumDepth + 1)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let hostile = String(repeating: "{\"a\":", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(hostile) }
    }

    @Test func errorCarriesOffset() {
        do {
            _ = try JSONParser.parse("[1, 01]")
            Issue.record("accepted a leading zero")
        } catch {
            #expect(error.offset == 5)
            #expect(error.message.contains("leading zero"))
        }
    }

    @Test func integerClassification() {
        #expect(JSONNumber(text: "200").integerValue == 200)
        #expect(JSONNumber(text: "-3").integerValue == -3)
        #expect(JSONNumber(text: "200.0").integerValue == nil)
        #expect(JSONNumber(text: "2e2").isInteger == false)
        #expect(JSONNumber(text: "99999999999999999999").integerValue == nil)
    }

    @Test func largeObjectsKeepLastWinsAndOrder() throws {
        var members = (0..<500).map { #""k\#($0)":\#($0)"# }
        members += (0..<500).map { #""k\#($0)":"last\#($0)""# }
        guard case .object(let object) = try JSONParser.parse("{" + members.joined(separator: ",") + "}") else {
            Issue.record("not an object")
            return
        }
        #expect(object.count == 500)
        #expect(object["k0"] == .string("last0"))
        #expect(object["k499"] == .string("last499"))
        #expect(object.members.map(\.key) == (0..<500).map { "k\($0)" })
        #expect(object["nope"] == nil)
    }

    @Test func keysCompareByBytesNotCanonicalEquivalence() throws {
        // "é" precomposed and decomposed are equal as Swift Strings but are different JSON keys.
        guard case .object(let object) = try JSONParser.parse(#"{"\u00e9":1,"e\u0301":2}"#) else {
            Issue.record("not an object")
            return
        }
        #expect(object.count == 2)
    }

    /// Cross-check with Foundation on a generated document: both parsers agree on strings.
    @Test func agreesWithFoundationOnStrings() throws {
        var random = SeededGenerator(seed: 99)
        for _ in 0..<200 {
            let scalars = (0..<20).compactMap { _ -> Unicode.Scalar? in
                let pick = random.next() % 4
                let value: UInt32 =
                    switch pick {
                    case 0: UInt32(random.next() % 0x80)
                    case 1: UInt32(0x80 + random.next() % 0x780)
                    case 2: UInt32(0x800 + random.next() % 0xF800)
                    default: UInt32(0x10000 + random.next() % 0x100000)
                    }
                return Unicode.Scalar(value)
            }
            var string = ""
            string.unicodeScalars.append(contentsOf: scalars)
            var buffer = ByteBuffer()
            buffer.writeJSONString(string)
            let text = String(buffer: buffer)
            #expect(try JSONParser.parse(buffer) == .string(string))
            let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
            #expect((foundation as? String)?.unicodeScalars.elementsEqual(string.unicodeScalars) == true)
        }
    }
}

@Suite struct JSONStringWriterTests {
    @Test(arguments: [
        ("", #""""#),
        ("plain", #""plain""#),
        ("a\"b\\c/d", #""a\"b\\c/d""#),
        ("\u{8}\u{C}\n\r\t", #""\b\f\n\r\t""#),
        ("\u{0}\u{1}\u{1F}\u{7F}", #""\u0000\u0001\u001f\#u{7F}""#),
        ("é💥\u{2028}", "\"é💥\u{2028}\""),
    ])
    func escapes(input: String, expected: String) {
        var buffer = ByteBuffer()
        let written = buffer.writeJSONString(input)
        #expect(String(buffer: buffer) == expected)
        #expect(written == expected.utf8.count)
        var fromSubstring = ByteBuffer()
        fromSubstring.writeJSONString(("x" + input + "y").dropFirst().dropLast())
        #expect(String(buffer: fromSubstring) == expected)
    }

    @Test func validatingWriterRefusesInvalidUTF8() {
        var buffer = ByteBuffer(string: "keep")
        let invalid: [UInt8] = [0x61, 0xC3]
        let written = invalid.withUnsafeBytes { buffer.writeJSONString(utf8: $0) }
        #expect(written == nil)
        #expect(String(buffer: buffer) == "keep")
        let valid = Array("é\"".utf8)
        #expect(valid.withUnsafeBytes { buffer.writeJSONString(utf8: $0) } == 6)
        #expect(String(buffer: buffer) == "keep\"é\\\"\"")
    }
}
