import AlbatrossTestKit
import Configuration
import LambdaModel
import Testing

/// `layers:` at the top level and in functions and versions: what parses, and what is refused where.
struct LayerConfigurationTests {
    /// A declared layer (lines 1–3) and a function whose `layers:` is on line 9.
    static func withFunctionLayers(_ layers: String) -> String {
        """
        layers:
          - name: common
            code: ./functions/empty
        functions:
          - name: echo
            runtime: provided.al2023
            handler: function.handler
            code: ./functions/echo
            layers: \(layers)
        """
    }

    static let cases: [BadConfiguration] = [
        .init(
            name: "more than five layers", yaml: withFunctionLayers("[a, b, c, d, e, f]"), line: 9,
            keyPath: "functions[0].layers", message: "Cannot reference more than 5 layers."),
        .init(
            name: "bad layer name in a function", yaml: withFunctionLayers("[my.layer]"), line: 9,
            keyPath: "functions[0].layers[0]",
            message: "layer name may contain only letters, digits, hyphens (-) and underscores (_), got \"my.layer\""),
        .init(
            name: "layer version zero", yaml: withFunctionLayers("[\"common:0\"]"), line: 9,
            keyPath: "functions[0].layers[0]",
            message: "layer version \"0\" must be a positive number without leading zeros"),
        .init(
            name: "two versions of one layer", yaml: withFunctionLayers("[common, \"common:2\"]"), line: 9,
            keyPath: "functions[0].layers[1]",
            message:
                "layer \"common\" is already listed as \"common\"; a function may use only one version of a layer"),
        .init(
            name: "ARN without a version",
            yaml: withFunctionLayers("[\"arn:aws:lambda:us-east-1:123456789012:layer:x\"]"),
            line: 9, keyPath: "functions[0].layers[0]",
            message: "\"arn:aws:lambda:us-east-1:123456789012:layer:x\" is not a layer version ARN "
                + "(arn:aws:lambda:<region>:<account>:layer:<name>:<N>)"),
        .init(
            name: "ARN in another region",
            yaml: withFunctionLayers("[\"arn:aws:lambda:eu-west-1:123456789012:layer:x:1\"]"), line: 9,
            keyPath: "functions[0].layers[0]",
            message: "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."
        ),
        .init(
            name: "layers is not a list", yaml: withFunctionLayers("common"), line: 9, keyPath: "functions[0].layers",
            message: "expected a list, found a scalar"),
        .init(
            name: "missing layer code", yaml: "layers:\n  - {name: common, code: ./layers/missing}\n", line: 2,
            keyPath: "layers[0].code", message: "layer code path /BASE/layers/missing does not exist"),
        .init(
            name: "layer code that is neither a directory nor a zip",
            yaml: "layers:\n  - {name: common, code: functions/notes.txt}\n", line: 2, keyPath: "layers[0].code",
            message: "layer code must be a directory or a .zip file, got the file /BASE/functions/notes.txt"),
        .init(
            name: "layer defined twice",
            yaml: "layers:\n  - {name: common, code: functions/empty}\n  - {name: common, code: functions/empty}\n",
            line: 3, keyPath: "layers[1].name", message: "layer \"common\" is already defined at line 2"),
        .init(
            name: "bad layer name", yaml: "layers:\n  - {name: \"a b\", code: functions/empty}\n", line: 2,
            keyPath: "layers[0].name",
            message: "layer name may contain only letters, digits, hyphens (-) and underscores (_), got \"a b\""),
        .init(
            name: "misspelt layer key",
            yaml: "layers:\n  - {name: common, code: functions/empty, compatibleRuntime: [python3.11]}\n", line: 2,
            keyPath: "layers[0].compatibleRuntime",
            message: "unknown key \"compatibleRuntime\"; did you mean \"compatibleRuntimes\"?"),
        .init(
            name: "layer without code", yaml: "layers:\n  - {name: common}\n", line: 2, keyPath: "layers[0]",
            message: "missing required key \"code\""),
    ]

    @Test(arguments: cases)
    func refused(_ example: BadConfiguration) throws {
        try TemporaryDirectory.with { directory in
            let base = directory.path + "/conf"
            try directory.makeFunctionCode(under: "conf/")
            do throws(ConfigurationError) {
                _ = try ConfigurationLoader.parse(yaml: example.yaml, file: "bad.yaml", baseDirectory: base)
                Issue.record("accepted a bad configuration")
            } catch {
                #expect(error.keyPath == example.keyPath)
                #expect(error.message == example.message.replacingOccurrences(of: "/BASE", with: base))
                #expect(error.line == example.line)
                #expect(error.file == "bad.yaml")
            }
        }
    }

    @Test func layersParse() throws {
        try TemporaryDirectory.with { directory in
            try directory.makeFunctionCode(under: "conf/")
            try directory.write("conf/layers/common/python/greeting.py", "TEXT = 'hi'\n")
            let base = directory.path + "/conf"
            let yaml = """
                region: eu-west-1
                accountId: "111122223333"
                layers:
                  - name: common
                    code: ./layers/common
                    description: shared helpers
                    compatibleRuntimes: [python3.11, python3.12]
                  - {name: tools, code: functions/bundle.zip}
                functions:
                  - name: py
                    runtime: python3.11
                    handler: app.handler
                    code: functions/hello-python
                    layers: [common, "tools:2", "arn:aws:lambda:eu-west-1:111122223333:layer:other:7"]
                    versions:
                      - {version: 1}
                      - {version: 2, layers: ["common:1"]}
                  - name: bare
                    runtime: provided.al2023
                    handler: h
                    code: functions/empty
                    layers: [tools]
                """
            let configuration = try ConfigurationLoader.parse(yaml: yaml, file: "layers.yaml", baseDirectory: base)
            #expect(configuration.declaredLayers.map(\.name) == ["common", "tools"])
            let common = configuration.declaredLayers[0]
            #expect(common.code == .directory(base + "/layers/common"))
            #expect(common.description == "shared helpers")
            #expect(common.compatibleRuntimes == ["python3.11", "python3.12"])
            #expect(common.site.line == 4)
            #expect(common.site.keyPath == "layers[0]")
            #expect(configuration.declaredLayers[1].code == .zip(base + "/functions/bundle.zip"))
            #expect(configuration.declaredLayers[1].description == "")

            let references = try #require(configuration.layerReferences["py"])
            #expect(
                references.map(\.target) == [
                    .latest(name: "common"), .version(name: "tools", number: 2),
                    .arn("arn:aws:lambda:eu-west-1:111122223333:layer:other:7"),
                ])
            #expect(references.map(\.layerName) == ["common", "tools", "other"])
            #expect(references[1].site.keyPath == "functions[0].layers[1]")
            // Functions carry no ARNs until the store resolves the references.
            #expect(configuration.functions.allSatisfy { $0.layers.isEmpty })

            let versions = try #require(configuration.declaredVersions["py"])
            #expect(versions[0].layers == references)
            #expect(versions[1].layers.map(\.target) == [.version(name: "common", number: 1)])

            // A provided function with layers may leave its bootstrap to a layer.
            #expect(configuration.layerReferences["bare"]?.map(\.target) == [.latest(name: "tools")])
            #expect(configuration.functions[1].code == .directory(base + "/functions/empty"))
        }
    }
}
