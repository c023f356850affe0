import Foundation

/// `albatross bench compare A.json B.json`: for every target and run present in both reports, whether B's
/// client total (and each phase) moved, and whether that is more than noise.
///
/// A difference is *significant* when all three hold: the Mann-Whitney U test rejects "same distribution" at
/// `alpha`; the bootstrap 95 % interval of the median's difference excludes zero; and the medians differ by at
/// least `minimumEffect` of A's median and by at least `minimumEffectMs`. The tests see only the variation within
/// each run; two runs of the same function on a busy machine also differ as a whole (measured: +18 %, +0.29 ms on
/// a 1.6 ms warm Python invoke, highly "significant"), so the effect floors (10 % and 0.5 ms by default) keep such
/// drift from being reported as a change. See docs/bench.md, "Comparing runs".
public struct Comparison: Sendable {
    /// One target, run and phase: both medians, their difference with its interval, and the verdict.
    public struct Row: Sendable, Codable {
        public var target: String
        public var mode: String
        public var phase: String
        public var countA: Int
        public var countB: Int
        public var medianAMs: Double
        public var medianBMs: Double
        public var differenceMs: Double
        /// (B − A) / A.
        public var relative: Double
        public var intervalLowMs: Double
        public var intervalHighMs: Double
        public var p: Double
        public var significant: Bool
    }

    public var rows: [Row]
    public var alpha: Double
    public var minimumEffect: Double
    public var minimumEffectMs: Double

    public init(
        _ a: BenchReport, _ b: BenchReport, alpha: Double = 0.01, minimumEffect: Double = 0.10,
        minimumEffectMs: Double = 0.5
    ) {
        self.alpha = alpha
        self.minimumEffect = minimumEffect
        self.minimumEffectMs = minimumEffectMs
        var rows: [Row] = []
        for targetA in a.targets {
            // The same name, or, when each report has one target, that one (comparing fn against fn-slow).
            guard
                let targetB = b.targets.first(where: { $0.name == targetA.name })
                    ?? (a.targets.count == 1 && b.targets.count == 1 ? b.targets[0] : nil)
            else { continue }
            for runA in targetA.runs {
                guard let runB = targetB.run(runA.mode) else { continue }
                for phase in [Phase.total] + Phase.parts {
                    let valuesA = runA.samples.filter { $0.outcome == .ok }.compactMap { $0.phase(phase) }
                    let valuesB = runB.samples.filter { $0.outcome == .ok }.compactMap { $0.phase(phase) }
                    guard !valuesA.isEmpty, !valuesB.isEmpty else { continue }
                    var sortedA = valuesA
                    var sortedB = valuesB
                    let medianA = Significance.median(&sortedA)
                    let medianB = Significance.median(&sortedB)
                    let test = Significance.mannWhitney(valuesA, valuesB)
                    let interval = Significance.medianDifferenceInterval(valuesA, valuesB)
                    let difference = medianB - medianA
                    let relative = medianA > 0 ? difference / medianA : 0
                    let significant =
                        test.p < alpha && (interval.low > 0 || interval.high < 0)
                        && abs(difference) >= minimumEffectMs && abs(relative) >= minimumEffect
                    let name = targetA.name == targetB.name ? targetA.name : "\(targetA.name) → \(targetB.name)"
                    rows.append(
                        Row(
                            target: name, mode: runA.mode.rawValue, phase: phase.rawValue, countA: valuesA.count,
                            countB: valuesB.count, medianAMs: medianA, medianBMs: medianB, differenceMs: difference,
                            relative: relative, intervalLowMs: interval.low, intervalHighMs: interval.high, p: test.p,
                            significant: significant))
                }
            }
        }
        self.rows = rows
    }

    /// Whether any client total changed significantly.
    public var totalChanged: Bool { rows.contains { $0.phase == Phase.total.rawValue && $0.significant } }

