import AlbatrossTestKit
import Foundation
import Glibc
import Testing

/// `serve` as an ordinary user, as a developer runs it on a laptop: the tests and CI run as root, which hides
/// whatever needs a privilege. The server runs as `nobody` (setpriv from util-linux) on a directory of its own:
/// the listener must answer and the runtime run as that user. (A listener option set at the wrong level,
/// TCP_NODELAY as SOL_SOCKET's SO_DEBUG, which only root may set, once reset every connection of an unprivileged
/// server.) The sandbox's processes join its namespaces, which needs root: without it the server says so and runs
/// functions as processes, even where bubblewrap itself works for the user (docs/architecture.md, "The sandbox").
@Suite(.serialized)
struct UnprivilegedServeTests {
    static let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    static let available: Bool = {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: nobody[0])
    }()

    /// Runs `command` as nobody; its exit status.
    static func asNobody(_ command: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nobody[0])
        process.arguments = Array(nobody.dropFirst()) + command
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    static let handler = #"printf '{"statusCode":200,"body":"uid=%s"}' "$(id -u)""#

    @Test(.enabled(if: available)) func anOrdinaryUserServesThroughTheListener() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "fn", handler: Self.handler)
        let configPath = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            functions:
              - {name: fn, runtime: provided.al2023, handler: h, code: ./fn, timeout: 20}
            targetGroups:
              - {name: fn-tg, function: fn}
            listeners:
              - port: 0
                defaultAction: {forward: fn-tg}
            """)
        // The build's binary, or a copy where nobody cannot reach it.
        var executable = try AlbatrossCommand.executable()
        if Self.asNobody(["/bin/test", "-x", executable]) != 0 {
            let copy = dir.url("albatross")
            try FileManager.default.copyItem(atPath: executable, toPath: copy)
            executable = copy
        }
        #expect(chown(dir.path, 65534, 65534) == 0)
        for entry in try FileManager.default.subpathsOfDirectory(atPath: dir.path) {
            #expect(lchown(dir.url(entry), 65534, 65534) == 0, "\(entry)")
        }
        let sandboxWorks =
            Self.asNobody(["/usr/bin/bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "/bin/true"])
            == 0
        // The suite runs in process mode (ALBATROSS_ISOLATION); this server picks its mode itself.
        let server = try await ServeProcess.start(
            configPath: configPath, wrapper: ["/usr/bin/env", "ALBATROSS_ISOLATION=auto"] + Self.nobody,
            executable: executable)
        defer { server.cleanUp() }
        let isolation = server.output.split(separator: "\n").first { $0.contains("isolation: ") }
        if sandboxWorks {
            #expect(isolation?.contains("isolation: process: no sandbox") == true, "\(server.output)")
            #expect(isolation?.contains("(needs root)") == true, "the missing piece is named: \(server.output)")
        }
        for _ in 0..<3 {
            let response = try RawHTTPClient(port: server.port, timeout: 20).request("GET", "/")
            #expect(response.status == 200, "\(response.text)\n\(server.output)")
            #expect(response.text == "uid=65534", "the runtime runs as the server's user")
        }
        let outcome = await server.stop()
        #expect(outcome.exited && outcome.status == 0, "\(outcome.output)")
    }
}
