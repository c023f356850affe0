import AlbatrossTestKit
import Environments
import Foundation
import Testing

/// An image shaped like AWS's Python base images (issue 12, item 7: "an image built on AWS's base images starts its
/// runtime interface client directly because AWS_LAMBDA_RUNTIME_API is set"), written here from host binaries: the
/// host's Python with its standard library and the libraries `ldd` names, and the project venv's awslambdaric with
/// what it requires, behind an entrypoint script that starts the runtime interface client only when the Runtime API
/// is named (and the emulator, which the image does not hold, otherwise).
extension ContainerImageTests {
    /// The entrypoint, in the base images' manner: the emulator outside Lambda, the runtime interface client
    /// under it, with CMD (the handler) as its argument.
    static let pythonEntrypoint = #"""
        #!/bin/sh
        # Outside Lambda nothing serves the Runtime API: the runtime interface emulator would, in front of the
        # client. This image has no emulator, so that start fails, naming it.
        if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
          exec /usr/local/bin/aws-lambda-rie /var/lang/bin/python3 -m awslambdaric "$@"
        fi
        export PYTHONPATH="${LAMBDA_TASK_ROOT}:${LAMBDA_RUNTIME_DIR}"
        exec /var/lang/bin/python3 -m awslambdaric "$@"
        """#

    /// The function: two handlers answering with what they saw of the process, its variables and the runtime
    /// interface client that called them.
    static let pythonHandler = #"""
        import json
        import os
        import sys

        invocations = 0


