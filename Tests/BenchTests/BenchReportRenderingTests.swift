import AlbatrossTestKit
import Bench
import Foundation
import Testing

/// A report with two targets, cold and warm, and a few failures, made from fixed samples.
func syntheticReport(shiftMs: Double = 0) -> BenchReport {
    func run(_ mode: RunReport.Mode, base: Double, count: Int) -> RunReport {
        var samples: [Sample] = []
        for index in 0..<count {
            let jitter = Double((index * 7919) % 100) / 100
            var phases: [String: Double] = [
                "send": 0.001, "queueing": 0.05, "invoke": base + jitter + shiftMs, "returnPath": 0.04,
            ]
            if mode == .cold {
                phases["initPlatform"] = 3 + jitter
                phases["initRuntime"] = 40 + jitter
            }
            phases["total"] = phases.values.reduce(0, +)
            samples.append(
                Sample(
                    startMs: Double(index) * 12, outcome: .ok, placement: mode == .cold ? "coldStart" : "warm",
                    phasesMs: phases))
        }
        samples.append(
            Sample(startMs: 5, outcome: .throttled, errorType: "throttled", placement: nil, phasesMs: ["total": 0.2]))
        return RunReport(mode: mode, requested: count + 1, wallSeconds: Double(count) * 0.012, samples: samples)
    }
    let targets = ["fast", "slow<&>"].enumerated().map { index, name in
        TargetReport(
            name: name, runtime: "provided.al2023",
            runs: [run(.cold, base: 2 + Double(index), count: 20), run(.warm, base: 1 + Double(index), count: 100)])
    }
    return BenchReport(
        albatrossVersion: "test", command: ["albatross", "bench", "fast"], startedAt: "2026-01-01T00:00:00Z",
        machine: .current(),
        settings: .init(
            cold: 20, coldConcurrency: 1, warm: 100, concurrency: 1, warmup: 0, durationSeconds: nil, rate: nil,
            payloadBytes: 2, path: "invoker"),
        targets: targets, client: .init(cpuSeconds: 0.1, invocations: 642))
}

