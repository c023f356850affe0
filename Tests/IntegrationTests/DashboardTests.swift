import AlbatrossTestKit
import Foundation
import InvocationModel
import NIOCore
import Rollout
import Testing

/// The live dashboard in a real browser: headless Chromium (driven over the DevTools protocol by
/// Tests/Python/chromium_cdp.py) loads `GET /dashboard` during a rollout and reads the page as it updates from
/// `/dashboard/events`: the weight and the request counts it shows change, in one page load. The screenshot is kept
/// in `.build/artefacts/dashboard.png`.
@Suite(.serialized)
struct DashboardTests {
    static let yaml = """
        dataDirectory: ./data
        admin: {port: 0}
        functions:
          - name: shop
            runtime: provided.al2023
            handler: h
            code: ./good
            versions:
              - {version: 1, code: ./good}
              - {version: 2, code: ./good2}
            aliases:
              - {name: live, version: "1"}
        targetGroups:
          - {name: live, function: "shop:live"}
        listeners:
          - port: 0
            defaultAction: {forward: live}
        """

    struct Reading: Decodable {
        var state: String
        var weight: String?
        var requests: String?
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")))
    func theDashboardShowsARolloutUpdatingLiveInChromium() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "good", handler: TestFunctions.albResponse(body: "ok"))
        try TestFunctions.writeBash(in: dir, name: "good2", handler: TestFunctions.albResponse(body: "ok 2"))
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        let deadline = Date().addingTimeInterval(30)
        while server.application.admin?.port == nil && Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let admin = try #require(server.application.admin?.port)
        let runner = try #require(server.application.rollouts)
        _ = try await server.application.invoke(
            InvokeRequest(functionName: "shop", qualifier: "2", payload: ByteBuffer(string: "{}")))
        // Ten shifts 1.5 s apart (a minute at 40×).
        let started = try await runner.start(
            RolloutRequest(
                function: "shop", alias: "live", to: "2", config: "LambdaLinear10PercentEvery1Minute", timeScale: 40))
        let id = started.id
        // Traffic from a thread of its own: blocking socket reads on the cooperative pool (which the in-process
        // server's tasks share) would starve the dashboard's ticker on a loaded machine.
        let port = server.port
        async let traffic = offPool { () -> Int in
            guard let client = try? RawHTTPClient(port: port, timeout: 10) else { return 0 }
            var sent = 0
            while !(runner.record(id)?.ended ?? true) && sent < 5000 {
                guard (try? client.request("GET", "/")) != nil else { break }
                sent += 1
                usleep(5000)
            }
            return sent
        }
        let expression = """
            JSON.stringify({state: document.getElementById('state').textContent,
              weight: (document.getElementById('weight-\(id)') || {}).textContent,
              requests: (document.getElementById('v-shop-1-requests') || {}).textContent})
            """
        try FileManager.default.createDirectory(
            atPath: "\(PackagePaths.root)/.build/artefacts", withIntermediateDirectories: true)
        let screenshot = "\(PackagePaths.root)/.build/artefacts/dashboard.png"
        let browser = try await AlbatrossCommand.run(
            executable: "/usr/bin/python3",
            [
                "\(PackagePaths.root)/Tests/Python/chromium_cdp.py", "http://127.0.0.1:\(admin)/dashboard", expression,
                "6", "1.5", screenshot,
            ], timeout: 90)
        _ = runner.stop(id)
        _ = try await RolloutTests.wait(runner, id)
        #expect(try await traffic > 0)
        await server.shutdown()
        #expect(browser.status == 0, "\(browser)")
        // One line per reading; `null` while the page is still loading (a loaded machine may start Chromium slowly).
        let lines = browser.stdout.split(separator: "\n")
        #expect(lines.count == 6, "\(browser.stdout)")
        let readings = lines.compactMap { line -> Reading? in
            guard let text = try? JSONDecoder().decode(String.self, from: Data(line.utf8)) else { return nil }
            return try? JSONDecoder().decode(Reading.self, from: Data(text.utf8))
        }
        #expect(readings.count == lines.filter { $0 != "null" }.count, "\(browser.stdout)")
        // The first snapshot comes with the next tick after the page connects (a loaded machine may start Chromium
        // slowly): readings before it say "connecting…". From the first live one on, every one is live.
        let live = Array(readings.drop { !$0.state.hasPrefix("live: update") })
        #expect(live.count >= 4 && live.allSatisfy { $0.state.hasPrefix("live: update") }, "\(readings)")
        #expect(Set(live.map(\.state)).count >= 3, "the page keeps getting newer updates: \(readings)")
        let weights = live.compactMap(\.weight)
        #expect(Set(weights).count >= 2, "the weight shown changes: \(weights)")
        let requests = live.compactMap { $0.requests.flatMap(Int.init) }
        #expect(
            requests.count == live.count && requests == requests.sorted() && Set(requests).count >= 2,
            "the request count grows: \(requests)")
        let png = try #require(FileManager.default.contents(atPath: screenshot))
        #expect(png.count > 10_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }
}
