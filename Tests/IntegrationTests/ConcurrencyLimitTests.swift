import AlbatrossTestKit
import Foundation
import InvocationModel
import NIOConcurrencyHelpers
import Testing

/// Concurrency controls through the whole server: reserved concurrency and provisioned concurrency from YAML,
/// throttles answered as the ALB (502, `LambdaThrottling`) and the control API (429 with its `Reason`) answer them.
@Suite(.serialized)
struct ConcurrencyLimitTests {
    final class Reasons: InvocationEventSubscriber {
        let interests: InvocationEvent.Kinds = [.responseWritten]
        private let seen = NIOLockedValueBox<[String]>([])
        func receive(_ events: [InvocationEvent]) {
            for event in events {
                if case .responseWritten(let written) = event.detail {
                    seen.withLockedValue { $0.append(written.albErrorReason ?? "-") }
                }
            }
        }
        var reasons: [String] { seen.withLockedValue { $0 } }
    }

    static let yaml = """
        dataDirectory: ./data
        api: {port: 0}
        environments:
          concurrentExecutions: 50
        functions:
          - {name: slow, runtime: provided.al2023, handler: h, code: ./slow, reservedConcurrentExecutions: 2}
          - {name: off, runtime: provided.al2023, handler: h, code: ./fast, reservedConcurrentExecutions: 0}
          - name: pc
            runtime: provided.al2023
            handler: h
            code: ./typed
            versions:
              - {version: 1, provisionedConcurrentExecutions: 1}
        targetGroups:
          - {name: slow-tg, function: slow}
          - {name: off-tg, function: off}
          - {name: pc-tg, function: "pc:1"}
        listeners:
          - port: 0
            defaultAction: {forward: slow-tg}
            rules:
              - {priority: 1, conditions: [{pathPattern: ["/off"]}], action: {forward: off-tg}}
              - {priority: 2, conditions: [{pathPattern: ["/pc"]}], action: {forward: pc-tg}}
        """

