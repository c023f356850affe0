import AlbatrossTestKit
import Configuration
import Foundation
import Registry
import Testing

/// Layers end to end: configuration → published layer versions → merged layer root → runtime search paths,
/// through the ALB front end.
@Suite(.serialized)
struct LayersTests {
    static func writeFunctions(in dir: TemporaryDirectory) throws {
        // The layer every function uses: a Python module and a tool on PATH.
        try dir.write("layers/common/python/greeting.py", "TEXT = 'hello from the common layer'\n")
        try dir.write("layers/common/bin/layer-tool", "#!/bin/bash\necho common-tool\n", executable: true)
        // A later layer replaces the tool: the later layer's file wins.
        try dir.write("layers/override/bin/layer-tool", "#!/bin/bash\necho override-tool\n", executable: true)
        // A layer carrying a bootstrap, for a provided function whose code has none (AWS runs /opt/bootstrap).
        try dir.write(
            "layers/runtime/bootstrap",
            TestFunctions.bash(handler: TestFunctions.albResponse(body: "bootstrap from a layer, $(layer-tool)")),
            executable: true)

        try dir.write(
            "py/app.py",
            """
            import greeting

            def handler(event, context):
                return {"statusCode": 200, "body": greeting.TEXT}
            """)
        try TestFunctions.writeBash(
            in: dir, name: "sh", handler: TestFunctions.albResponse(body: "$(layer-tool) via $(command -v layer-tool)"))
        try dir.write("bare/README", "code without a bootstrap\n")
    }

    static let yaml = """
        dataDirectory: ./data
        environments:
          pythonInterpreter: \(PackagePaths.venvPython)
        layers:
          - {name: common, code: ./layers/common, description: shared, compatibleRuntimes: [python3.11]}
          - {name: override, code: ./layers/override}
          - {name: runtime, code: ./layers/runtime}
        functions:
          - {name: py, runtime: python3.11, handler: app.handler, code: ./py, layers: [common]}
          - name: sh
            runtime: provided.al2023
            handler: h
            code: ./sh
            layers: [common]
            versions:
              - {version: 1}
              - {version: 2, layers: [common, override]}
          - {name: bare, runtime: provided.al2023, handler: h, code: ./bare, layers: [common, runtime]}
        targetGroups:
          - {name: py, function: py}
          - {name: sh, function: sh}
          - {name: sh2, function: "sh:2"}
          - {name: bare, function: bare}
        listeners:
          - port: 0
            defaultAction: {forward: py}
            rules:
              - {priority: 1, conditions: [{pathPattern: ["/sh"]}], action: {forward: sh}}
              - {priority: 2, conditions: [{pathPattern: ["/sh2"]}], action: {forward: sh2}}
              - {priority: 3, conditions: [{pathPattern: ["/bare"]}], action: {forward: bare}}
        """

    /// In both isolation modes: the layers merged at their host path, or at `/opt` in the sandbox (where the
    /// Python layer comes through `/var/runtime`'s sitecustomize and `PYTHONPATH` is AWS's `/var/runtime`).
    @Test(arguments: [EnvironmentSettings.Isolation.process, .sandbox])
    func functionsUseTheirLayersThroughTheALB(isolation: EnvironmentSettings.Isolation) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeFunctions(in: dir)
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path, isolation: isolation)
        let client = try server.client()
        let python = try client.request("GET", "/")
        let shell = try client.request("GET", "/sh")
        let shell2 = try client.request("GET", "/sh2")
        let bare = try client.request("GET", "/bare")
        let common = try server.registry.layerVersions(name: "common")
        let versionTwo = try server.registry.version(functionName: "sh", version: "2")
        await server.shutdown()

        #expect(python.status == 200)
        #expect(python.text == "hello from the common layer")
        let root = isolation == .sandbox ? "/opt" : try #require(try server.registry.layerRoot(for: [common[0].arn]))
        #expect(shell.status == 200)
        #expect(shell.text == "common-tool via \(root)/bin/layer-tool")
        #expect(shell2.text.hasPrefix("override-tool via "), "version 2 lists the override layer last: \(shell2.text)")
        #expect(bare.text == "bootstrap from a layer, common-tool")
        #expect(common.map(\.version) == [1])
        #expect(versionTwo.configuration.layers.map { $0.hasSuffix(":layer:override:1") } == [false, true])
    }

    @Test func restartingPublishesNoLayerTwice() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeFunctions(in: dir)
        let first = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        await first.shutdown()
        // A new version of the layer: $LATEST (a bare name) picks it up, published versions keep theirs.
        try dir.write("layers/common/python/greeting.py", "TEXT = 'hello from common 2'\n")
        let second = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        let python = try second.client().request("GET", "/")
        let versions = try second.registry.layerVersions(name: "common").map(\.version)
        let override = try second.registry.layerVersions(name: "override").map(\.version)
        let sh1 = try second.registry.version(functionName: "sh", version: "1").configuration.layers
        let shLatest = try second.registry.version(functionName: "sh", version: "$LATEST").configuration.layers
        let shVersions = try second.registry.versions(functionName: "sh").map(\.version)
        await second.shutdown()
        #expect(python.text == "hello from common 2")
        #expect(versions == [2, 1])
        #expect(override == [1])
        #expect(sh1.map { $0.hasSuffix(":layer:common:1") } == [true])
        #expect(shLatest.map { $0.hasSuffix(":layer:common:2") } == [true])
        #expect(shVersions == ["$LATEST", "1", "2"])

        // Pinning version 1 to another layer version is a change of a published version: a clear error.
        let changed = Self.yaml.replacingOccurrences(
            of: "- {version: 1}", with: "- {version: 1, layers: [\"common:2\"]}")
        do {
            _ = try await ServerHarness(yaml: changed, baseDirectory: dir.path)
            Issue.record("a changed published version was accepted")
        } catch let error as ConfigurationError {
            #expect(error.keyPath == "functions[1].versions[0]")
            #expect(error.message.hasPrefix("version 1 of sh in the store has a different layers ("), "\(error)")
            #expect(error.message.hasSuffix("published versions cannot change: declare a new version instead"))
        }
    }
}
