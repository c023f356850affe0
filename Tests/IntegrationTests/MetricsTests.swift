import AdminServer
import AlbatrossTestKit
import Foundation
import Observability
import Testing

/// `GET /metrics` on the admin listener after a known mix of requests through real listeners and real runtimes:
/// exact counts and labels (observability.md §1.4, §2.3), `promtool check metrics`, and a scraper that dribbles
/// its request never slowing down serving.
@Suite(.serialized)
struct MetricsTests {
    /// A runtime that answers by path: `/fail` posts a function error, `/slow` overruns its 2 s timeout, `/sleep`
    /// takes 1.2 s, anything else answers 200 at once.
    static func writeTool(in dir: TemporaryDirectory) throws {
        let bootstrap = #"""
            #!/bin/bash
            API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            ok='{"statusCode":200,"body":"ok"}'
            while true; do
              HEADERS="$(mktemp)"
              EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next") || exit 1
              ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
              rm -f "$HEADERS"
              case "$EVENT" in
                *'"path":"/tool/fail"'*)
                  curl -sS -o /dev/null -H 'Lambda-Runtime-Function-Error-Type: Unhandled' \
                    --data-binary '{"errorMessage":"boom","errorType":"Boom"}' "$API/invocation/$ID/error"
                  continue ;;
                *'"path":"/tool/slow"'*) sleep 30 ;;
                *'"path":"/tool/sleep"'*) sleep 1.2 ;;
              esac
              curl -sS -o /dev/null --data-binary "$ok" "$API/invocation/$ID/response"
            done
            """#
        try dir.write("tool/bootstrap", bootstrap, executable: true)
        for label in ["one", "two"] {
            let handler = #"printf '{"statusCode":200,"body":"\#(label)"}'"#
            try TestFunctions.writeBash(in: dir, name: label, handler: handler)
        }
    }

    static let yaml = """
        dataDirectory: ./data
        randomSeed: 7
        loadBalancer:
          attributes:
            albatross.executed_version_header: X-Executed-Version
        functions:
          - {name: tool, runtime: provided.al2023, handler: h, code: ./tool, timeout: 2, maximumConcurrency: 1}
          - name: shop
            runtime: provided.al2023
            handler: h
            code: ./one
            versions:
              - {version: 1, code: ./one}
              - {version: 2, code: ./two}
            aliases:
              - {name: live, version: "1", weights: {"2": 0.5}}
        targetGroups:
          - {name: tool-tg, function: tool}
          - {name: live-tg, function: "shop:live"}
          - {name: empty-tg}
        listeners:
          - port: 0
            defaultAction: {forward: tool-tg}
            rules:
              - {priority: 1, conditions: [{pathPattern: ["/shop"]}], action: {forward: live-tg}}
              - {priority: 2, conditions: [{pathPattern: ["/empty"]}], action: {forward: empty-tg}}
        """

    /// Samples by series (`name{labels}` → value).
    static func samples(_ text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            result[String(line[..<space])] = value
        }
        return result
    }

    /// `promtool check metrics` on `text`: its exit status and output. Fails (does not skip) without promtool.
    static func promtool(_ text: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["promtool", "check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func aKnownMixIsCountedExactlyAndPassesPromtool() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeTool(in: dir)
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        let metrics = InvocationMetrics()
        metrics.attach(to: server.events)
        let admin = AdminServer(port: 0, pages: ["/metrics": .metrics(metrics)], group: server.group)
        let adminPort = try await admin.start()

        let client = try server.client()
        let cold = try client.request("GET", "/tool/ok")
        let warm = try client.request("GET", "/tool/ok")
        let failed = try client.request("GET", "/tool/fail")
        // Throttled: the one environment allowed is busy with /sleep.
        let pair = try await onThreads(2) { index -> Int in
            if index == 1 { usleep(400_000) }
            return try server.client().request("GET", index == 0 ? "/tool/sleep" : "/tool/ok").status
        }
        let timedOut = try client.request("GET", "/tool/slow")
        let tooLarge = try server.client().request(
            "POST", "/tool/ok", headers: [("Content-Type", "text/plain")],
            body: [UInt8](repeating: 97, count: 1_048_577))
        let noTarget = try client.request("GET", "/empty")
        var versions: [String: Int] = [:]
        for _ in 0..<10 {
            let response = try client.request("GET", "/shop")
            #expect(response.status == 200)
            versions[response.header("X-Executed-Version") ?? "?", default: 0] += 1
        }
        let statuses: [Int] = [cold.status, warm.status, failed.status, timedOut.status, pair[0], pair[1]]
        let expected: [Int] = [200, 200, 502, 502, 200, 502]
        #expect(statuses == expected, "ok, ok, fail, timeout, sleep, throttled")
        #expect(tooLarge.status == 413 && noTarget.status == 503)
        #expect(Set(versions.keys) == ["1", "2"], "seed 7 draws both versions: \(versions)")

        // The finished event of the last invoke is emitted a loop tick after its response (and a flush before it
        // was emitted does not wait for it): wait until every invoke is counted, the last /shop one included.
        let tool = #"function="tool",resource="",executed_version="$LATEST""#
        var text = ""
        for _ in 0..<50 {
            await server.events.flush()
            text = try RawHTTPClient(port: adminPort, timeout: 5).request("GET", "/metrics").text
            let counted = Self.samples(text)
            let shop = ["1", "2"].map {
                counted[
                    #"albatross_lambda_invocations_total{function="shop",resource="shop:live",executed_version="\#($0)"}"#
                ]
                    ?? 0
            }
            if counted["albatross_lambda_invocations_total{\(tool)}"] == 5 && shop.reduce(0, +) == 10 { break }
            usleep(100_000)
        }
        let scrape = try RawHTTPClient(port: adminPort, timeout: 5).request("GET", "/metrics")
        await admin.stop()
        await server.shutdown()
        #expect(scrape.status == 200)
        #expect(scrape.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let s = Self.samples(scrape.text)

        // Lambda: a throttle is neither an invocation nor an error; a timeout and a function error are both.
        #expect(s["albatross_lambda_invocations_total{\(tool)}"] == 5)
        #expect(s["albatross_lambda_errors_total{\(tool)}"] == 2)
        #expect(s["albatross_lambda_throttles_total{\(tool)}"] == 1)
        #expect(s["albatross_lambda_cold_starts_total{\(tool)}"] == 1)
        #expect(s["albatross_lambda_init_duration_seconds_count{\(tool)}"] == 1)
        #expect(s["albatross_lambda_duration_seconds_count{\(tool)}"] == 5)
        #expect(s["albatross_lambda_concurrent_executions{\(tool)}"] == 0)
        let timedOutDuration = (s["albatross_lambda_duration_seconds_sum{\(tool)}"] ?? 0)
        #expect(timedOutDuration >= 3.2, "1.2 s of /sleep and the 2 s timeout: \(timedOutDuration)")
        for version in ["1", "2"] {
            let live = #"function="shop",resource="shop:live",executed_version="\#(version)""#
            #expect(s["albatross_lambda_invocations_total{\(live)}"] == Double(versions[version] ?? -1))
            #expect(s["albatross_lambda_errors_total{\(live)}"] == 0)
            #expect(s["albatross_lambda_cold_starts_total{\(live)}"] == 1)
        }
        #expect(!s.keys.contains { $0.contains(#"resource="shop:1""#) }, "an alias invoke is not a version invoke")

        // ALB.
        let listener = "HTTP:\(server.port)"
        let toolTG = #"listener="\#(listener)",target_group="tool-tg""#
        let liveTG = #"listener="\#(listener)",target_group="live-tg""#
        #expect(s["albatross_alb_requests_total{\(toolTG)}"] == 6)
        #expect(s["albatross_alb_requests_total{\(liveTG)}"] == 10)
        #expect(s[#"albatross_alb_requests_total{listener="\#(listener)",target_group="empty-tg"}"#] == nil)
        #expect(s[#"albatross_alb_target_responses_total{\#(toolTG),class="2XX"}"#] == 3)
        #expect(s[#"albatross_alb_target_responses_total{\#(liveTG),class="2XX"}"#] == 10)
        #expect(s[#"albatross_alb_elb_responses_total{listener="\#(listener)",code="502"}"#] == 3)
        #expect(s[#"albatross_alb_elb_responses_total{listener="\#(listener)",code="413"}"#] == 1)
        #expect(s[#"albatross_alb_elb_responses_total{listener="\#(listener)",code="503"}"#] == 1)
        #expect(s["albatross_alb_lambda_user_errors_total{\(toolTG)}"] == 3)
        #expect(s[#"albatross_alb_lambda_user_errors_total{listener="\#(listener)",target_group=""}"#] == 1)
        #expect(s["albatross_alb_target_response_time_seconds_count{\(toolTG)}"] == 6)
        #expect(s[#"albatross_alb_rule_matches_total{listener="\#(listener)",rule="1"}"#] == 10)
        #expect(s[#"albatross_alb_rule_matches_total{listener="\#(listener)",rule="2"}"#] == 1)
        #expect((s[#"albatross_alb_response_body_bytes_total{listener="\#(listener)"}"#] ?? 0) > 0)
        #expect((s["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        #expect((s["process_open_fds"] ?? 0) > 3)

        let (status, output) = try Self.promtool(scrape.text)
        #expect(status == 0, "promtool check metrics: \(output)")
    }

    @Test func adminListenerAnswersOnlyMetricsAndBoundsRequests() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeTool(in: dir)
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        let metrics = InvocationMetrics()
        metrics.attach(to: server.events)
        let admin = AdminServer(
            port: 0, pages: ["/metrics": .metrics(metrics)], group: server.group,
            limits: .init(maximumRequestBytes: 4096, requestTimeout: .seconds(10), idleTimeout: .seconds(2)))
        let port = try await admin.start()
        #expect(port != server.port)
        let notFound = try RawHTTPClient(port: port, timeout: 5).request("GET", "/nope")
        let wrongMethod = try RawHTTPClient(port: port, timeout: 5).request("POST", "/metrics")
        let onALB = try server.client().request("GET", "/metrics")
        let huge = try RawHTTPClient(port: port, timeout: 5)
        try? huge.send("GET /metrics HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "b", count: 8000))\r\n\r\n")
        let hugeClosed = (try? huge.readResponse()) == nil
        let idle = try RawHTTPClient(port: port, timeout: 5)
        let start = Date()
        let idleClosed = idle.isClosedByPeer()
        let idleSeconds = Date().timeIntervalSince(start)

        // A scraper sending its request one byte per 100 ms (3.8 s in all) holds only its own connection. The
        // function is warmed first, so that no cold start is timed below.
        let client = try server.client()
        #expect(try client.request("GET", "/shop").status == 200)
        let slowRequest = Array("GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n".utf8)
        let slowThread = Task.detached { () -> Int in
            let slow = try RawHTTPClient(port: port, timeout: 15)
            for byte in slowRequest {
                try slow.send([byte])
                usleep(100_000)
            }
            return try slow.readResponse().status
        }
        var worst = 0.0
        for _ in 0..<10 {
            let begin = Date()
            #expect(try client.request("GET", "/shop").status == 200)
            #expect(try RawHTTPClient(port: port, timeout: 5).request("GET", "/metrics").status == 200)
            worst = max(worst, Date().timeIntervalSince(begin))
            usleep(200_000)
        }
        let slowStatus = try await slowThread.value
        await admin.stop()
        await server.shutdown()

        #expect(notFound.status == 404)
        #expect(wrongMethod.status == 405 && wrongMethod.header("Allow") == "GET")
        #expect(onALB.status == 200 && onALB.text == "ok", "/metrics is no route of the ALB listener")
        #expect(hugeClosed, "a request over the byte budget closes the connection")
        #expect(idleClosed && idleSeconds >= 1.5 && idleSeconds < 4.5, "idle for \(idleSeconds) s")
        #expect(slowStatus == 200)
        // Waiting for the slow scraper would take up to its 3.8 s; a loaded machine (tests in parallel) takes ~1.5 s.
        #expect(worst < 2.5, "a request and a scrape took \(worst) s while the slow scraper dribbled")
    }
}