/// The errors of validating the JSON file `path` against docs/bench-schema.json (JSON Schema 2020-12, with the
/// jsonschema package of the project's venv); empty when it validates.
func schemaErrors(_ path: String) async throws -> [String] {
    let script = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        errors = jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2])))
        print("checked")
        for error in sorted(errors, key=str)[:10]:
            print("/".join(map(str, error.absolute_path)) + ": " + error.message[:200])
        """
    let result = try await AlbatrossCommand.run(
        executable: PackagePaths.venvPython, ["-c", script, "\(PackagePaths.root)/docs/bench-schema.json", path])
    #expect(result.status == 0 && result.lines.first == "checked", "\(result)")
    return Array(result.lines.dropFirst())
}

/// Checks with xmllint that `path` is well-formed XML.
func expectWellFormed(_ path: String) async throws {
    let result = try await AlbatrossCommand.run(executable: "/usr/bin/xmllint", ["--noout", path])
    #expect(result.status == 0, "\(result)")
}

/// Renders `svg` with rsvg-convert and checks that the PNG has more than one colour.
func expectRendersNonBlank(_ svg: String, in directory: TemporaryDirectory) async throws {
    let png = directory.url("chart.png")
    let render = try await AlbatrossCommand.run(executable: "/usr/bin/rsvg-convert", ["-o", png, svg])
    #expect(render.status == 0, "\(render)")
    // Decode the PNG's pixels with Python's zlib and count distinct byte values of the filtered rows.
    let script = """
        import sys, struct, zlib
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
        pos, idat, width = 8, b'', 0
        while pos < len(data):
            length, kind = struct.unpack('>I4s', data[pos:pos + 8])
            if kind == b'IHDR': width = struct.unpack('>I', data[pos + 8:pos + 12])[0]
            if kind == b'IDAT': idat += data[pos + 8:pos + 8 + length]
            pos += 12 + length
        pixels = zlib.decompress(idat)
        print(width, len(set(pixels)))
        """
    let decoded = try await AlbatrossCommand.run(executable: "/usr/bin/python3", ["-c", script, png])
    let fields = decoded.stdout.split(separator: " ").compactMap {
        Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
    }
    #expect(fields.count == 2 && fields[0] == 960, "\(decoded)")
    #expect((fields.last ?? 0) > 8, "a blank image has a handful of byte values: \(decoded)")
}

/// The HTML must need nothing from outside: no URL, script, stylesheet link, image or font reference.
func expectSelfContained(_ html: String) {
    for needle in ["http:", "https:", "<script", "<link", "src=", "href=", "url(", "@import", "@font-face"] {
        #expect(!html.contains(needle), "the HTML report contains \(needle)")
    }
}

@Suite struct BenchReportRenderingTests {
    @Test func jsonRoundTripsAndRefusesOtherSchemas() throws {
        let report = syntheticReport()
        let data = try report.json()
        let read = try BenchReport.read(data)
        #expect(read.targets.map(\.name) == ["fast", "slow<&>"])
        #expect(read.targets[0].run(.warm)?.phase(.total)?.count == 100)
        var text = String(decoding: data, as: UTF8.self)
        text = text.replacingOccurrences(of: "albatross-bench/1", with: "albatross-bench/9")
        #expect(throws: BenchReportError.self) { try BenchReport.read(Data(text.utf8)) }
    }

    /// The documented schema holds the report, and is strict enough to refuse a broken one.
    @Test func theJSONValidatesAgainstTheDocumentedSchema() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let data = try syntheticReport().json()
        let valid = directory.url("valid.json")
        try data.write(to: URL(fileURLWithPath: valid))
        #expect(try await schemaErrors(valid) == [])
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var targets = try #require(object["targets"] as? [[String: Any]])
        var runs = try #require(targets[0]["runs"] as? [[String: Any]])
        runs[0]["mode"] = "lukewarm"
        targets[0]["runs"] = runs
        object["targets"] = targets
        object.removeValue(forKey: "machine")
        let invalid = directory.url("invalid.json")
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: invalid))
        let errors = try await schemaErrors(invalid)
        #expect(errors.contains { $0.contains("machine") }, "\(errors)")
        #expect(errors.contains { $0.contains("lukewarm") }, "\(errors)")
    }

    @Test func svgAndHTMLAreWellFormedSelfContainedAndDrawSomething() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let report = syntheticReport()
        let svg = try directory.write("report.svg", BenchCharts.svg(report))
        let htmlText = BenchCharts.html(report)
        let html = try directory.write("report.html", htmlText)
        try await expectWellFormed(svg)
        try await expectWellFormed(html)
        expectSelfContained(htmlText)
        #expect(htmlText.contains("slow&lt;&amp;&gt;"))
        try await expectRendersNonBlank(svg, in: directory)
    }

    @Test func theTableCountsFailuresApart() {
        let table = syntheticReport().table()
        #expect(table.contains("latency (ms), successful invocations only"))
        let outcomeLine = table.split(separator: "\n").first { $0.hasPrefix("fast") && $0.contains("coldStart") }
        #expect(
            outcomeLine?.split(separator: " ").prefix(8).map(String.init) == [
                "fast", "cold", "21", "20", "0", "0", "1", "0",
            ])
    }

    @Test func compareFlagsAShiftAndNotTheSameRun() {
        let base = syntheticReport()
        let same = Comparison(base, syntheticReport())
        #expect(!same.totalChanged)
        #expect(same.rows.allSatisfy { !$0.significant })
        let shifted = Comparison(base, syntheticReport(shiftMs: 20))
        #expect(shifted.totalChanged)
        let warmTotal = shifted.rows.first { $0.target == "fast" && $0.mode == "warm" && $0.phase == "total" }
        #expect(warmTotal?.significant == true)
        #expect(abs((warmTotal?.differenceMs ?? 0) - 20) < 0.01)
        // The phases that did not move stay within noise.
        #expect(shifted.rows.filter { $0.phase == "returnPath" }.allSatisfy { !$0.significant })
        #expect(shifted.table().contains("CHANGED"))
    }
}