    /// The table `bench compare` prints.
    public func table() -> String {
        var table = TextTable(
            header: ["target", "run", "phase", "n A", "n B", "p50 A", "p50 B", "Δ p50", "Δ %", "95% CI of Δ", "p", ""])
        for row in rows {
            table.add([
                row.target, row.mode, row.phase, "\(row.countA)", "\(row.countB)", ms(row.medianAMs),
                ms(row.medianBMs), signed(row.differenceMs), String(format: "%+.1f%%", row.relative * 100),
                "[\(signed(row.intervalLowMs)), \(signed(row.intervalHighMs))]", String(format: "%.2g", row.p),
                row.significant ? "CHANGED" : "~",
            ])
        }
        let rule =
            "CHANGED: Mann-Whitney p < \(alpha), the bootstrap 95% CI of Δ p50 excludes 0, and |Δ p50| ≥ "
            + "\(Int(minimumEffect * 100))% and ≥ \(minimumEffectMs) ms; ~: within noise"
        return table.render() + rule + "\n"
    }

    private func signed(_ value: Double) -> String { String(format: "%+.3f", value) }
}

func ms(_ value: Double) -> String { String(format: "%.3f", value) }

/// A plain text table with columns padded to their widest cell (numbers right-aligned).
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    init(header: [String]) { self.header = header }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: max(0, widths[index] - cell.count))
                let numeric = cell.first.map { $0.isNumber || $0 == "+" || $0 == "-" || $0 == "[" } ?? false
                return numeric ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var text = line(header) + "\n"
        for row in rows { text += line(row) + "\n" }
        return text
    }
}

extension BenchReport {
    /// The terminal table: per target, run and phase, the percentiles of successful invocations; then the
    /// outcome counts (errors, timeouts and throttles are never folded into the percentiles).
    public func table() -> String {
        var text = ""
        var table = TextTable(
            header: ["target", "run", "phase", "n", "p50", "p90", "p99", "p99.9", "max", "mean", "stddev"])
        for target in targets {
            for run in target.runs {
                for phase in [Phase.total] + Phase.parts {
                    guard let d = run.phase(phase), d.count > 0 else { continue }
                    table.add([
                        target.name, run.mode.rawValue, phase.rawValue, "\(d.count)", ms(d.p50Ms), ms(d.p90Ms),
                        ms(d.p99Ms), ms(d.p999Ms), ms(d.maxMs), ms(d.meanMs), ms(d.stddevMs),
                    ])
                }
            }
        }
        text += "latency (ms), successful invocations only\n" + table.render()
        var outcomes = TextTable(
            header: [
                "target", "run", "requested", "ok", "errors", "timeouts", "throttled", "failed", "per second",
                "placements",
            ])
        for target in targets {
            for run in target.runs {
                let placements = run.placements.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                    .joined(separator: ", ")
                outcomes.add([
                    target.name, run.mode.rawValue, "\(run.requested)", "\(run.count(.ok))",
                    "\(run.count(.functionError))", "\(run.count(.timeout))", "\(run.count(.throttled))",
                    "\(run.count(.failed))", String(format: "%.1f", run.throughputPerSecond), placements,
                ])
            }
        }
        text += "\n" + outcomes.render()
        let errors = targets.flatMap { target in
            target.runs.flatMap { run in
                run.errorTypes.sorted { $0.key < $1.key }.map {
                    "  \(target.name) \(run.mode.rawValue): \($0.key) × \($0.value)"
                }
            }
        }
        if !errors.isEmpty { text += "errors by type:\n" + errors.joined(separator: "\n") + "\n" }
        for line in baseline ?? [] {
            text += String(
                format: "\nbaseline %@ (%@): spawn → first /next p50 %.3f ms bare, %.3f ms under Albatross: "
                    + "platform share %.3f ms (%.1f%%)\n",
                line.target, line.runtime, line.spawnToNext.p50Ms, line.platformInit.p50Ms, line.platformShareMs,
                line.platformShareRatio * 100)
        }
        // With --server the platform is another process; otherwise it runs in bench's own.
        let platform = command.contains("--server") ? "the server not included" : "platform included"
        text += String(
            format: "\nbench process CPU: %.1f µs per invocation (%d invocations, %@)\n",
            client.cpuMicrosecondsPerInvocation, client.invocations, platform)
        return text
    }
}
