import AlbatrossTestKit
import Foundation
import Testing

/// Five weighted target groups (the ALB's maximum) split 10,000 requests through a real listener within
/// statistical bounds (issue 13's tests). TargetGroupSelectionTests checks the draw itself with seeded
/// generators; this one runs the server's own unseeded draw on every request of four keep-alive connections, each
/// answered by a real function (Python under awslambdaric, a millisecond an invoke, so the run stays short).
struct WeightedSplitTests {
    static let weights = [("a", 10), ("b", 20), ("c", 50), ("d", 120), ("e", 300)]

    /// Pearson's chi-squared of `counts` against the shares `weights` give.
    static func chiSquared(_ counts: [String: Int], _ weights: [(String, Int)]) -> Double {
        let draws = Double(counts.values.reduce(0, +))
        let total = Double(weights.map(\.1).reduce(0, +))
        return weights.reduce(0.0) { sum, group in
            let expected = draws * Double(group.1) / total
            let observed = Double(counts[group.0, default: 0])
            return sum + (observed - expected) * (observed - expected) / expected
        }
    }

    /// The 0.01 % critical value for 4 degrees of freedom: P(χ² > x) = e^(−x/2)(1 + x/2) = 10⁻⁴ at x = 23.51. A
    /// correct split fails once in ten thousand runs; a wrong one (below) lands in the hundreds.
    static let bound = 23.51

    @Test func fiveWeightedGroupsSplitTenThousandRequestsThroughTheListener() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try dir.write(
            "py/app.py",
            """
            import os

            NAME = os.environ["AWS_LAMBDA_FUNCTION_NAME"]


            def handler(event, context):
                return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": NAME}
            """)
        let functions = Self.weights.map {
            "  - {name: \($0.0), runtime: python3.11, handler: app.handler, code: ./py}"
        }
        let groups = Self.weights.map { "  - {name: \($0.0), function: \($0.0)}" }
        let forward = Self.weights.map { "{name: \($0.0), weight: \($0.1)}" }.joined(separator: ", ")
        let yaml = """
            dataDirectory: ./data
            environments:
              pythonInterpreter: \(PackagePaths.venvPython)
            functions:
            \(functions.joined(separator: "\n"))
            targetGroups:
            \(groups.joined(separator: "\n"))
            listeners:
              - port: 0
                defaultAction:
                  forward:
                    targetGroups: [\(forward)]
            """
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        let port = server.port
        let started = Date()
        // Bounded in count (2,500 a connection) and in time (two minutes, then the rest is skipped and fails).
        let perConnection = try await onThreads(4) { _ -> [String: Int] in
            let client = try RawHTTPClient(port: port, timeout: 30)
            var counts: [String: Int] = [:]
            let deadline = Date().addingTimeInterval(120)
            for _ in 0..<2500 where Date() < deadline {
                let response = try client.request("GET", "/")
                counts[response.status == 200 ? response.text : "status \(response.status)", default: 0] += 1
            }
            return counts
        }
        let elapsed = Date().timeIntervalSince(started)
        await server.shutdown()
        let counts = perConnection.reduce(into: [String: Int]()) { $0.merge($1, uniquingKeysWith: +) }
        #expect(counts.values.reduce(0, +) == 10_000, "every request answered within two minutes: \(counts)")
        #expect(Set(counts.keys) == Set(Self.weights.map(\.0)), "only the five groups answered: \(counts)")
        let chiSquared = Self.chiSquared(counts, Self.weights)
        #expect(chiSquared < Self.bound, "\(counts): chi-squared \(chiSquared)")
        // The bound has power: the same counts against a split that swaps the two smallest weights fail it. (Its
        // expected statistic is about 300 with a wide spread, 221 was seen once: so the check is the bound itself,
        // not a multiple of it.)
        let wrong = [("a", 20), ("b", 10), ("c", 50), ("d", 120), ("e", 300)]
        #expect(Self.chiSquared(counts, wrong) > Self.bound, "\(counts)")
        print("WeightedSplitTests: 10,000 requests in \(String(format: "%.1f", elapsed)) s, chi-squared \(chiSquared)")
    }
}
