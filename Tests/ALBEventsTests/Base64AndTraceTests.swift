import ALBEvents
import Foundation
import NIOCore
import Testing

@Suite struct Base64Tests {
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(ALBBase64.encode(Array(plain.utf8)) == encoded)
        #expect(ALBBase64.decode(encoded) == Array(plain.utf8))
        var buffer = ByteBuffer()
        ALBBase64.encode(ByteBuffer(string: plain), into: &buffer)
        #expect(String(buffer: buffer) == encoded)
    }

    @Test func roundTripsAgainstFoundation() {
        var random = SeededGenerator(seed: 5)
        for length in 0..<300 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let encoded = ALBBase64.encode(bytes)
            #expect(encoded == Data(bytes).base64EncodedString())
            #expect(ALBBase64.decode(encoded) == bytes)
            var buffer = ByteBuffer()
            let ok = Array(encoded.utf8).withUnsafeBytes { ALBBase64.decode($0, into: &buffer) }
            #expect(ok)
            #expect(Array(buffer.readableBytesView) == bytes)
        }
    }

    @Test(arguments: [
        "Zg", "Zg=", "Zm9", "Zg===", "Z===", "====", "Zm9v\n", "Zm9v\r\nYmFy", " Zm9v", "Zm 9v", "Zm9v=Zm9",
        "Zg==Zg==", "Zm9-", "Zm9_", "Zm9vYmFy=", "Zm9\u{0}",
    ])
    func strictRejects(encoded: String) {
        #expect(ALBBase64.decode(encoded) == nil, "\(encoded.debugDescription)")
        var buffer = ByteBuffer(string: "keep")
        let ok = Array(encoded.utf8).withUnsafeBytes { ALBBase64.decode($0, into: &buffer) }
        #expect(!ok)
        #expect(String(buffer: buffer) == "keep")
    }

    @Test func nonZeroTrailingBitsAreIgnored() {
        #expect(ALBBase64.decode("Zh==") == Array("f".utf8))
        #expect(ALBBase64.decode("Zm9=") == Array("fo".utf8))
    }
}

@Suite struct TraceIDTests {
    @Test func formatAndParse() throws {
        var random = FixedGenerator([0x0123_4567_89ab_cdef, 0xffff_ffff_dead_beef])
        let id = ALBTraceID.generate(epochSeconds: 0x5BDB_40CA, using: &random)
        #expect(id.description == "1-5bdb40ca-deadbeef0123456789abcdef")
        #expect(ALBTraceID(id.description) == id)
        #expect(ALBTraceID("1-5BDB40CA-DEADBEEF0123456789ABCDEF") == id)
        let small = ALBTraceID(epochSeconds: 1, randomHigh: 2, randomLow: 3)
        #expect(small.description == "1-00000001-000000020000000000000003")
    }

    @Test(arguments: [
        "", "1-5bdb40ca-deadbeef0123456789abcde", "2-5bdb40ca-deadbeef0123456789abcdef",
        "1-5bdb40cg-deadbeef0123456789abcdef", "1_5bdb40ca-deadbeef0123456789abcdef",
        "1-5bdb40ca-deadbeef0123456789abcdef0", "Root=1-5bdb40ca-deadbeef0123456789abcdef",
    ])
    func rejectsMalformed(text: String) {
        #expect(ALBTraceID(text) == nil)
    }

    @Test func rootExtraction() {
        #expect(
            ALBTraceHeader.root(
                of: "Self=1-11111111-222222222222222222222222;Root=1-67891233-abcdef012345678912345678")?
                .description == "1-67891233-abcdef012345678912345678")
        #expect(ALBTraceHeader.root(of: "Root=1-67891233-abcdef012345678912345678;x=y")?.epochSeconds == 0x6789_1233)
        #expect(ALBTraceHeader.root(of: "Self=1-11111111-222222222222222222222222") == nil)
        #expect(ALBTraceHeader.root(of: "Root=bad") == nil)
    }

    @Test func epochIsTruncatedTo32Bits() {
        var random = SeededGenerator(seed: 1)
        let id = ALBTraceID.generate(epochSeconds: 0x1_0000_0005, using: &random)
        #expect(id.epochSeconds == 5)
    }
}

@Suite struct ReasonPhraseTests {
    @Test(arguments: [
        (200, "OK"), (201, "Created"), (204, "No Content"), (301, "Moved Permanently"), (302, "Found"),
        (304, "Not Modified"), (400, "Bad Request"), (404, "Not Found"), (405, "Method Not Allowed"),
        (413, "Content Too Large"), (429, "Too Many Requests"), (500, "Internal Server Error"),
        (502, "Bad Gateway"), (504, "Gateway Timeout"), (463, ""), (999, ""),
    ])
    func phrases(status: Int, phrase: String) {
        #expect(HTTPReasonPhrase.phrase(for: status) == phrase)
    }
}
