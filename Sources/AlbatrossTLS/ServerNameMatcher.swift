/// Picks the certificate for a TLS server name the way an ALB does: a certificate matches when one of its
/// subjectAltName DNS names equals the name or is a `*.` wildcard covering exactly one more label; among
/// matches ECDSA wins over RSA, then the longer key, then the later expiry, then list order; with no match
/// (or no SNI) the default certificate (index 0) is used. Pure and precomputed, as it runs per handshake.
struct ServerNameMatcher: Sendable {
    /// What the ranking looks at.
    struct Candidate: Sendable {
        var dnsNames: [String]
        var isECDSA: Bool
        var keyBits: Int
        var notAfter: Int64
    }

    private let candidates: [Candidate]
    private let exact: [String: Int]
    private let wildcard: [String: Int]  // keyed by the part after "*."

    init(_ candidates: [Candidate]) {
        self.candidates = candidates
        var exact: [String: Int] = [:]
        var wildcard: [String: Int] = [:]
        for (index, candidate) in candidates.enumerated() {
            for name in candidate.dnsNames {
                if name.hasPrefix("*.") {
                    let parent = String(name.dropFirst(2))
                    guard !parent.isEmpty, !parent.contains("*") else { continue }
                    wildcard[parent] = Self.better(wildcard[parent], index, in: candidates)
                } else if !name.contains("*") {
                    exact[name] = Self.better(exact[name], index, in: candidates)
                }
            }
        }
        self.exact = exact
        self.wildcard = wildcard
    }

    /// Index of the certificate to serve for `serverName` (nil: the client sent no SNI).
    func select(serverName: String?) -> Int {
        guard let serverName, !candidates.isEmpty else { return 0 }
        let name = Self.normalize(serverName)
        let exactMatch = exact[name]
        var wildcardMatch: Int?
        if let dot = name.firstIndex(of: "."), dot != name.startIndex {
            wildcardMatch = wildcard[String(name[name.index(after: dot)...])]
        }
        switch (exactMatch, wildcardMatch) {
        case (nil, nil): return 0
        case (let match?, nil), (nil, let match?): return match
        case (let left?, let right?): return Self.better(left, right, in: candidates)
        }
    }

    /// Lower case without a trailing dot: DNS names compare case-insensitively and "a.example." is "a.example".
    static func normalize(_ name: String) -> String {
        var lowered = name.lowercased()
        if lowered.hasSuffix(".") { lowered.removeLast() }
        return lowered
    }

    private static func better(_ current: Int?, _ challenger: Int, in candidates: [Candidate]) -> Int {
        guard let current else { return challenger }
        let a = candidates[current]
        let b = candidates[challenger]
        if a.isECDSA != b.isECDSA { return a.isECDSA ? current : challenger }
        if a.keyBits != b.keyBits { return a.keyBits > b.keyBits ? current : challenger }
        if a.notAfter != b.notAfter { return a.notAfter > b.notAfter ? current : challenger }
        return min(current, challenger)
    }
}
