/// An IPv4 or IPv6 address parsed from text, as the 128-bit value source-ip conditions compare.
///
/// Written by hand because the module stays free of Foundation and of socket APIs. IPv4 addresses are kept as
/// IPv4 (not mapped), and a peer address in the IPv4-mapped IPv6 form (`::ffff:192.0.2.1`) is unmapped before
/// comparison so that an IPv4 CIDR still matches a dual-stack socket's peer.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// IPv4 and IPv6 addresses never match each other's blocks.
    public enum Family: Sendable, Hashable { case v4, v6 }

    public let family: Family
    /// The address bits, left-aligned in 128 bits (an IPv4 address occupies the top 32 bits of `high`).
    public let high: UInt64
    public let low: UInt64

    public var description: String {
        switch family {
        case .v4:
            let value = UInt32(truncatingIfNeeded: high >> 32)
            return "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)"
        case .v6:
            var groups: [String] = []
            for word in [high, low] {
                for shift in stride(from: 48, through: 0, by: -16) {
                    groups.append(String((word >> UInt64(shift)) & 0xffff, radix: 16))
                }
            }
            return groups.joined(separator: ":")
        }
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` compression and an optional trailing dotted
    /// quad). A zone suffix (`%eth0`) is ignored. Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        var text = Substring(text)
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        if text.contains(":") {
            guard let (high, low) = Self.parseV6(text) else { return nil }
            // IPv4-mapped: ::ffff:a.b.c.d
            if high == 0 && low >> 32 == 0xffff {
                self.init(v4: UInt32(truncatingIfNeeded: low))
            } else {
                self.init(family: .v6, high: high, low: low)
            }
        } else {
            guard let value = Self.parseV4(text) else { return nil }
            self.init(v4: value)
        }
    }

    init(v4 value: UInt32) {
        self.init(family: .v4, high: UInt64(value) << 32, low: 0)
    }

    init(family: Family, high: UInt64, low: UInt64) {
        self.family = family
        self.high = high
        self.low = low
    }

    /// Whether the first `prefixLength` bits of both addresses agree.
    func sharesPrefix(with other: IPAddress, length prefixLength: Int) -> Bool {
        guard family == other.family else { return false }
        if prefixLength <= 0 { return true }
        if prefixLength <= 64 {
            let mask: UInt64 = prefixLength == 64 ? ~0 : ~(~0 >> UInt64(prefixLength))
            return high & mask == other.high & mask
        }
        guard high == other.high else { return false }
        let bits = prefixLength - 64
        let mask: UInt64 = bits >= 64 ? ~0 : ~(~0 >> UInt64(bits))
        return low & mask == other.low & mask
    }

    static func parseV4(_ text: Substring) -> UInt32? {
        var value: UInt32 = 0
        var octets = 0
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.utf8.count <= 3, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let octet = UInt32(part), octet <= 255
            else { return nil }
            // Leading zeros are ambiguous (octal in some parsers); refuse them.
            if part.utf8.count > 1 && part.utf8.first == UInt8(ascii: "0") { return nil }
            value = value << 8 | octet
            octets += 1
        }
        return octets == 4 ? value : nil
    }

    static func parseV6(_ text: Substring) -> (UInt64, UInt64)? {
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawCompression = false
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        if halves.count == 2 { sawCompression = true }
        func groups(_ part: Substring, allowV4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowV4 && index == pieces.count - 1 && piece.contains(".") {
                    guard let v4 = parseV4(piece) else { return nil }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xffff))
                } else {
                    guard !piece.isEmpty, piece.utf8.count <= 4, let group = UInt16(piece, radix: 16) else {
                        return nil
                    }
                    result.append(group)
                }
            }
            return result
        }
        guard let first = groups(halves[0], allowV4: !sawCompression) else { return nil }
        head = first
        if sawCompression {
            guard let second = groups(halves[1], allowV4: true) else { return nil }
            tail = second
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard head.count == 8 else { return nil }
        }
        let all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        var high: UInt64 = 0
        var low: UInt64 = 0
        for group in all[0..<4] { high = high << 16 | UInt64(group) }
        for group in all[4..<8] { low = low << 16 | UInt64(group) }
        return (high, low)
    }
}

/// A CIDR block of a source-ip condition (`192.0.2.0/24`, `2001:db8::/32`).
public struct IPAddressBlock: Sendable, Hashable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    public var description: String { "\(network)/\(prefixLength)" }

    /// Parses `address/prefix`; the prefix is required (as in ALB) and must fit the family.
    public init?(_ text: some StringProtocol) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        let addressText = text[..<slash]
        let prefixText = text[text.index(after: slash)...]
        // The address of a block is written in plain form; the mapped form would silently change families.
        guard let network = IPAddress(addressText),
            prefixText.utf8.count <= 3, prefixText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let prefix = Int(prefixText)
        else { return nil }
        let isV6Text = addressText.contains(":")
        guard prefix <= (isV6Text ? 128 : 32) else { return nil }
        if isV6Text && network.family == .v4 {
            // ::ffff:a.b.c.d/n written as IPv6: keep it as the IPv4 block it denotes.
            guard prefix >= 96 else { return nil }
            self.prefixLength = prefix - 96
        } else {
            self.prefixLength = prefix
        }
        self.network = network
    }

    /// Whether `address` lies inside the block.
    public func contains(_ address: IPAddress) -> Bool {
        network.sharesPrefix(with: address, length: prefixLength)
    }
}

extension Substring {
    /// Splits at the first `::` (IPv6 compression); a second `::` yields three parts, which callers reject.
    fileprivate func components(separatedByDoubleColon: ()) -> [Substring] {
        var parts: [Substring] = []
        var start = startIndex
        var index = startIndex
        while index < endIndex {
            let next = self.index(after: index)
            if self[index] == ":" && next < endIndex && self[next] == ":" {
                parts.append(self[start..<index])
                start = self.index(after: next)
                index = start
                continue
            }
            index = next
        }
        parts.append(self[start..<endIndex])
        return parts
    }
}
