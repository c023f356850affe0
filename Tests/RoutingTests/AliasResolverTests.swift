import LambdaModel
import Routing
import Testing

/// Weighted alias resolution: the statistics of independent draws, and sticky assignment's stability and
/// monotonicity.
struct AliasResolverTests {
    /// χ² with one degree of freedom; 10.83 is the 0.1 % critical value.
    static func chiSquare(observed: Int, total: Int, weight: Double) -> Double {
        let expectedA = Double(total) * weight
        let expectedB = Double(total) * (1 - weight)
        let a = Double(observed)
        let b = Double(total - observed)
        return (a - expectedA) * (a - expectedA) / expectedA + (b - expectedB) * (b - expectedB) / expectedB
    }

    @Test(arguments: [0.1, 0.25, 0.5, 0.9], [1, 42, 2026])
    func independentDrawsFollowTheWeight(weight: Double, seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let routing = AliasRouting(primaryVersion: "1", additionalVersion: "2", additionalWeight: weight)
        var additional = 0
        for _ in 0..<10_000
        where AliasResolver.version(for: routing, stickyKey: nil, salt: "f:live", random: &random) == "2" {
            additional += 1
        }
        #expect(Self.chiSquare(observed: additional, total: 10_000, weight: weight) < 10.83, "\(additional)")
    }

    @Test func noWeightOrWeightZeroAlwaysRunsThePrimary() {
        var random = SplitMix64(seed: 7)
        let none = AliasRouting(primaryVersion: "3")
        let zero = AliasRouting(primaryVersion: "3", additionalVersion: "4", additionalWeight: 0)
        for _ in 0..<1000 {
            #expect(AliasResolver.version(for: none, stickyKey: nil, salt: "s", random: &random) == "3")
            #expect(AliasResolver.version(for: zero, stickyKey: nil, salt: "s", random: &random) == "3")
        }
    }

    @Test func stickyKeysAlwaysLandOnTheSameVersion() {
        var random = SplitMix64(seed: 9)
        let routing = AliasRouting(
            primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.3, stickiness: .header("x-user"))
        for user in 0..<500 {
            let first = AliasResolver.version(for: routing, stickyKey: "user-\(user)", salt: "f:live", random: &random)
            for _ in 0..<5 {
                #expect(
                    AliasResolver.version(for: routing, stickyKey: "user-\(user)", salt: "f:live", random: &random)
                        == first)
            }
        }
    }

    @Test func stickyShareFollowsTheWeightAndIsMonotone() {
        var random = SplitMix64(seed: 11)
        let keys = (0..<10_000).map { "session-\($0)" }
        var previous = Set<String>()
        for weight in [0.0, 0.05, 0.1, 0.2, 0.5, 0.8, 1.0] {
            let routing = AliasRouting(
                primaryVersion: "1", additionalVersion: "2", additionalWeight: weight, stickiness: .cookie("sid"))
            let onCanary = Set(
                keys.filter {
                    AliasResolver.version(for: routing, stickyKey: $0, salt: "checkout:live", random: &random) == "2"
                })
            #expect(previous.isSubset(of: onCanary), "raising the weight to \(weight) moved a key back")
            if weight > 0 && weight < 1 {
                #expect(Self.chiSquare(observed: onCanary.count, total: keys.count, weight: weight) < 10.83)
            }
            previous = onCanary
        }
        #expect(previous.count == keys.count)
    }

    @Test func differentAliasesAssignIndependently() {
        let keys = (0..<2000).map { "k\($0)" }
        let a = keys.filter { AliasResolver.stickyPoint(key: $0, salt: "f:a") < 0.5 }
        let b = Set(keys.filter { AliasResolver.stickyPoint(key: $0, salt: "f:b") < 0.5 })
        let overlap = a.filter { b.contains($0) }.count
        #expect(overlap > 350 && overlap < 650, "about a quarter overlap, not all: \(overlap)")
    }

    @Test func stickyKeysComeFromHeadersCookiesOrThePeer() {
        let headers: [(name: String, value: String)] = [
            ("X-User", "alice"), ("Cookie", "theme=dark; sid=abc123"), ("cookie", "other=1"),
        ]
        #expect(AliasResolver.stickyKey(.header("x-user"), headers: headers, clientAddress: "10.0.0.1") == "alice")
        #expect(AliasResolver.stickyKey(.cookie("sid"), headers: headers, clientAddress: "") == "abc123")
        #expect(AliasResolver.stickyKey(.cookie("missing"), headers: headers, clientAddress: "") == nil)
        #expect(AliasResolver.stickyKey(.clientAddress, headers: [], clientAddress: "192.0.2.4") == "192.0.2.4")
        #expect(AliasResolver.stickyKey(.header("x-absent"), headers: headers, clientAddress: "") == nil)
        #expect(Stickiness("header:X-User") == .header("x-user"))
        #expect(Stickiness("cookie:sid") == .cookie("sid"))
        #expect(Stickiness("client-address") == .clientAddress)
        #expect(Stickiness("query:x") == nil)
    }
}
