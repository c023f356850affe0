import AlbatrossTestKit
import Configuration
import LambdaModel
import Testing

/// `image:` and `imageConfig:` (AWS's PackageType Image and ImageConfig): what parses, and what is refused where.
struct ImageConfigurationTests {
    /// A function whose `image:` is on line 3; `extra` lines follow from line 4.
    static func imageFunction(_ extra: String = "", image: String = "./images/app") -> String {
        """
        functions:
          - name: app
            image: \(image)
        \(extra)
        """
    }

    static let cases: [BadConfiguration] = [
        .init(
            name: "image with a runtime", yaml: imageFunction("    runtime: provided.al2023"), line: 4,
            keyPath: "functions[0].runtime",
            message: "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."
        ),
        .init(
            name: "image with a handler", yaml: imageFunction("    handler: app.handler"), line: 4,
            keyPath: "functions[0].handler",
            message: "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."
        ),
        .init(
            name: "image with layers", yaml: imageFunction("    layers: [common]"), line: 4,
            keyPath: "functions[0].layers",
            message: "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."
        ),
        .init(
            name: "image and code", yaml: imageFunction("    code: ./functions/echo"), line: 4,
            keyPath: "functions[0].code", message: "give either code or image, not both"),
        .init(
            name: "image with versions", yaml: imageFunction("    versions: [{version: 1}]"), line: 4,
            keyPath: "functions[0].versions",
            message: "versions are not supported for container image functions: they run as $LATEST only"),
        .init(
            name: "missing image", yaml: imageFunction(image: "./images/missing"), line: 3,
            keyPath: "functions[0].image", message: "image path /BASE/images/missing does not exist"),
        .init(
            name: "directory that is not a layout", yaml: imageFunction(image: "./functions/echo"), line: 3,
            keyPath: "functions[0].image",
            message: "image directory /BASE/functions/echo is not an OCI image layout (no index.json); give a layout "
                + "directory or a docker save tarball"),
        .init(
            name: "relative working directory", yaml: imageFunction("    imageConfig: {workingDirectory: srv}"),
            line: 4, keyPath: "functions[0].imageConfig.workingDirectory",
            message: "workingDirectory must be an absolute path inside the image, got srv"),
        .init(
            name: "misspelt imageConfig key", yaml: imageFunction("    imageConfig: {cmd: [x]}"), line: 4,
            keyPath: "functions[0].imageConfig.cmd",
            message: "unknown key \"cmd\"; allowed keys: entryPoint, command, workingDirectory"),
        .init(
            name: "command that is not a list", yaml: imageFunction("    imageConfig: {command: app.handler}"),
            line: 4, keyPath: "functions[0].imageConfig.command", message: "expected a list, found a scalar"),
        .init(
            name: "imageConfig without an image",
            yaml: """
                functions:
                  - name: echo
                    runtime: provided.al2023
                    handler: h
                    code: ./functions/echo
                    imageConfig: {command: [x]}
                """,
            line: 6, keyPath: "functions[0].imageConfig",
            message: "imageConfig applies only to functions with an image (give image: instead of code:)"),
    ]

    static func makeImages(in directory: TemporaryDirectory) throws {
        try directory.makeFunctionCode(under: "conf/")
        try directory.write("conf/images/app/index.json", "{}")
        try directory.write("conf/images/app/oci-layout", "{}")
        try directory.write("conf/images/app.tar", "tar")
    }

    @Test(arguments: cases)
    func refused(_ example: BadConfiguration) throws {
        try TemporaryDirectory.with { directory in
            let base = directory.path + "/conf"
            try Self.makeImages(in: directory)
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

    @Test func imagesParse() throws {
        try TemporaryDirectory.with { directory in
            try Self.makeImages(in: directory)
            let base = directory.path + "/conf"
            let yaml = """
                functions:
                  - name: app
                    image: ./images/app
                    memorySize: 256
                    environment: {STAGE: test}
                    imageConfig:
                      entryPoint: [/bin/bash, /var/task/bootstrap]
                      command: [app.handler]
                      workingDirectory: /var/task
                  - {name: tarred, image: images/app.tar}
                """
            let configuration = try ConfigurationLoader.parse(yaml: yaml, file: "ok.yaml", baseDirectory: base)
            let app = try #require(configuration.functions.first { $0.name == "app" })
            #expect(app.code == .image("\(base)/images/app"))
            #expect(app.memorySize == 256)
            #expect(app.environment == [EnvironmentVariable(name: "STAGE", value: "test")])
            #expect(
                app.imageConfig
                    == ImageConfigOverrides(
                        entryPoint: ["/bin/bash", "/var/task/bootstrap"], command: ["app.handler"],
                        workingDirectory: "/var/task"))
            let tarred = try #require(configuration.functions.first { $0.name == "tarred" })
            #expect(tarred.code == .image("\(base)/images/app.tar"))
            #expect(tarred.imageConfig == ImageConfigOverrides())
            #expect(tarred.handler.isEmpty)
        }
    }
}
