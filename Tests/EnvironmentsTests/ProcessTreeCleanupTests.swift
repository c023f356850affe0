import AlbatrossTestKit
import Foundation
import Glibc
import Invocation
import InvocationModel
import LambdaModel
import Testing

/// What an environment leaves behind when it ends (issue 8, items 8 and 10): nothing of its process group, and
/// no concurrency slot held while its output drains.
@Suite(.serialized)
struct ProcessTreeCleanupTests {
    static func pid(after marker: String, in lines: [String]) -> Int32? {
        for line in lines {
            guard let range = line.range(of: marker) else { continue }
            return Int32(line[range.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }

    @Test func backgroundChildrenOfARuntimeThatExitsEndWithIt() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // The handler leaves a `sleep 600` in the background, logs its pid, and the runtime exits.
        let code = try TestFunctions.writeBash(
            in: dir, name: "leaver", handler: #"sleep 600 & echo "child=$!" >&2; exit 0"#)
        let harness = try InvokerHarness(
            functions: [EnvironmentLifecycleTests.function("leaver", at: code)], dataDirectory: dir.url("data"))
        let outcome = try await harness.invoke("leaver")
        #expect(outcome.errorType == "Runtime.ExitError")
        let lines = harness.logLines(functionName: "leaver", streamName: outcome.logStreamName)
        let child = try #require(Self.pid(after: "child=", in: lines), "\(lines)")
        let gone = await eventually(seconds: 5) { !ProcessTree.exists(child) }
        if !gone { kill(child, SIGKILL) }
        #expect(gone, "the runtime's background child ended with its environment")
        try await harness.shutdown()
    }

    @Test func aDeadRuntimeFreesItsConcurrencySlotAtOnce() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // A background child keeps the output pipe open, so the pipe drains only when the platform closes it.
        let code = try TestFunctions.writeBash(
            in: dir, name: "single", handler: #"sleep 600 & printf '"pid=%s"' "$$""#)
        // Not frozen while idle: a frozen runtime would die of the SIGKILL below only once thawed.
        let harness = try InvokerHarness(
            functions: [EnvironmentLifecycleTests.function("single", at: code, concurrency: 1)],
            dataDirectory: dir.url("data"), freezeIdle: false)
        let first = try await harness.invoke("single")
        let pid = try #require(EnvironmentLifecycleTests.pidOf(first))
        kill(pid, SIGKILL)
        #expect(await eventually(seconds: 5) { !ProcessTree.exists(pid) })
        try await Task.sleep(for: .milliseconds(50))
        // The replacement starts cold: the dead environment no longer holds the only slot.
        let replacement = try await harness.invoke("single")
        #expect(replacement.isColdStart)
        #expect(EnvironmentLifecycleTests.pidOf(replacement) != pid)
        try await harness.shutdown()
    }

    @Test func eachEnvironmentHasAPrivateTMPDIRRemovedWhenItEnds() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Issue 8, item 11: a per-environment TMPDIR under the data directory, not the host's shared /tmp.
        let code = try TestFunctions.writeBash(
            in: dir, name: "scratch", handler: #"echo data > "$TMPDIR/file"; sleep 0.3; printf '"%s"' "$TMPDIR""#)
        let harness = try InvokerHarness(
            functions: [EnvironmentLifecycleTests.function("scratch", at: code, concurrency: 2)],
            dataDirectory: dir.url("data"))
        async let first = harness.invoke("scratch")
        async let second = harness.invoke("scratch")
        let (a, b) = try await (first, second)
        let directories = [a, b].map { String($0.text.dropFirst().dropLast()) }
        let root = try #require(URL(fileURLWithPath: dir.url("data/tmp")).resolvingSymlinksInPath().path as String?)
        for directory in directories {
            #expect(URL(fileURLWithPath: directory).deletingLastPathComponent().resolvingSymlinksInPath().path == root)
            #expect(FileManager.default.fileExists(atPath: directory + "/file"), "the runtime could write there")
        }
        #expect(Set(directories).count == 2, "each environment has its own")
        try await harness.shutdown()
        let gone = await eventually(seconds: 5) {
            directories.allSatisfy { !FileManager.default.fileExists(atPath: $0) }
        }
        #expect(gone, "the scratch directories are removed with their environments")
    }
}
