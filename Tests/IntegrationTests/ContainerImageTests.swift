import AlbatrossTestKit
import Environments
import Foundation
import Testing

/// Container image functions end to end (issue 12, item 7): images the test builds itself from host binaries (bash
/// and the libraries `ldd` names, a bootstrap speaking the Runtime API through bash's /dev/tcp), served through a
/// listener in the sandbox with the rootfs as `/`.
@Suite(.serialized)
struct ContainerImageTests {
    /// Whether bwrap can run here (the sandbox tests need it; elsewhere they are skipped with this reason).
    static let sandboxWorks: Bool = {
        guard let dir = try? TemporaryDirectory() else { return false }
        defer { dir.remove() }
        return Sandbox.detect(mode: .sandbox, tmpBytes: 1 << 20, runtimeDirectory: dir.url("runtime")).sandbox != nil
    }()

    /// A runtime in bash builtins only: `/next`, then a response naming what it saw.
    static let bootstrap = #"""
        #!/bin/bash
        export LC_ALL=C
        host=${AWS_LAMBDA_RUNTIME_API%:*}
        port=${AWS_LAMBDA_RUNTIME_API##*:}
        request() {
          exec 3<>"/dev/tcp/$host/$port" || exit 1
          printf '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
            "$1" "$2" "$AWS_LAMBDA_RUNTIME_API" "${#3}" "$3" >&3
          local line length=0
          IFS= read -r line <&3
          reply_id=""
          while IFS= read -r line <&3; do
            line=${line%$'\r'}
            [ -z "$line" ] && break
            case "${line,,}" in
              lambda-runtime-aws-request-id:*) reply_id=${line#*: } ;;
              content-length:*) length=${line#*: } ;;
            esac
          done
          reply_body=""
          if [ "$length" -gt 0 ]; then IFS= read -r -N "$length" reply_body <&3; fi
          exec 3>&-
        }
        while true; do
          request GET /2018-06-01/runtime/invocation/next ""
          id=$reply_id
          path=""
          [[ $reply_body =~ \"path\":[[:space:]]*\"([^\"]*)\" ]] && path=${BASH_REMATCH[1]}
          body="path=$path handler=$_HANDLER arg=$1 foo=$FOO bar=$BAR pwd=$PWD task=$LAMBDA_TASK_ROOT"
          body="$body exec=$AWS_EXECUTION_ENV tz=$TZ"
          # The image's extension, when there is one: the pid it left in /tmp, and its command line in /proc.
          ext=none
          if read -r probe < /tmp/probe-pid 2>/dev/null && mapfile -d '' args < "/proc/$probe/cmdline" 2>/dev/null \
            && [ "${args[1]}" = /opt/extensions/probe ]; then ext="probe:$probe"; fi
          body="$body ext=$ext"
          request POST "/2018-06-01/runtime/invocation/$id/response" "{\"statusCode\":200,\"body\":\"$body\"}"
        done
        """#

    /// An external extension in bash builtins only, in the image's /opt/extensions: leaves its pid in /tmp,
    /// registers, then prints every event it gets (to the function's log stream) until SHUTDOWN.
    static let probeExtension = #"""
        #!/bin/bash
        export LC_ALL=C
        host=${AWS_LAMBDA_RUNTIME_API%:*}
        port=${AWS_LAMBDA_RUNTIME_API##*:}
        request() {
          exec 3<>"/dev/tcp/$host/$port" || exit 1
          printf '%s %s HTTP/1.1\r\nHost: x\r\n%s\r\nContent-Length: %d\r\n\r\n%s' "$1" "$2" "$3" "${#4}" "$4" >&3
          local line length=0
          IFS= read -r line <&3
          while IFS= read -r line <&3; do
            line=${line%$'\r'}
            [ -z "$line" ] && break
            case "${line,,}" in
              lambda-extension-identifier:*) id=${line#*: } ;;
              content-length:*) length=${line#*: } ;;
            esac
          done
          reply_body=""
          if [ "$length" -gt 0 ]; then IFS= read -r -N "$length" reply_body <&3; fi
          exec 3>&-
        }
        echo "$$" > /tmp/probe-pid
        request POST /2020-01-01/extension/register "Lambda-Extension-Name: probe" '{"events":["INVOKE","SHUTDOWN"]}'
        echo "probe: registered in $PWD: $reply_body"
        while true; do
          request GET /2020-01-01/extension/event/next "Lambda-Extension-Identifier: $id" ""
          echo "probe: $reply_body"
          case "$reply_body" in *'"SHUTDOWN"'*) exit 0 ;; esac
        done
        """#

    /// bash, its libraries and the bootstrap, as one layer; a second layer adds the working directory.
    static func layers(extra: [TestImages.Entry] = []) throws -> [[TestImages.Entry]] {
        var base = [TestImages.Entry("./bin/bash", mode: 0o755, source: "/bin/bash")]
        for library in try TestImages.sharedLibraries(of: ["/bin/bash"]) {
            base.append(TestImages.Entry("." + library.path, mode: 0o755, source: library.path))
        }
        base.append(TestImages.Entry("./var/task/bootstrap", content: bootstrap, mode: 0o755))
        return [base, [TestImages.Entry("srv/", type: "dir")] + extra]
    }

    /// The image's ENV names the Runtime API too: the platform's value must win (the runtime could not connect
    /// otherwise); its TZ is kept.
    nonisolated(unsafe) static let imageConfig: [String: Any] = [
        "Entrypoint": ["/bin/bash", "/var/task/bootstrap"], "Cmd": ["app.handler"], "WorkingDir": "/srv",
        "Env": [
            "PATH=/bin", "LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/lib64", "FOO=from-image", "BAR=from-image",
            "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1", "TZ=Europe/Paris",
        ],
        "User": "nobody",
    ]

    static let yaml = """
        dataDirectory: ./data
        functions:
          - name: oci
            image: ./image
            environment: {FOO: from-function}
          - name: tarred
            image: ./image.tar
            imageConfig: {command: [override.handler], workingDirectory: /var/task}
          - name: entry
            image: ./image
            imageConfig:
              entryPoint: [/bin/bash, -c, 'cd /tmp && exec /bin/bash /var/task/bootstrap "$@"', entry]
        targetGroups:
          - {name: oci, function: oci}
          - {name: tarred, function: tarred}
          - {name: entry, function: entry}
        listeners:
          - port: 0
            defaultAction: {forward: oci}
            rules:
              - {priority: 1, conditions: [{pathPattern: ["/tar*"]}], action: {forward: tarred}}
              - {priority: 2, conditions: [{pathPattern: ["/entry*"]}], action: {forward: entry}}
        """

    /// Every log stream of `function`, concatenated.
    static func logText(of function: String, in dir: TemporaryDirectory) throws -> String {
        let root = dir.url("data/aws/lambda/\(function)")
        var text = ""
        for file in FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [] {
            text += (try? String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)) ?? ""
        }
        return text
    }

    static func rootfsStamp(_ path: String) -> (ino_t, Int, Int)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (info.st_ino, info.st_mtim.tv_sec, info.st_mtim.tv_nsec)
    }

    @Test(.enabled(if: sandboxWorks, "bwrap cannot run here (no bubblewrap or no user namespaces)"))
    func servesAnOCILayoutAndADockerSaveTarballThroughTheALB() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let layers = try Self.layers(extra: [
            TestImages.Entry("opt/extensions/probe", content: Self.probeExtension, mode: 0o755)
        ])
        let digest = try TestImages.write(
            format: "oci", output: dir.url("image"), layers: layers, config: Self.imageConfig, gzip: true)
        try TestImages.write(format: "docker", output: dir.url("image.tar"), layers: layers, config: Self.imageConfig)
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path, isolation: .sandbox)
        let client = try server.client()
        let oci = try client.request("GET", "/oci/hello")
        let tarred = try client.request("GET", "/tarred/x")
        let entry = try client.request("GET", "/entry/x")
        await server.shutdown()
        #expect(oci.status == 200, "\(oci.text)\n\((try? Self.logText(of: "oci", in: dir)) ?? "")")
        #expect(
            oci.text
                == "path=/oci/hello handler=app.handler arg=app.handler foo=from-function bar=from-image pwd=/srv "
                + "task=/var/task exec=AWS_Lambda_Image tz=Europe/Paris ext=probe:2")
        // ImageConfig replaces CMD and WORKDIR; the image's ENV stays.
        #expect(tarred.status == 200, "\(tarred.text)\n\((try? Self.logText(of: "tarred", in: dir)) ?? "")")
        #expect(
            tarred.text
                == "path=/tarred/x handler=override.handler arg=override.handler foo=from-image bar=from-image "
                + "pwd=/var/task task=/var/task exec=AWS_Lambda_Image tz=Europe/Paris ext=probe:2")
        // ImageConfig replaces ENTRYPOINT and keeps CMD as its arguments: the replacement changes to /tmp first.
        #expect(entry.status == 200, "\(entry.text)\n\((try? Self.logText(of: "entry", in: dir)) ?? "")")
        #expect(
            entry.text
                == "path=/entry/x handler=app.handler arg=app.handler foo=from-image bar=from-image pwd=/tmp "
                + "task=/var/task exec=AWS_Lambda_Image tz=Europe/Paris ext=probe:2")

        // The image's own extension ran beside the runtime, in the same sandbox (its /tmp file and its process were
        // the runtime's to see: `ext=probe:2` above), and saw the invoke and the end.
        let logs = try Self.logText(of: "oci", in: dir)
        #expect(logs.contains("probe: registered in /srv"), "\(logs)")
        #expect(logs.contains(#""eventType":"INVOKE""#), "\(logs)")
        #expect(logs.contains(#""eventType":"SHUTDOWN""#), "\(logs)")

        // A second start reuses the unpacked rootfs as it is.
        let rootfs = dir.url("data/images/\(digest)/rootfs")
        let before = try #require(Self.rootfsStamp(rootfs))
        let again = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path, isolation: .sandbox)
        let second = try again.client().request("GET", "/oci/again")
        await again.shutdown()
        #expect(
            second.text.hasPrefix("path=/oci/again "),
            "\(second.text)\n\((try? Self.logText(of: "oci", in: dir)) ?? "")")
        let after = try #require(Self.rootfsStamp(rootfs))
        #expect(before == after)
    }

    @Test(.enabled(if: sandboxWorks, "bwrap cannot run here (no bubblewrap or no user namespaces)"))
    func anImageWithADotDotEntryIsRefusedAtStart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let layers = try Self.layers(extra: [TestImages.Entry("../escaped", content: "x")])
        try TestImages.write(format: "oci", output: dir.url("image"), layers: layers, config: Self.imageConfig)
        try TestImages.write(format: "docker", output: dir.url("image.tar"), layers: [[]], config: Self.imageConfig)
        do {
            let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path, isolation: .sandbox)
            await server.shutdown()
            Issue.record("a hostile image was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("function oci: image \(dir.url("image")), layer sha256:"), "\(text)")
            #expect(text.contains("entry ../escaped: has a path that climbs out with '..'"), "\(text)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.url("escaped")))
        #expect(!FileManager.default.fileExists(atPath: dir.url("data/images/escaped")))
    }

    /// Images run only in the sandbox: in process mode the start is refused, naming the function and the mode.
    @Test func processModeRefusesImageFunctionsAtStart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let layers = try Self.layers()
        try TestImages.write(format: "oci", output: dir.url("image"), layers: layers, config: Self.imageConfig)
        try TestImages.write(format: "docker", output: dir.url("image.tar"), layers: layers, config: Self.imageConfig)
        do {
            let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path, isolation: .process)
            await server.shutdown()
            Issue.record("process mode started an image function")
        } catch {
            let text = "\(error)"
            #expect(
                text.contains(
                    "function oci runs the container image \(dir.url("image")), which runs only in the sandbox "
                        + "isolation mode; this server runs in process"), "\(text)")
        }
    }
}
