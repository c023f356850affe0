import AlbatrossTestKit
import Environments
import Foundation
import Invocation
import InvocationModel
import LambdaModel
import Testing

/// The Runtime API contract (runtime-api.md §1, §6.5) as a runtime sees it, probed with curl from inside a real
/// environment: the bootstrap records what the API answered and returns it as its result.
@Suite(.serialized)
struct RuntimeAPITests {
    /// Runs one invoke; also returns the wall-clock window (epoch ms) in which the event was delivered.
    static func run(bootstrap: String) async throws -> (InvocationOutcome, TemporaryDirectory) {
        let (outcome, dir, _) = try await runTimed(bootstrap: bootstrap)
        return (outcome, dir)
    }

    static func runTimed(
        bootstrap: String
    ) async throws
        -> (InvocationOutcome, TemporaryDirectory, ClosedRange<Int64>)
    {
        let dir = try TemporaryDirectory()
        try dir.write("probe/bootstrap", bootstrap, executable: true)
        let function = FunctionConfiguration(
            name: "probe", runtime: Runtime(identifier: "provided.al2023")!, handler: "h",
            code: .directory(dir.url("probe")), timeout: 5)
        let harness = try InvokerHarness(functions: [function], dataDirectory: dir.url("data"))
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let outcome = try await harness.invoke("probe", #"{"hello":"runtime"}"#)
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        try await harness.shutdown()
        return (outcome, dir, before...after)
    }

    @Test func nextCarriesEveryMandatoryHeaderAndTheEventUnchanged() async throws {
        let bootstrap = #"""
            #!/bin/bash
            API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            H=$(mktemp)
            EVENT=$(curl -sS -D "$H" "$API/invocation/next")
            ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$H" | tr -d '[:space:]' | cut -d: -f2)
            REPORT=$( (cat "$H"; printf 'EVENT:%s' "$EVENT") | base64 -w0)
            curl -sS -o /dev/null --data-binary "\"$REPORT\"" "$API/invocation/$ID/response"
            sleep 5
            """#
        let (outcome, dir, window) = try await Self.runTimed(bootstrap: bootstrap)
        defer { dir.remove() }
        let encoded = String(outcome.text.dropFirst().dropLast())
        let text = String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        func header(_ name: String) -> String? {
            lines.first { $0.lowercased().hasPrefix(name.lowercased() + ":") }.map {
                String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces)
            }
        }
        #expect(lines.first == "HTTP/1.1 200 OK")
        #expect(header("Content-Type") == "application/json")
        #expect(header("Lambda-Runtime-Aws-Request-Id") == outcome.requestID)
        #expect(header("Lambda-Runtime-Invoked-Function-Arn") == "arn:aws:lambda:us-east-1:123456789012:function:probe")
        let deadline = try #require(header("Lambda-Runtime-Deadline-Ms").flatMap { Int64($0) })
        // Delivery happened inside the invoke's window; the deadline is delivery + the 5 s timeout, in epoch ms.
        #expect(
            deadline >= window.lowerBound + 5000 - 5 && deadline <= window.upperBound + 5000 + 5,
            "deadline \(deadline) outside \(window) + 5000 ms")
        #expect(
            header("Lambda-Runtime-Trace-Id")?.wholeMatch(
                of: #/Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0/#) != nil)
        #expect(text.hasSuffix(#"EVENT:{"hello":"runtime"}"#))
    }

    @Test func postsAreCheckedAndAnsweredLikeRAPID() async throws {
        // Records the status of each call; the final response carries the list.
        let bootstrap = #"""
            #!/bin/bash
            API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            s() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
            R=""
            H=$(mktemp)
            curl -sS -D "$H" -o /dev/null "$API/invocation/next"
            ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$H" | tr -d '[:space:]' | cut -d: -f2)
            R="$R wrongid=$(s --data-binary '{}' "$API/invocation/not-the-id/response")"
            R="$R initerror=$(s --data-binary '{}' "$API/init/error")"
            R="$R unknown=$(s "$API/nonsense")"
            R="$R method=$(s -X DELETE "$API/invocation/next")"
            head -c 6291557 /dev/zero > "$H.big"
            R="$R toolarge=$(s -H 'Content-Type: application/octet-stream' --data-binary @"$H.big" "$API/invocation/$ID/error-probe")"
            R="$R ping=$(curl -s "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/ping")"
            # A chunked post is read completely before it is answered.
            curl -s -o /dev/null -H 'Transfer-Encoding: chunked' --data-binary "\"statuses:$R\"" "$API/invocation/$ID/response"
            sleep 5
            """#
        let (outcome, dir) = try await Self.run(bootstrap: bootstrap)
        defer { dir.remove() }
        #expect(outcome.functionError == nil)
        let statuses = outcome.text
        #expect(statuses.contains("wrongid=400"), "\(statuses)")
        #expect(statuses.contains("initerror=403"), "init/error after /next is an invalid state transition")
        #expect(statuses.contains("unknown=404"))
        #expect(statuses.contains("method=405"))
        #expect(statuses.contains("toolarge=413"))
        #expect(statuses.contains("ping=pong"))
    }

    @Test func oversizeResponseIsFunctionResponseSizeTooLarge() async throws {
        let bootstrap = #"""
            #!/bin/bash
            API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            H=$(mktemp)
            curl -sS -D "$H" -o /dev/null "$API/invocation/next"
            ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$H" | tr -d '[:space:]' | cut -d: -f2)
            head -c 7000000 /dev/zero | tr '\0' 'a' > "$H.big"
            CODE=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$H.big" "$API/invocation/$ID/response")
            echo "status=$CODE" >&2
            sleep 5
            """#
        let (outcome, dir) = try await Self.run(bootstrap: bootstrap)
        defer { dir.remove() }
        #expect(outcome.functionError == "Unhandled")
        #expect(outcome.errorType == "Function.ResponseSizeTooLarge")
    }

    @Test func runtimesInheritNoDescriptorsOfTheServer() async throws {
        let bootstrap = #"""
            #!/bin/bash
            API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            H=$(mktemp)
            ls /proc/$$/fd > "$H.fds"
            FDS=$(sort -n "$H.fds" | tr '\n' ' ')
            curl -sS -D "$H" -o /dev/null "$API/invocation/next"
            ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$H" | tr -d '[:space:]' | cut -d: -f2)
            curl -sS -o /dev/null --data-binary "\"$FDS\"" "$API/invocation/$ID/response"
            sleep 5
            """#
        let (outcome, dir) = try await Self.run(bootstrap: bootstrap)
        defer { dir.remove() }
        let fds = outcome.text.dropFirst().dropLast().split(separator: " ").compactMap { Int($0) }
        // 0, 1, 2 from the platform; bash keeps 255 for the script itself.
        #expect(Set(fds).subtracting([255]) == [0, 1, 2], "\(fds)")
    }
}
