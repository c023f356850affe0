public import LambdaModel

/// Picks the version a weighted alias runs for one invoke.
///
/// Without stickiness every invoke draws independently: the additional version with probability `weight`
/// (what AWS does). With stickiness the draw is replaced by a point in [0, 1) hashed from the caller's key, so
/// a caller always lands on the same version for a given weight, and the assignment is **monotone**: a key
/// goes to the additional version exactly when its point is below the weight, so raising the weight only ever
/// moves keys onto the additional version, never back.
///
/// The point is `fmix64(FNV-1a-64(salt ‖ 0x00 ‖ key)) >> 11` divided by 2⁵³. The salt is
/// `<function>:<alias>`, so different aliases assign independently, while one alias keeps a caller's point
/// across successive canaries (a user who saw the last canary at 10 % sees the next one at 10 % too).
/// Requests without the key fall back to an independent draw.
public enum AliasResolver {
    /// The version for one invoke.
    public static func version(
        for routing: AliasRouting, stickyKey: String?, salt: String, random: inout some RandomNumberGenerator
    ) -> String {
        guard let additional = routing.additionalVersion, routing.additionalWeight > 0 else {
            return routing.primaryVersion
        }
        let point: Double
        if routing.stickiness != nil, let stickyKey {
            point = stickyPoint(key: stickyKey, salt: salt)
        } else {
            point = Double(random.next() >> 11) / 9_007_199_254_740_992.0
        }
        return point < routing.additionalWeight ? additional : routing.primaryVersion
    }

    /// A key's fixed point in [0, 1).
    public static func stickyPoint(key: String, salt: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        for byte in salt.utf8 { mix(byte) }
        mix(0)
        for byte in key.utf8 { mix(byte) }
        // MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash = hash &* 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        return Double(hash >> 11) / 9_007_199_254_740_992.0
    }

    /// The caller's key for `stickiness`, taken from the request: a header's last value, a cookie's value, or the
    /// peer address. nil when the request does not carry it.
    public static func stickyKey(
        _ stickiness: Stickiness, headers: [(name: String, value: String)], clientAddress: String
    ) -> String? {
        switch stickiness {
        case .clientAddress:
            return clientAddress.isEmpty ? nil : clientAddress
        case .header(let name):
            return headers.last { Self.equalsIgnoringCase($0.name, name) }?.value
        case .cookie(let name):
            for header in headers.reversed() where Self.equalsIgnoringCase(header.name, "cookie") {
                for pair in header.value.split(separator: ";") {
                    let trimmed = pair.drop { $0 == " " }
                    guard let equals = trimmed.firstIndex(of: "=") else { continue }
                    if trimmed[..<equals] == name[...] { return String(trimmed[trimmed.index(after: equals)...]) }
                }
            }
            return nil
        }
    }

    /// ASCII case-insensitive equality (header names).
    private static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte }
        return a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { lower($0) == lower($1) }
    }
}
