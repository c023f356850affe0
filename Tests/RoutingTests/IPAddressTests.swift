import Testing

@testable import Routing

struct IPAddressTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "0:0:0:0:0:0:0:1"),
        ("2001:db8::8:800:200c:417a", "2001:db8:0:0:8:800:200c:417a"),
        ("::ffff:192.0.2.1", "192.0.2.1"),  // mapped addresses are unmapped
        ("fe80::1%eth0", "fe80:0:0:0:0:0:0:1"),
        ("::", "0:0:0:0:0:0:0:0"),
    ])
    func parses(_ text: String, _ expected: String) {
        #expect(IPAddress(text)?.description == expected)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1::2::3", "12345::", "g::1", "1:2:3:4:5:6:7:8:9",
    ])
    func rejects(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    struct BlockCase: Sendable, CustomTestStringConvertible {
        var block: String
        var address: String
        var contains: Bool
        var testDescription: String { "\(block) ∋ \(address) = \(contains)" }
    }

    @Test(arguments: [
        BlockCase(block: "127.0.0.0/8", address: "127.1.2.3", contains: true),
        BlockCase(block: "127.0.0.0/8", address: "128.0.0.1", contains: false),
        BlockCase(block: "10.0.0.0/31", address: "10.0.0.1", contains: true),
        BlockCase(block: "10.0.0.0/31", address: "10.0.0.2", contains: false),
        BlockCase(block: "0.0.0.0/0", address: "203.0.113.10", contains: true),
        BlockCase(block: "0.0.0.0/0", address: "::1", contains: false),  // families never mix
        BlockCase(block: "192.0.2.0/24", address: "::ffff:192.0.2.77", contains: true),
        BlockCase(block: "::1/128", address: "::1", contains: true),
        BlockCase(block: "::1/128", address: "::2", contains: false),
        BlockCase(block: "2001:db8::/32", address: "2001:db8:ffff::1", contains: true),
        BlockCase(block: "2001:db8::/32", address: "2001:db9::1", contains: false),
        BlockCase(block: "2001:db8::/96", address: "2001:db8::ffff:1", contains: true),
        BlockCase(block: "2001:db8::/97", address: "2001:db8::8000:1", contains: false),
        BlockCase(block: "::/0", address: "2001:db8::1", contains: true),
    ])
    func blockContains(_ example: BlockCase) throws {
        let block = try #require(IPAddressBlock(example.block))
        let address = try #require(IPAddress(example.address))
        #expect(block.contains(address) == example.contains)
    }

    @Test(arguments: ["10.0.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/x", "nope/8"])
    func rejectsBlocks(_ text: String) {
        #expect(IPAddressBlock(text) == nil)
    }
}