    /// Provisioned concurrency on an alias (AWS allows it on a version or on an alias that points at one): the
    /// alias's version gets the environment, initialised ahead, and a request through a target group that names
    /// the alias lands on it; the other version starts on demand.
    @Test func provisionedConcurrencyOnAnAliasServesTheAliasWarm() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Two code packages (AWS publishes no version that would not differ from the one before).
        for name in ["typed", "typed-two"] {
            try TestFunctions.writeBash(
                in: dir, name: name,
                handler: "# \(name)\n"
                    + TestFunctions.albResponse(
                        body: "$AWS_LAMBDA_INITIALIZATION_TYPE $AWS_LAMBDA_FUNCTION_VERSION $AWS_LAMBDA_LOG_STREAM_NAME"
                    ))
        }
        let yaml = """
            dataDirectory: ./data
            functions:
              - name: pc
                runtime: provided.al2023
                handler: h
                code: ./typed
                versions:
                  - {version: 1}
                  - {version: 2, code: ./typed-two}
                aliases:
                  - {name: live, version: "2", provisionedConcurrentExecutions: 1}
            targetGroups:
              - {name: live-tg, function: "pc:live"}
              - {name: one-tg, function: "pc:1"}
            listeners:
              - port: 0
                defaultAction: {forward: live-tg}
                rules:
                  - {priority: 1, conditions: [{pathPattern: ["/one"]}], action: {forward: one-tg}}
            """
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        let pool = try #require(server.application.invoker.pool(for: "pc", version: "2"))
        #expect(
            await eventually(seconds: 20) { pool.provisionedCounts.available == 1 },
            "initialised before any request: \(pool.provisionedCounts)")
        #expect(server.application.invoker.pool(for: "pc", version: "1")?.counts.total ?? 0 == 0)
        let client = try server.client()
        let first = try client.request("GET", "/")
        let second = try client.request("GET", "/")
        let other = try client.request("GET", "/one")
        await server.shutdown()
        #expect(first.status == 200 && first.text.hasPrefix("provisioned-concurrency 2 "), "\(first.text)")
        #expect(second.text == first.text, "the same provisioned environment: \(second.text)")
        #expect(other.text.hasPrefix("on-demand 1 "), "\(other.text)")
    }

    @Test func burstsAboveTheLimitsAreThrottledAsTheALBAndTheAPIAnswerThem() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "slow", handler: "sleep 1; " + TestFunctions.albResponse(body: "slow"))
        try TestFunctions.writeBash(in: dir, name: "fast", handler: TestFunctions.albResponse(body: "fast"))
        try TestFunctions.writeBash(
            in: dir, name: "typed", handler: TestFunctions.albResponse(body: "$AWS_LAMBDA_INITIALIZATION_TYPE"))
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        let reasons = Reasons()
        server.events.subscribe(reasons, name: "test")
        var apiPort: Int?
        for _ in 0..<3000 where apiPort == nil {
            apiPort = server.application.api?.port
            if apiPort == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let port = server.port

        // The provisioned environment is initialised before any request reaches it.
        let pool = try #require(server.invoker.pool(for: "pc", version: "1"))
        var ready = false
        for _ in 0..<200 where !ready {
            ready = pool.provisionedCounts.available == 1
            if !ready { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(ready, "\(pool.provisionedCounts)")
        let provisioned = try RawHTTPClient(port: port).request("GET", "/pc")
        #expect(provisioned.status == 200 && provisioned.text == "provisioned-concurrency", "\(provisioned)")

        // Five at once on a function with two reserved: two run, three are throttled at once.
        let started = Date()
        let statuses = try await onThreads(5) { _ in try RawHTTPClient(port: port).request("GET", "/slow").status }
        #expect(statuses.filter { $0 == 200 }.count == 2, "\(statuses)")
        #expect(statuses.filter { $0 == 502 }.count == 3, "\(statuses)")
        #expect(Date().timeIntervalSince(started) < 10, "throttles never hang")
        let off = try RawHTTPClient(port: port).request("GET", "/off")
        #expect(off.status == 502)

        // The control API: 429 TooManyRequestsException with the limit's Reason.
        let api = try RawHTTPClient(port: try #require(apiPort))
        let throttled = try api.request(
            "POST", "/2015-03-31/functions/off/invocations", body: Array("{}".utf8))
        #expect(throttled.status == 429)
        #expect(throttled.header("x-amzn-ErrorType")?.hasPrefix("TooManyRequestsException") == true, "\(throttled)")
        #expect(
            throttled.text.contains(#""Reason":"ReservedFunctionConcurrentInvocationLimitExceeded""#),
            "\(throttled.text)")
        #expect(throttled.text.contains(#""message":"Rate Exceeded.""#))

        await server.events.flush()
        #expect(reasons.reasons.filter { $0 == "LambdaThrottling" }.count == 4, "\(reasons.reasons)")
        await server.shutdown()
    }

    @Test func configurationRefusesReservationsThatLeaveTooLittleUnreserved() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "fast", handler: TestFunctions.albResponse(body: "fast"))
        let yaml = """
            dataDirectory: ./data
            environments: {concurrentExecutions: 100}
            functions:
              - {name: a, runtime: provided.al2023, handler: h, code: ./fast, reservedConcurrentExecutions: 60}
              - {name: b, runtime: provided.al2023, handler: h, code: ./fast, reservedConcurrentExecutions: 31}
            """
        do {
            _ = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
            Issue.record("the configuration was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("functions[1].reservedConcurrentExecutions"), "\(text)")
            #expect(text.contains("below its minimum value of [10]"), "\(text)")
        }
    }

    @Test func editingReservedConcurrencyAppliesWithoutARestart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "fast", handler: TestFunctions.albResponse(body: "fast pid=$$"))
        func yaml(_ reserved: String) -> String {
            """
            dataDirectory: ./data
            functions:
              - {name: fn, runtime: provided.al2023, handler: h, code: ./fast\(reserved)}
            targetGroups:
              - {name: fn-tg, function: fn}
            listeners:
              - port: 0
                defaultAction: {forward: fn-tg}
            """
        }
        try dir.write("test.yaml", yaml(""))
        let server = try await ServerHarness(yaml: yaml(""), baseDirectory: dir.path, watchesChanges: true)
        let port = server.port
        let first = try RawHTTPClient(port: port).request("GET", "/")
        #expect(first.status == 200 && first.text.hasPrefix("fast pid="), "\(first)")

        /// Asks until the status is `status` (the watcher polls once a second), within 30 s.
        func status(becomes status: Int) async throws -> RawHTTPClient.Response {
            var last = try RawHTTPClient(port: port).request("GET", "/")
            for _ in 0..<150 where last.status != status {
                try await Task.sleep(for: .milliseconds(200))
                last = try RawHTTPClient(port: port).request("GET", "/")
            }
            return last
        }
        try dir.write("test.yaml", yaml(", reservedConcurrentExecutions: 0"))
        let throttled = try await status(becomes: 502)
        #expect(throttled.status == 502, "reserved concurrency 0 applies on reload: \(throttled)")
        try dir.write("test.yaml", yaml(""))
        let again = try await status(becomes: 200)
        #expect(again.status == 200, "\(again)")
        #expect(again.text == first.text, "the warm environment was kept: a reservation restarts nothing")
        await server.shutdown()
    }
}
