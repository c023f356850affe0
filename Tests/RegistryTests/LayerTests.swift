import Foundation
import LambdaModel
import Registry
import Testing

/// Layers: publishing (numbering, idempotency, names), the checks on a function's `layers` with AWS's messages,
/// versions keeping their layers, and the merged layer root (a later layer's file wins).
struct LayerTests {
    static let arnPrefix = "arn:aws:lambda:eu-west-1:111122223333:layer:"

    @Test func publishingNumbersVersionsAndIsIdempotent() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        let code = try fixture.codeDirectory("common-v1", ["python/greeting.py": "TEXT = 'one'\n"])
        let first = try registry.publishLayerVersion(
            name: "common", content: .directory(code), description: "shared", compatibleRuntimes: ["python3.11"])
        #expect(first.version == 1)
        #expect(first.arn == Self.arnPrefix + "common:1")
        #expect(first.layerArn == Self.arnPrefix + "common")
        #expect(first.codeSha256.count == 44)
        #expect(first.compatibleRuntimes == ["python3.11"])
        #expect(first.createdDate.hasSuffix("+0000"))

        // Same content and description: the latest version comes back, nothing new is written.
        let again = try registry.publishLayerVersion(
            name: "common", content: .directory(code), description: "shared", compatibleRuntimes: ["python3.11"])
        #expect(again == first)

        // A new description publishes a new version even with the same content.
        let described = try registry.publishLayerVersion(
            name: "common", content: .directory(code), description: "shared, v2", compatibleRuntimes: ["python3.11"])
        #expect(described.version == 2)
        #expect(described.codeSha256 == first.codeSha256)

        let changed = try fixture.codeDirectory("common-v3", ["python/greeting.py": "TEXT = 'three'\n"])
        let third = try registry.publishLayerVersion(name: "common", content: .directory(changed))
        #expect(third.version == 3)
        #expect(third.codeSha256 != first.codeSha256)

        // Back to the first content: still a new number, numbers only grow (also across a reopen).
        let reopened = try fixture.reopen()
        let fourth = try reopened.publishLayerVersion(
            name: "common", content: .directory(code), description: "shared", compatibleRuntimes: ["python3.11"])
        #expect(fourth.version == 4)

        #expect(try reopened.layerVersions(name: "common").map(\.version) == [4, 3, 2, 1])
        #expect(try reopened.layerVersions(name: "unknown").isEmpty)
        #expect(try reopened.layerVersion(arn: Self.arnPrefix + "common:2") == described)
        #expect(try reopened.latestLayerVersions().map(\.arn) == [Self.arnPrefix + "common:4"])

