import AlbatrossTestKit
import Foundation
import LambdaModel
import Testing

@testable import Environments

/// What a runtime process sees of its layers (runtime-api.md §3.3): the search paths point into the layer root
/// where AWS has `/opt`, and a `provided` function without a bootstrap runs the layers' one.
struct LayerPathTests {
    /// The variables and command of one environment of `runtime`, with or without a layer root.
    static func environment(
        runtime: String, taskRoot: String, layerRoot: String?, body: (EnvironmentSpec) throws -> Void
    ) async throws {
        let logs = try TemporaryDirectory()
        let harness = try InvokerHarness(functions: [], dataDirectory: logs.path)
        var spec = EnvironmentSpec(
            function: FunctionConfiguration(
                name: "fn", runtime: Runtime(identifier: runtime)!, handler: "app.handler", code: .directory(taskRoot)),
            version: "$LATEST", account: AccountContext(), taskRoot: taskRoot, defaultPythonInterpreter: "python3",
            events: harness.events, threadPool: harness.threadPool)
        spec.layerRoot = layerRoot
        let result = Result { try body(spec) }
        try await harness.shutdown()
        logs.remove()
        try result.get()
    }

    static func variables(_ spec: EnvironmentSpec) -> [String: String] {
        let list = RuntimeEnvironmentBuilder.variables(
            spec: spec, runtimeAPI: "127.0.0.1:1", logStreamName: "s", logGroupName: "/aws/lambda/fn")
        var result: [String: String] = [:]
        for entry in list {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            result[parts[0]] = parts.count == 2 ? parts[1] : ""
        }
        return result
    }

    @Test func searchPathsPointIntoTheLayerRoot() async throws {
        try await Self.environment(runtime: "python3.12", taskRoot: "/task", layerRoot: "/data/opt/abc") { spec in
            let variables = Self.variables(spec)
            #expect(variables["PATH"] == "/usr/local/bin:/usr/bin/:/bin:/data/opt/abc/bin")
            #expect(variables["LD_LIBRARY_PATH"] == "/task:/task/lib:/data/opt/abc/lib")
            #expect(
                variables["PYTHONPATH"]
                    == "/task:/data/opt/abc/python:/data/opt/abc/python/lib/python3.12/site-packages")
        }
        try await Self.environment(runtime: "python3.12", taskRoot: "/task", layerRoot: nil) { spec in
            let variables = Self.variables(spec)
            #expect(variables["PATH"] == "/usr/local/bin:/usr/bin/:/bin:/opt/bin")
            #expect(variables["LD_LIBRARY_PATH"] == "/task:/task/lib:/opt/lib")
            #expect(variables["PYTHONPATH"] == "/task")
        }
        try await Self.environment(runtime: "provided.al2023", taskRoot: "/task", layerRoot: "/l") { spec in
            #expect(Self.variables(spec)["PYTHONPATH"] == nil)
        }
    }

    @Test func aProvidedFunctionWithoutBootstrapRunsTheLayersOne() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("task/README", "no bootstrap here")
        try dir.write("opt/bootstrap", "#!/bin/bash\n", executable: true)
        try dir.write("own/bootstrap", "#!/bin/bash\n", executable: true)
        let provided = "provided.al2023"
        try await Self.environment(runtime: provided, taskRoot: dir.url("task"), layerRoot: dir.url("opt")) { spec in
            let command = try RuntimeEnvironmentBuilder.command(spec: spec)
            #expect(command.executable == dir.url("opt/bootstrap"))
        }
        // The function's own bootstrap comes first.
        try await Self.environment(runtime: provided, taskRoot: dir.url("own"), layerRoot: dir.url("opt")) { spec in
            let command = try RuntimeEnvironmentBuilder.command(spec: spec)
            #expect(command.executable == dir.url("own/bootstrap"))
        }
        try dir.write("empty-opt/lib/README", "a layer without bootstrap")
        let expected =
            "Runtime.InvalidEntrypoint: Couldn't find valid bootstrap(s): \(dir.url("task"))/bootstrap does not "
            + "exist (nor \(dir.url("empty-opt"))/bootstrap)"
        try await Self.environment(runtime: provided, taskRoot: dir.url("task"), layerRoot: dir.url("empty-opt")) {
            spec in
            do {
                _ = try RuntimeEnvironmentBuilder.command(spec: spec)
                Issue.record("started without any bootstrap")
            } catch {
                #expect("\(error)" == expected)
            }
        }
    }
}
