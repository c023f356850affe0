import AlbatrossTestKit
import Configuration
import Deployment
import Foundation
import Invocation
import LambdaModel
import Registry
import Testing

/// Applying a configuration to the store (`ConfigurationApplier`) and building the invoker's catalog from it
/// (`CatalogBuilder`), on a real store in a temporary directory.
@Suite(.serialized)
struct DeploymentTests {
    /// A temporary directory with three function directories (`one`, `two`, `three`) and a layer.
    struct Fixture {
        let dir: TemporaryDirectory
        var file: String { dir.url("test.yaml") }

        init() throws {
            dir = try TemporaryDirectory()
            for label in ["one", "two", "three"] {
                try TestFunctions.writeBash(in: dir, name: label, handler: "printf '\"\(label)\"'")
            }
            try dir.write("layer/bin/tool", "#!/bin/sh\necho tool\n", executable: true)
        }

        func configuration(_ yaml: String) throws -> AlbatrossConfiguration {
            try ConfigurationLoader.parse(yaml: yaml, file: file, baseDirectory: dir.path)
        }

        func registry() throws -> Registry {
            try Registry(dataDirectory: dir.url("data"), account: AccountContext())
        }

        /// Applies `yaml` to the store, as `serve` does at start.
        @discardableResult
        func apply(_ yaml: String) throws -> Registry {
            let configuration = try configuration(yaml)
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            let registry = try registry()
            try ConfigurationApplier.apply(configuration, to: registry)
            return registry
        }
    }

    static func yaml(
        versions: String = "[{version: 1, code: ./one}, {version: 2, code: ./two}]",
        aliases: String = #"[{name: live, version: "1", weights: {"2": 0.25}, sticky: "header:x-user"}]"#,
        layers: String = "[]", functionLayers: String = "[]"
    ) -> String {
        """
        dataDirectory: ./data
        layers: \(layers)
        functions:
          - name: shop
            runtime: provided.al2023
            handler: h
            code: ./three
            layers: \(functionLayers)
            versions: \(versions)
            aliases: \(aliases)
        """
    }

    /// What a store holds for `shop`, for comparing two applications.
    static func snapshot(_ registry: Registry) throws -> [String] {
        try registry.versions(functionName: "shop").map { "\($0.version) \($0.codeSha256) \($0.revisionId)" }
            + registry.aliases(functionName: "shop").map { "\($0.name) \($0.routing) \($0.revisionId)" }
            + registry.latestLayerVersions().map { "\($0.arn) \($0.codeSha256)" }
    }