        // A .zip is stored as is: publishing the packed bytes of a directory gives the same CodeSha256.
        let zip = fixture.directory.url("common.zip")
        let package = try Data(contentsOf: URL(fileURLWithPath: first.codeSha256IsOf(fixture)))
        try package.write(to: URL(fileURLWithPath: zip))
        let fromZip = try reopened.publishLayerVersion(name: "zipped", content: .zip(zip))
        #expect(fromZip.codeSha256 == first.codeSha256)
    }

    @Test(arguments: [
        ("", "layer name must be 1 to 140 characters long: ''"),
        (
            String(repeating: "a", count: 141),
            "layer name must be 1 to 140 characters long: '\(String(repeating: "a", count: 141))'"
        ),
        ("my.layer", "layer name may contain only letters, digits, hyphens (-) and underscores (_): 'my.layer'"),
    ])
    func badLayerNamesAreRefused(name: String, message: String) throws {
        let fixture = try RegistryFixture()
        let code = try fixture.codeDirectory("layer", ["bin/tool": "x"])
        expectRegistryError("InvalidParameterValueException", message) {
            try fixture.registry.publishLayerVersion(name: name, content: .directory(code))
        }
    }

    @Test func unknownLayerVersionsAreNotFound() throws {
        let fixture = try RegistryFixture()
        expectRegistryError("ResourceNotFoundException", "The resource you requested does not exist.") {
            _ = try fixture.registry.layerVersion(arn: Self.arnPrefix + "common:1")
        }
        let error = registryError { _ = try fixture.registry.layerVersion(arn: Self.arnPrefix + "common") }
        #expect(error?.errorType == "ValidationException")
        #expect(
            error?.message.hasPrefix("1 validation error detected: Value '\(Self.arnPrefix)common' at 'arn'") == true)
    }

    @Test func functionLayerReferencesAreCheckedWithAWSMessages() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        var arns: [String] = []
        for name in ["a", "b", "c", "d", "e", "f"] {
            let code = try fixture.codeDirectory("layer-\(name)", ["\(name).txt": name])
            arns.append(try registry.publishLayerVersion(name: name, content: .directory(code)).arn)
        }
        let code = try fixture.codeDirectory("orders", ["bootstrap": "#!/bin/sh\n"])
        var function = fixture.configuration(code: code)

        function.layers = arns
        expectRegistryError("InvalidParameterValueException", "Cannot reference more than 5 layers.") {
            try registry.putLatest(function)
        }

        let missing = Self.arnPrefix + "a:7"
        function.layers = [arns[1], missing]
        expectRegistryError("InvalidParameterValueException", "Layer version \(missing) does not exist.") {
            try registry.putLatest(function)
        }

        let codeA2 = try fixture.codeDirectory("layer-a2", ["a.txt": "a2"])
        let a2 = try registry.publishLayerVersion(name: "a", content: .directory(codeA2)).arn
        function.layers = [arns[0], arns[1], a2]
        expectRegistryError(
            "InvalidParameterValueException",
            "Two different versions of the same layer are not allowed to be referenced in the same function. "
                + "\(arns[0]) and \(a2) are versions of the same layer."
        ) {
            try registry.putLatest(function)
        }

        function.layers = ["arn:aws:lambda:us-east-1:111122223333:layer:a:1"]
        expectRegistryError(
            "InvalidParameterValueException",
            "Layers are not in the same region as the function. Layers are expected to be in region eu-west-1."
        ) {
            try registry.putLatest(function)
        }

        // Nothing was stored by the refused puts.
        #expect(try registry.functions().isEmpty)
        function.layers = Array(arns.prefix(5))
        #expect(try registry.putLatest(function).configuration.layers == Array(arns.prefix(5)))
    }

    @Test func publishedVersionsKeepTheirLayersAfterLatestChanges() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        let v1 = try registry.publishLayerVersion(
            name: "common", content: .directory(try fixture.codeDirectory("c1", ["x": "1"])))
        let v2 = try registry.publishLayerVersion(
            name: "common", content: .directory(try fixture.codeDirectory("c2", ["x": "2"])))
        let code = try fixture.codeDirectory("orders", ["bootstrap": "#!/bin/sh\n"])
        var function = fixture.configuration(code: code)
        function.layers = [v1.arn]
        try registry.putLatest(function)
        let published = try registry.publishVersion(functionName: "orders")
        #expect(published.configuration.layers == [v1.arn])

        // Changing only the layers is a change: $LATEST gets a new RevisionId and the next publish a new number.
        function.layers = [v2.arn]
        let latest = try registry.putLatest(function)
        #expect(latest.configuration.layers == [v2.arn])
        #expect(try registry.publishVersion(functionName: "orders").version == "2")

        let reopened = try fixture.reopen()
        #expect(try reopened.version(functionName: "orders", version: "1").configuration.layers == [v1.arn])
        #expect(try reopened.version(functionName: "orders", version: "2").configuration.layers == [v2.arn])
        #expect(try reopened.version(functionName: "orders", version: "$LATEST").configuration.layers == [v2.arn])
    }

    @Test func layerRootMergesInOrderAndLaterLayersWin() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        try fixture.directory.write("code/base/bin/tool", "#!/bin/sh\necho base\n", executable: true)
        let base = try registry.publishLayerVersion(
            name: "base",
            content: .directory(
                try fixture.codeDirectory(
                    "base",
                    [
                        "python/shared.py": "FROM = 'base'\n", "python/only_base.py": "X = 1\n",
                        "lib/thing": "base-then-dir",
                    ])))
        let top = try registry.publishLayerVersion(
            name: "top",
            content: .directory(
                try fixture.codeDirectory(
                    "top",
                    [
                        "python/shared.py": "FROM = 'top'\n", "python/only_top.py": "Y = 2\n",
                        "lib/thing/inside": "a directory now",
                    ])))
        #expect(try registry.layerRoot(for: []) == nil)

        let root = try #require(try registry.layerRoot(for: [base.arn, top.arn]))
        #expect(root.hasPrefix(registry.layersDirectory + "/"))
        func read(_ path: String) -> String? { try? String(contentsOfFile: "\(root)/\(path)", encoding: .utf8) }
        #expect(read("python/shared.py") == "FROM = 'top'\n")
        #expect(read("python/only_base.py") == "X = 1\n")
        #expect(read("python/only_top.py") == "Y = 2\n")
        #expect(read("bin/tool") == "#!/bin/sh\necho base\n")
        #expect(read("lib/thing/inside") == "a directory now")
        #expect(FileManager.default.isExecutableFile(atPath: "\(root)/bin/tool"))

        // The reverse order is a different tree in which base wins.
        let reversed = try #require(try registry.layerRoot(for: [top.arn, base.arn]))
        #expect(reversed != root)
        #expect((try? String(contentsOfFile: "\(reversed)/python/shared.py", encoding: .utf8)) == "FROM = 'base'\n")
        #expect((try? String(contentsOfFile: "\(reversed)/lib/thing", encoding: .utf8)) == "base-then-dir")

        // Built once, then reused: a marker left in the tree survives the next call; no staging is left over.
        try "marker".write(toFile: "\(root)/marker", atomically: false, encoding: .utf8)
        #expect(try registry.layerRoot(for: [base.arn, top.arn]) == root)
        #expect(FileManager.default.fileExists(atPath: "\(root)/marker"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: registry.layersDirectory)
            .filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty)

        expectRegistryError(
            "InvalidParameterValueException", "Layer version \(Self.arnPrefix)base:9 does not exist."
        ) {
            _ = try registry.layerRoot(for: [Self.arnPrefix + "base:9"])
        }
    }
}

extension LayerVersionRecord {
    /// The stored package's path for this record in `fixture`'s code store.
    fileprivate func codeSha256IsOf(_ fixture: RegistryFixture) -> String {
        let digest = Data(base64Encoded: codeSha256)!
        let hex = digest.map { String(format: "%02x", $0) }.joined()
        return "\(fixture.dataDirectory)/code-store/\(hex).zip"
    }
}
