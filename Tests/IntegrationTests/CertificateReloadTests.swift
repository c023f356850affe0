import AlbatrossTLS
import AlbatrossTestKit
import Foundation
import Testing

/// The certificate services of the real `albatross serve`: SIGHUP reloads, the file watcher (every 5 s) notices
/// a change, and a file that does not load is reported (once) while the loaded certificates stay in use.
@Suite(.serialized)
struct CertificateReloadTests {
    static func occurrences(of text: String, in output: String) -> Int {
        output.components(separatedBy: text).count - 1
    }

    @Test func sighupAndTheFileWatcherReloadAndReportWhatDoesNotLoad() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let authority = try CertificateAuthority.openOrCreate(in: dir.url("certs"))
        let issued = try authority.issue(hostNames: ["localhost"])
        let echo = "\(PackagePaths.root)/config/functions/echo"
        let config = """
            dataDirectory: ./data
            functions:
              - {name: echo, runtime: provided.al2023, handler: echo.handler, code: \(echo)}
            targetGroups:
              - {name: echo-tg, function: echo}
            listeners:
              - port: 0
                protocol: HTTPS
                certificates:
                  - {certificate: \(issued.certificatePath), privateKey: \(issued.privateKeyPath)}
                defaultAction: {forward: echo-tg}
            """
        let server = try await ShutdownTests.ServeProcess(config: config, in: dir)
        defer { server.stop() }

        kill(server.pid, SIGHUP)
        #expect(
            await ShutdownTests.wait(seconds: 10) {
                server.output.contains("albatross: SIGHUP: reloaded the certificates of listener 0")
            }, "\(server.output)")

        // A key file that no longer loads: the watcher reports it (once), SIGHUP too; the server keeps serving.
        let broken = "albatross: listener 0: certificates changed on disk but keep the loaded ones: "
        try "not a key\n".write(toFile: issued.privateKeyPath, atomically: true, encoding: .utf8)
        #expect(await ShutdownTests.wait(seconds: 15) { server.output.contains(broken) }, "\(server.output)")
        kill(server.pid, SIGHUP)
        #expect(
            await ShutdownTests.wait(seconds: 10) {
                server.output.contains("albatross: SIGHUP: listener 0 keeps its certificates: ")
            }, "\(server.output)")
        #expect(server.process.isRunning)
        // At least one more check of the watcher (every 5 s) while the file is still broken.
        try await Task.sleep(for: .seconds(6))

        // Fresh files: the watcher loads them.
        _ = try authority.issue(hostNames: ["localhost"])
        #expect(
            await ShutdownTests.wait(seconds: 15) {
                server.output.contains("albatross: listener 0: certificates changed on disk, reloaded")
            }, "\(server.output)")
        #expect(Self.occurrences(of: broken, in: server.output) == 1, "reported once, not at every check")

        kill(server.pid, SIGTERM)
        #expect(await server.waitForExit(seconds: 20))
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0)
    }
}