    @Test func applyingTheSameConfigurationAgainChangesNothing() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        let yaml = Self.yaml(layers: "[{name: tools, code: ./layer}]", functionLayers: "[tools]")
        let registry = try fixture.apply(yaml)
        let first = try Self.snapshot(registry)
        #expect(try registry.versions(functionName: "shop").map(\.version) == ["$LATEST", "1", "2"])
        #expect(try registry.latestLayerVersions().map(\.version) == [1])
        let alias = try registry.alias(functionName: "shop", name: "live")
        #expect(
            alias.routing
                == AliasRouting(
                    primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.25, stickiness: .header("x-user")))

        try fixture.apply(yaml)
        try fixture.apply(yaml)
        let again = try Self.snapshot(fixture.registry())
        #expect(again == first, "no version, alias or layer was written again: \(first) → \(again)")
    }

    @Test func theConfigurationWinsOverAliasChangesMadeMeanwhile() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        let registry = try fixture.apply(Self.yaml())
        let declared = try registry.alias(functionName: "shop", name: "live")
        try registry.updateAlias(
            functionName: "shop", name: "live", routing: AliasRouting(primaryVersion: "2"), description: "by hand")
        try fixture.apply(Self.yaml())
        let restored = try registry.alias(functionName: "shop", name: "live")
        #expect(restored.routing == declared.routing && restored.description == "")
        #expect(restored.revisionId != declared.revisionId, "an update, with a new RevisionId")

        // A changed declaration updates the alias; an added version is published; versions from elsewhere stay.
        try fixture.apply(
            Self.yaml(
                versions: "[{version: 1, code: ./one}, {version: 2, code: ./two}, {version: 3, code: ./three}]",
                aliases: #"[{name: live, version: "3", description: now three}]"#))
        #expect(try registry.alias(functionName: "shop", name: "live").routing == AliasRouting(primaryVersion: "3"))
        #expect(try registry.versions(functionName: "shop").map(\.version) == ["$LATEST", "1", "2", "3"])
        try fixture.apply(Self.yaml(aliases: #"[{name: live, version: "1"}]"#))
        #expect(try registry.versions(functionName: "shop").map(\.version) == ["$LATEST", "1", "2", "3"])
    }

    @Test func aDeclaredVersionThatDiffersFromTheStoreIsAConflictAtItsEntry() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        let registry = try fixture.apply(Self.yaml())
        let stored = try registry.versions(functionName: "shop")
        let before = try Self.snapshot(registry)

        // Other code for version 2: that of ./three, which $LATEST has.
        let otherCode = Self.yaml(versions: "[{version: 1, code: ./one}, {version: 2, code: ./three}]")
        let conflict = try #require(throws: ConfigurationError.self) { try fixture.apply(otherCode) }
        do {
            let error = conflict
            #expect(error.file == fixture.file && error.keyPath == "functions[0].versions[1]")
            #expect(error.line == 9, "\(error)")
            #expect(
                error.message
                    == "version 2 of shop in the store has CodeSha256 \(stored[2].codeSha256), but the code declared "
                    + "here has \(stored[0].codeSha256); published versions cannot change: declare a new version instead"
            )
        }

        // The same code with another setting.
        let otherTimeout = Self.yaml(versions: "[{version: 1, code: ./one}, {version: 2, code: ./two, timeout: 9}]")
        #expect {
            try fixture.apply(otherTimeout)
        } throws: { error in
            (error as? ConfigurationError)?.message
                == "version 2 of shop in the store has a different timeout (3, here 9); published versions cannot "
                + "change: declare a new version instead"
        }
        let otherEnvironment = Self.yaml(
            versions: "[{version: 1, code: ./one, environment: {TOKEN: abc}}, {version: 2, code: ./two}]")
        #expect {
            try fixture.apply(otherEnvironment)
        } throws: { error in
            let message = (error as? ConfigurationError)?.message ?? ""
            return message.hasPrefix("version 1 of shop in the store has a different environment (values not shown)")
                && !message.contains("abc") && (error as? ConfigurationError)?.keyPath == "functions[0].versions[0]"
        }
        // The refused applications wrote nothing: not even $LATEST.
        #expect(try Self.snapshot(registry) == before)
    }

    @Test func aVersionIdenticalToTheLastOneIsRefusedAsAWSWouldNotPublishIt() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        #expect {
            try fixture.apply(
                Self.yaml(versions: "[{version: 1, code: ./one}, {version: 2, code: ./one}]", aliases: "[]"))
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.keyPath == "functions[0].versions[1]"
                && error?.message
                    == "version 2 of shop is identical to version 1; AWS publishes no new version when nothing changed"
        }
    }

    @Test func aliasesAndLayersThatNameWhatDoesNotExistAreErrorsAtTheirEntry() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        #expect {
            try fixture.apply(Self.yaml(aliases: #"[{name: live, version: "1"}, {name: next, version: "7"}]"#))
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.keyPath.hasPrefix("functions[0].aliases[1]") == true
                && error?.message == "Function not found: arn:aws:lambda:us-east-1:123456789012:function:shop:7"
        }
        #expect {
            try fixture.apply(Self.yaml(functionLayers: "[nothere]"))
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.keyPath.hasPrefix("functions[0].layers[0]") == true
                && error?.message
                    == #"layer "nothere" has no published version; declare it under layers: or publish it with "#
                    + "albatross layers publish"
        }
        #expect {
            try fixture.apply(Self.yaml(layers: "[{name: tools, code: ./layer}]", functionLayers: "[\"tools:4\"]"))
        } throws: { error in
            (error as? ConfigurationError)?.message
                == "Layer version arn:aws:lambda:us-east-1:123456789012:layer:tools:4 does not exist."
        }
    }

    @Test func theCatalogHoldsLatestEveryPublishedVersionAndTheAliases() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        let yaml = Self.yaml(layers: "[{name: tools, code: ./layer}]", functionLayers: "[tools]")
        let registry = try fixture.apply(yaml)
        let configuration = try fixture.configuration(yaml)
        let latest = [
            "shop": FunctionCatalog.Version(
                configuration: configuration.functions[0], version: "$LATEST", taskRoot: fixture.dir.url("three")),
            // In the configuration, not (yet) in the store: still runnable as $LATEST.
            "new": FunctionCatalog.Version(
                configuration: configuration.functions[0], version: "$LATEST", taskRoot: fixture.dir.url("one")),
        ]
        let catalog = try CatalogBuilder.build(registry: registry, latest: latest)
        #expect(Set(catalog.functions.keys) == ["shop", "new"])
        #expect(catalog.functions["new"]?.versions.keys.sorted() == ["$LATEST"])
        let shop = try #require(catalog.functions["shop"])
        #expect(shop.versions.keys.sorted() == ["$LATEST", "1", "2"])
        #expect(shop.aliases == ["live": try registry.alias(functionName: "shop", name: "live").routing])

        let latestVersion = try #require(shop.versions["$LATEST"])
        #expect(latestVersion.taskRoot == fixture.dir.url("three"), "$LATEST runs from the configured code in place")
        let layerARN = "arn:aws:lambda:us-east-1:123456789012:layer:tools:1"
        #expect(latestVersion.configuration.layers == [layerARN], "the store resolved the bare layer name")
        let layerRoot = try #require(latestVersion.layerRoot)
        #expect(FileManager.default.isExecutableFile(atPath: "\(layerRoot)/bin/tool"))

        for number in ["1", "2"] {
            let version = try #require(shop.versions[number])
            #expect(version.version == number && version.configuration.layers == [layerARN])
            #expect(version.taskRoot.hasPrefix(fixture.dir.url("data/tasks/")), "\(version.taskRoot)")
            let bootstrap = try String(contentsOfFile: "\(version.taskRoot)/bootstrap", encoding: .utf8)
            #expect(bootstrap.contains(number == "1" ? #"printf '"one"'"# : #"printf '"two"'"#))
            #expect(version.layerRoot == layerRoot)
        }
    }

    @Test func theFingerprintChangesWithLatestVersionsAndAliases() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        let registry = try fixture.apply(Self.yaml())
        let first = try CatalogBuilder.fingerprint(registry: registry)
        #expect(try CatalogBuilder.fingerprint(registry: registry) == first, "stable while nothing changes")
        try fixture.apply(Self.yaml())
        #expect(try CatalogBuilder.fingerprint(registry: registry) == first, "an idempotent apply changes nothing")

        try registry.updateAlias(
            functionName: "shop", name: "live", routing: AliasRouting(primaryVersion: "2"), description: nil)
        let afterAlias = try CatalogBuilder.fingerprint(registry: registry)
        #expect(afterAlias != first)
        let latest = try fixture.configuration(Self.yaml()).functions[0]
        var changed = latest
        changed.timeout = 9
        try registry.putLatest(changed)
        // $LATEST is part of it: functions made through the control API run $LATEST from the store.
        let afterLatest = try CatalogBuilder.fingerprint(registry: registry)
        #expect(afterLatest != afterAlias, "a changed $LATEST is")
        try registry.publishVersion(functionName: "shop", description: nil)
        #expect(try CatalogBuilder.fingerprint(registry: registry) != afterLatest, "a new version is")
    }
}
