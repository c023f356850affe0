import AlbatrossTestKit
import Foundation
import Testing

/// `$LATEST` stays coherent while the server runs: an edit to the function's code (a directory or a .zip) or to
/// the configuration file retires the pool, so that the next environment runs the new code with the new settings,
/// and a configuration that no longer loads changes nothing.
@Suite(.serialized)
struct LatestReloadTests {
    static func yaml(greeting: String, code: String = "./fn", extra: String = "") -> String {
        """
        dataDirectory: ./data
        functions:
          - name: fn
            runtime: provided.al2023
            handler: h
            code: \(code)
            environment: {GREETING: \(greeting)}
        \(extra)
        targetGroups:
          - {name: fn, function: fn}
        listeners:
          - port: 0
            defaultAction: {forward: fn}
        """
    }

    static func writeCode(_ dir: TemporaryDirectory, revision: String) throws {
        try TestFunctions.writeBash(
            in: dir, name: "fn", handler: TestFunctions.albResponse(body: "\(revision) $GREETING pid=$$"))
    }

    /// Asks until the body satisfies `done` (the watcher polls once a second), within `seconds`. Each request runs
    /// on a thread of its own and the wait between them is a `Task.sleep`: the watcher is an async service on the
    /// cooperative pool (two threads here), and a poll loop that blocked one of them for the whole window, with
    /// another test blocking the other, kept the watcher from ever running (the reload was missed, not slow).
    static func body(
        of server: ServerHarness, within seconds: Double = 45, until done: (String) -> Bool
    ) async throws -> String {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        var last = ""
        while ContinuousClock.now < deadline {
            last = try await Self.get(server)
            if done(last) { return last }
            try await Task.sleep(for: .milliseconds(200))
        }
        return last
    }

    /// One `GET /` on a new connection, off the cooperative pool.
    static func get(_ server: ServerHarness) async throws -> String {
        try await offPool { try server.client().request("GET", "/").text }
    }

    @Test func codeAndConfigurationEditsReachNewEnvironmentsTogether() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeCode(dir, revision: "v1")
        try dir.write("test.yaml", Self.yaml(greeting: "hello"))
        let server = try await ServerHarness(
            yaml: Self.yaml(greeting: "hello"), baseDirectory: dir.path, watchesChanges: true)
        let first = try await Self.get(server)
        #expect(first.hasPrefix("v1 hello "))

        // A code edit alone: the warm environment is retired, the next one runs the new code.
        try Self.writeCode(dir, revision: "v2")
        let second = try await Self.body(of: server) { $0.hasPrefix("v2 ") }
        #expect(second.hasPrefix("v2 hello "))
        #expect(second != first.replacingOccurrences(of: "v1", with: "v2"), "a new environment (pid) serves it")

        // A configuration edit alone: the same code with the new variable.
        try dir.write("test.yaml", Self.yaml(greeting: "bye"))
        let third = try await Self.body(of: server) { $0.contains(" bye ") }
        #expect(third.hasPrefix("v2 bye "))

        // A broken edit is refused: still served as before, and a fixed one applies.
        try dir.write(
            "test.yaml", Self.yaml(greeting: "broken").replacingOccurrences(of: "handler: h", with: "handler: [h"))
        try await Task.sleep(for: .seconds(2.5))
        let kept = try await Self.get(server)
        #expect(kept == third, "the warm environment still serves; nothing was retired")
        try dir.write("test.yaml", Self.yaml(greeting: "again"))
        let fixed = try await Self.body(of: server) { $0.contains(" again ") }
        #expect(fixed.hasPrefix("v2 again "))

        await server.shutdown()
    }

    @Test func aChangedZipIsUnpackedBesideTheOldOne() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeCode(dir, revision: "z1")
        try Self.zip(dir, "fn", into: "fn.zip")
        let yaml = Self.yaml(greeting: "zipped", code: "./fn.zip")
        try dir.write("test.yaml", yaml)
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path, watchesChanges: true)
        #expect(try await Self.get(server).hasPrefix("z1 zipped "))

        try Self.writeCode(dir, revision: "z2")
        try Self.zip(dir, "fn", into: "fn.zip")
        let changed = try await Self.body(of: server) { $0.hasPrefix("z2 ") }
        #expect(changed.hasPrefix("z2 zipped "))
        // One directory per revision, at most the current one and the one before it.
        let unpacked = try FileManager.default.contentsOfDirectory(atPath: dir.url("data/code/fn"))
            .filter { !$0.hasPrefix(".") }
        #expect(unpacked.count == 2, "\(unpacked)")
        await server.shutdown()
    }

    @Test func pythonsBytecodeCacheIsNotAnEdit() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("py/mod.py", "WORD = 'cached'\n")
        try dir.write(
            "py/app.py",
            """
            import os, mod

            def handler(event, context):
                return {"statusCode": 200, "body": mod.WORD + " " + str(os.getpid())}
            """)
        let yaml = """
            dataDirectory: ./data
            functions:
              - {name: py, runtime: python3.11, handler: app.handler, code: ./py, pythonInterpreter: \(PackagePaths.venvPython)}
            targetGroups:
              - {name: py, function: py}
            listeners:
              - port: 0
                defaultAction: {forward: py}
            """
        try dir.write("test.yaml", yaml)
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path, watchesChanges: true)
        let first = try await Self.get(server)
        #expect(first.hasPrefix("cached "))
        #expect(FileManager.default.fileExists(atPath: dir.url("py/__pycache__")), "Python wrote its cache")
        // Two ticks of the watcher later, the same warm environment still serves.
        try await Task.sleep(for: .seconds(2.5))
        let second = try await Self.get(server)
        #expect(second == first)
        await server.shutdown()
    }

    /// Zips `directory` (relative to `dir`) with Python's zipfile, keeping the files' modes.
    static func zip(_ dir: TemporaryDirectory, _ directory: String, into archive: String) throws {
        let script = """
            import os, sys, zipfile
            root, out = sys.argv[1], sys.argv[2]
            with zipfile.ZipFile(out + '.tmp', 'w', zipfile.ZIP_DEFLATED) as z:
                for name in sorted(os.listdir(root)):
                    z.write(os.path.join(root, name), name)
            os.replace(out + '.tmp', out)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, dir.url(directory), dir.url(archive)]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