        def answer(name, event, context):
            global invocations
            invocations += 1
            client = sys.modules.get("awslambdaric")
            names = ("_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_EXECUTION_ENV", "PATH", "LANG", "TZ",
                     "LD_LIBRARY_PATH")
            seen = {
                "handler": name, "argv": sys.argv, "executable": sys.executable, "prefix": sys.prefix,
                "version": "%d.%d" % sys.version_info[:2], "client": getattr(client, "__file__", None),
                "cwd": os.getcwd(), "uid": os.getuid(), "invocations": invocations, "path": event.get("path"),
                "function": context.function_name, "requestId": context.aws_request_id,
                "runtimeAPI": os.environ.get("AWS_LAMBDA_RUNTIME_API", ""),
                "environment": {key: os.environ.get(key) for key in names},
            }
            return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(seen)}


        def handler(event, context):
            return answer("handler", event, context)


        def other(event, context):
            return answer("other", event, context)
        """#

    static let pythonImagePath = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
    static let pythonImageLibraryPath =
        "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task"
        + ":/var/task/lib:/opt/lib"

    /// The base image's configuration: the entrypoint, the handler as CMD, the task root as WORKDIR, and the
    /// variables naming the image's own file system.
    nonisolated(unsafe) static let pythonImageConfig: [String: Any] = [
        "Entrypoint": ["/lambda-entrypoint.sh"], "Cmd": ["app.handler"], "WorkingDir": "/var/task",
        "Env": [
            "LANG=en_US.UTF-8", "TZ=:/etc/localtime", "PATH=\(pythonImagePath)",
            "LD_LIBRARY_PATH=\(pythonImageLibraryPath)", "LAMBDA_TASK_ROOT=/var/task",
            "LAMBDA_RUNTIME_DIR=/var/runtime",
        ],
    ]

    /// Four layers, as a base image stacks them: the system (a shell and every shared library, in `/lib64`), the
    /// language (`/var/lang`), the runtime (awslambdaric and its requirements in `/var/runtime`, the entrypoint)
    /// and the function (`/var/task`).
    static func pythonImageLayers(_ python: TestImages.HostPython) throws -> [[TestImages.Entry]] {
        let shell = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path
        let extensions =
            python.extensionModules.files.map { "\(python.extensionModules.root)/\($0.path)" }
            + python.packages.files.filter { $0.path.hasSuffix(".so") }.map { "\(python.packages.root)/\($0.path)" }
        var system = [TestImages.Entry("./bin/sh", mode: 0o755, source: shell)]
        for library in try TestImages.sharedLibraries(of: [shell, python.executable] + extensions) {
            let name = (library.path as NSString).lastPathComponent
            system.append(TestImages.Entry("./lib64/\(name)", mode: 0o755, source: library.path))
            // A program names its loader by path (the ELF interpreter): it must be there too.
            if library.isLoader && library.path != "/lib64/\(name)" {
                system.append(TestImages.Entry("." + library.path, mode: 0o755, source: library.path))
            }
        }
        let binary = "python\(python.version)"
        let lib = "./var/lang/lib/python\(python.version)"
        var language = [
            TestImages.Entry("./var/lang/bin/\(binary)", mode: 0o755, source: python.executable),
            TestImages.Entry("./var/lang/bin/python3", type: "symlink", linkName: binary),
            TestImages.Entry("./var/lang/bin/python", type: "symlink", linkName: binary),
        ]
        for file in python.standardLibrary.files {
            language.append(
                TestImages.Entry(
                    "\(lib)/\(file.path)", mode: file.mode, source: "\(python.standardLibrary.root)/\(file.path)"))
        }
        for file in python.extensionModules.files {
            language.append(
                TestImages.Entry(
                    "\(lib)/lib-dynload/\(file.path)", mode: file.mode,
                    source: "\(python.extensionModules.root)/\(file.path)"))
        }
        var runtime = [TestImages.Entry("./lambda-entrypoint.sh", content: pythonEntrypoint, mode: 0o755)]
        for file in python.packages.files {
            runtime.append(
                TestImages.Entry(
                    "./var/runtime/\(file.path)", mode: file.mode, source: "\(python.packages.root)/\(file.path)"))
        }
        let function = [TestImages.Entry("./var/task/app.py", content: pythonHandler, mode: 0o644)]
        return [system, language, runtime, function]
    }

    static let pythonYAML = """
        dataDirectory: ./data
        functions:
          - name: base
            image: ./image
            timeout: 10
          - name: other
            image: ./image
            timeout: 10
            imageConfig: {command: [app.other]}
          - name: emulator
            image: ./image
            timeout: 10
            imageConfig:
              entryPoint: [/bin/sh, -c, 'unset AWS_LAMBDA_RUNTIME_API; exec /lambda-entrypoint.sh "$@"', sh]
        targetGroups:
          - {name: base, function: base}
          - {name: other, function: other}
          - {name: emulator, function: emulator}
        listeners:
          - port: 0
            defaultAction: {forward: base}
            rules:
              - {priority: 1, conditions: [{pathPattern: ["/other*"]}], action: {forward: other}}
              - {priority: 2, conditions: [{pathPattern: ["/emulator*"]}], action: {forward: emulator}}
        """

    /// The JSON object a handler answered with (empty when the body is not one).
    static func seen(_ response: RawHTTPClient.Response) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
    }

    /// Whether the project venv (scripts/setup.sh), whose awslambdaric the image holds, is there.
    static let venvExists = FileManager.default.isExecutableFile(atPath: PackagePaths.venvPython)

    @Test(
        .enabled(if: sandboxWorks, "bwrap cannot run here (no bubblewrap or no user namespaces)"),
        .enabled(if: venvExists, "no project venv with awslambdaric (scripts/setup.sh makes it)"))
    func anImageShapedLikeAWSsPythonBaseImageStartsAwslambdaric() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let python = try TestImages.hostPython(distributions: ["awslambdaric"])
        try TestImages.write(
            format: "oci", output: dir.url("image"), layers: try Self.pythonImageLayers(python),
            config: Self.pythonImageConfig)
        let server = try await ServerHarness(yaml: Self.pythonYAML, baseDirectory: dir.path, isolation: .sandbox)
        // Every wait is bounded by the client's receive timeout; the server is shut down whatever happens.
        let responses = Result {
            let client = try server.client(timeout: 20)
            return try ["/base/first", "/base/second", "/other/x", "/emulator/x"].map { try client.request("GET", $0) }
        }
        await server.shutdown()
        let (first, second, other, emulator) = try responses.map { ($0[0], $0[1], $0[2], $0[3]) }.get()

        let base = Self.seen(first)
        #expect(first.status == 200, "\(first.text)\n\((try? Self.logText(of: "base", in: dir)) ?? "")")
        // The image's interpreter, found from /var/lang, ran awslambdaric from /var/runtime with CMD as its handler.
        #expect(base["executable"] as? String == "/var/lang/bin/python3")
        #expect(base["prefix"] as? String == "/var/lang")
        #expect(base["version"] as? String == python.version)
        #expect(base["client"] as? String == "/var/runtime/awslambdaric/__init__.py")
        #expect(base["argv"] as? [String] == ["/var/runtime/awslambdaric/__main__.py", "app.handler"])
        #expect(base["handler"] as? String == "handler")
        #expect(base["path"] as? String == "/base/first")
        #expect(base["function"] as? String == "base")
        #expect(base["cwd"] as? String == "/var/task")
        #expect(base["uid"] as? Int == Int(Sandbox.User.lambda.uid))
        // The platform's Runtime API (the entrypoint's branch to the client), the image's paths and locale.
        let api = base["runtimeAPI"] as? String ?? ""
        #expect(api.hasPrefix("127.0.0.1:") && Int(api.dropFirst("127.0.0.1:".count)).map { $0 > 0 } == true, "\(api)")
        let environment = base["environment"] as? [String: String] ?? [:]
        #expect(
            environment == [
                "_HANDLER": "app.handler", "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime",
                "AWS_EXECUTION_ENV": "AWS_Lambda_Image", "PATH": Self.pythonImagePath, "LANG": "en_US.UTF-8",
                "TZ": ":/etc/localtime", "LD_LIBRARY_PATH": Self.pythonImageLibraryPath,
            ])
        #expect(base["invocations"] as? Int == 1)
        // The client keeps polling: the second request is the same process's, warm.
        let warm = Self.seen(second)
        #expect(second.status == 200, "\(second.text)")
        #expect(warm["invocations"] as? Int == 2)
        #expect(warm["path"] as? String == "/base/second")
        #expect(warm["requestId"] as? String != base["requestId"] as? String)

        // ImageConfig's command reaches the client as its handler (and _HANDLER).
        let replaced = Self.seen(other)
        #expect(other.status == 200, "\(other.text)\n\((try? Self.logText(of: "other", in: dir)) ?? "")")
        #expect(replaced["handler"] as? String == "other")
        #expect(replaced["argv"] as? [String] == ["/var/runtime/awslambdaric/__main__.py", "app.other"])
        #expect((replaced["environment"] as? [String: String])?["_HANDLER"] == "app.other")

        // Without AWS_LAMBDA_RUNTIME_API the entrypoint takes the emulator's branch, which this image cannot: the
        // start fails, and the load balancer answers as for any function that cannot start.
        let logs = try Self.logText(of: "emulator", in: dir)
        #expect(emulator.status == 502, "\(emulator.text)\n\(logs)")
        #expect(logs.contains("/usr/local/bin/aws-lambda-rie: not found"), "\(logs)")
        #expect(!logs.contains("awslambdaric"), "\(logs)")
    }
}
