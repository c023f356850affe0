import AlbatrossTestKit
import Foundation
import Testing

/// Load-balancer attributes and forward actions as a client of a real `albatross serve` sees them: multi-value
/// header order, the X-Forwarded-For modes, the listener idle timeout, and weighted forwarding across target
/// groups.
@Suite(.serialized)
struct ServeListenerTests {
    /// Answers with the event it received (base64 in the body, decoded by the ALB) and three values of one
    /// header in multi-value mode; `/slow` first sleeps 1.5 s.
    static func writeEchoFunction(in dir: TemporaryDirectory) throws {
        let handler = #"""
            case "$1" in *'"path":"/slow"'*) sleep 1.5 ;; esac
            BODY=$(printf '%s' "$1" | base64 -w0)
            printf '{"statusCode":200,"isBase64Encoded":true,"multiValueHeaders":{"Content-Type":["application/json"],"X-Order":["first","second","third"]},"body":"%s"}' "$BODY"
            """#
        try TestFunctions.writeBash(in: dir, name: "echo", handler: handler)
    }

    static func start(attributes: [String], in dir: TemporaryDirectory) async throws -> ServeProcess {
        try writeEchoFunction(in: dir)
        let lines = attributes.map { "    \($0)" }.joined(separator: "\n")
        let config = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            loadBalancer:
              attributes:
            \(attributes.isEmpty ? "    {}" : lines)
            functions:
              - {name: echo, runtime: provided.al2023, handler: h, code: ./echo, timeout: 10}
            targetGroups:
              - {name: echo-tg, function: echo, multiValueHeaders: true}
            listeners:
              - port: 0
                defaultAction: {forward: echo-tg}
            """)
        return try await ServeProcess.start(configPath: config)
    }

    struct HeaderCase: Sendable, CustomTestStringConvertible {
        var attributes: [String]
        /// The response's `X-Order` lines, in order.
        var order: [String]
        /// The event's `x-forwarded-for` values (nil: absent); `<client>` stands for `127.0.0.1:<client port>`.
        var forwardedFor: [String]?
        var testDescription: String { attributes.isEmpty ? "defaults" : attributes.joined(separator: ", ") }
    }

    static let incoming = [("X-Forwarded-For", "203.0.113.1"), ("X-Forwarded-For", "198.51.100.2, 192.0.2.3")]

    @Test(arguments: [
        // Defaults: XFF appended, repeated header lines reversed (what ALB appears to do, alb-lambda.md §2.3).
        HeaderCase(
            attributes: [], order: ["third", "second", "first"],
            forwardedFor: ["203.0.113.1, 198.51.100.2, 192.0.2.3, 127.0.0.1"]),
        HeaderCase(
            attributes: [
                "routing.http.xff_header_processing.mode: append", "routing.http.xff_client_port.enabled: true",
                "albatross.multi_value_header_order: preserve",
            ],
            order: ["first", "second", "third"], forwardedFor: ["203.0.113.1, 198.51.100.2, 192.0.2.3, <client>"]),
        HeaderCase(
            attributes: [
                "routing.http.xff_header_processing.mode: preserve", "albatross.multi_value_header_order: reverse",
            ],
            order: ["third", "second", "first"], forwardedFor: ["203.0.113.1", "198.51.100.2, 192.0.2.3"]),
        HeaderCase(
            attributes: [
                "routing.http.xff_header_processing.mode: remove", "albatross.multi_value_header_order: preserve",
            ],
            order: ["first", "second", "third"], forwardedFor: nil),
    ])
    func headerOrderAndForwardedForThroughAListener(_ expected: HeaderCase) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try await Self.start(attributes: expected.attributes, in: dir)
        defer { server.cleanUp() }
        let response = try RawHTTPClient(port: server.port).request("GET", "/h", headers: Self.incoming)
        #expect(response.status == 200, "\(response.text)")
        #expect(response.headers("X-Order") == expected.order)
        let event = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        let headers = event?["multiValueHeaders"] as? [String: [String]] ?? [:]
        let forwarded = headers["x-forwarded-for"]
        if let last = expected.forwardedFor?.last, last.hasSuffix("<client>") {
            let value = try #require(forwarded?.first)
            #expect(forwarded?.count == 1)
            #expect(
                value.wholeMatch(of: #/203\.0\.113\.1, 198\.51\.100\.2, 192\.0\.2\.3, 127\.0\.0\.1:\d{1,5}/#) != nil,
                "\(value)")
        } else {
            #expect(forwarded == expected.forwardedFor, "\(headers)")
        }
        #expect(headers["x-forwarded-proto"] == ["http"] && headers["x-forwarded-port"] == [String(server.port)])
        let stopped = await server.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }

    @Test func idleConnectionsAreClosedAfterTheIdleTimeoutAndBusyOnesAreNot() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try await Self.start(attributes: ["idle_timeout.timeout_seconds: 1"], in: dir)
        defer { server.cleanUp() }

        // An idle connection: closed by the server about a second after its last response. Measured on a thread
        // of its own, so that a busy cooperative pool cannot delay the reading.
        let port = server.port
        let (status, closed, idleFor) = try await offPool {
            let idle = try RawHTTPClient(port: port, timeout: 15)
            let status = try idle.request("GET", "/a").status
            let quiet = Date()
            let closed = idle.isClosedByPeer()
            return (status, closed, Date().timeIntervalSince(quiet))
        }
        #expect(status == 200)
        #expect(closed, "the idle connection was closed")
        // 1 s configured: not at once (0.5 s of slack for reading the response late), and well before the
        // client's own 15 s timeout (a busy machine delays the timer by far less than 4 s).
        #expect(idleFor >= 0.5 && idleFor < 5, "closed after \(idleFor) s of idleness")

        // A connection in use more often than once a second stays open longer than the timeout.
        let (statuses, inUse) = try await offPool {
            let active = try RawHTTPClient(port: port, timeout: 15)
            let started = Date()
            var statuses: [Int] = []
            for index in 0..<6 {
                statuses.append(try active.request("GET", "/active/\(index)").status)
                usleep(300_000)
            }
            return (statuses, Date().timeIntervalSince(started))
        }
        #expect(statuses == Array(repeating: 200, count: 6))
        #expect(inUse > 1.5, "in use for longer than the idle timeout")

        // A request that takes longer than the idle timeout is answered, not cut off.
        let slow = try await offPool { try RawHTTPClient(port: port, timeout: 15).request("GET", "/slow") }
        #expect(slow.status == 200)
        let event = try JSONSerialization.jsonObject(with: Data(slow.body)) as? [String: Any]
        #expect(event?["path"] as? String == "/slow")
        let stopped = await server.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }

    @Test func weightedForwardSplitsRequestsAcrossTargetGroupsInProportion() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // A lean runtime (two curl calls per invoke, the rest in bash) that answers with its target group's name.
        let bootstrap = #"""
            #!/bin/bash
            API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            HEADERS="$LAMBDA_TASK_ROOT/headers.$$"
            while true; do
              EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next") || exit 1
              while IFS=': ' read -r NAME VALUE; do
                [[ ${NAME,,} == lambda-runtime-aws-request-id ]] && ID=${VALUE%$'\r'}
              done < "$HEADERS"
              [[ $EVENT =~ :targetgroup/([a-z]+)/ ]] && GROUP=${BASH_REMATCH[1]}
              curl -sS -o /dev/null --data-binary "{\"statusCode\":200,\"body\":\"$GROUP\"}" "$API/invocation/$ID/response"
            done
            """#
        try dir.write("which/bootstrap", bootstrap, executable: true)
        let config = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            functions:
              - {name: which, runtime: provided.al2023, handler: h, code: ./which}
            targetGroups:
              - {name: blue, function: which}
              - {name: green, function: which}
              - {name: never, function: which}
            listeners:
              - port: 0
                defaultAction:
                  forward:
                    targetGroups: [{name: blue, weight: 1}, {name: green, weight: 3}, {name: never, weight: 0}]
            """)
        let server = try await ServeProcess.start(configPath: config)
        defer { server.cleanUp() }
        let port = server.port
        let perClient = 100
        let seen = try await onThreads(2) { _ in
            let client = try RawHTTPClient(port: port)
            return try (0..<perClient).map { _ in try client.request("GET", "/").text }
        }.flatMap { $0 }
        var counts: [String: Int] = [:]
        for name in seen { counts[name, default: 0] += 1 }
        #expect(Set(counts.keys).isSubset(of: ["blue", "green"]), "\(counts)")
        #expect(counts["never"] == nil, "weight 0 is never picked")
        // Weights 1:3 over 200 independent draws: green ~ Binomial(200, 0.75), mean 150, σ ≈ 6.1. ±5σ fails a
        // correct split about once in 1.7 million runs, and a 1:1 split (mean 100) always.
        let green = counts["green"] ?? 0
        #expect(seen.count == 2 * perClient)
        #expect(green >= 120 && green <= 180, "green \(green) of \(seen.count): \(counts)")
        let stopped = await server.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }
}
