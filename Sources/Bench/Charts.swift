import Foundation

/// The report's pictures as one self-contained SVG (no script, no font or image from outside: text uses the
/// generic `sans-serif` family): the latency CDF of cold against warm per target, the phase breakdown as stacked
/// bars (means, which add up to the mean total), and completions per second for the warm runs. The HTML report
/// embeds the same drawing.
public enum BenchCharts {
    static let width = 960.0
    static let targetColors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
    static let phaseColors: [Phase: String] = [
        .send: "#bcbd22", .queueing: "#7f7f7f", .initPlatform: "#d62728", .initRuntime: "#ff9896",
        .invoke: "#1f77b4", .returnPath: "#17becf",
    ]

    /// The standalone SVG document.
    public static func svg(_ report: BenchReport) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + drawing(report, namespace: true)
    }

    /// The `<svg>` element; `namespace` adds the SVG namespace declaration (needed in a standalone file, not in
    /// HTML).
    public static func drawing(_ report: BenchReport, namespace: Bool) -> String {
        var body = ""
        var y = 10.0
        body += text(
            x: 20, y: y + 18, "albatross bench: \(report.targets.map(\.name).joined(separator: ", "))", size: 16,
            bold: true)
        y += 34
        y = cdf(report, top: y, into: &body) + 20
        y = phaseBars(report, top: y, into: &body) + 20
        y = throughput(report, top: y, into: &body) + 10
        return SVG.element(width: width, height: y, body: body, namespace: namespace)
    }

    // MARK: panels

    private static func cdf(_ report: BenchReport, top: Double, into body: inout String) -> Double {
        let height = 300.0
        let (left, right) = (70.0, width - 200)
        let (plotTop, plotBottom) = (top + 24, top + height - 30)
        body += text(
            x: 20, y: top + 14, "Client total latency: cumulative distribution (log scale)", size: 14, bold: true)
        var series: [(label: String, color: String, dashed: Bool, values: [Double])] = []
        for (index, target) in report.targets.enumerated() {
            let color = targetColors[index % targetColors.count]
            for run in target.runs {
                let values = run.okTotalsMs
                if !values.isEmpty {
                    series.append(("\(target.name) \(run.mode.rawValue)", color, run.mode == .cold, values))
                }
            }
        }
        let all = series.flatMap(\.values)
        guard let lowest = all.min(), let highest = all.max() else {
            body += text(x: left, y: plotTop + 40, "no successful invocations")
            return top + height
        }
        let low = pow(10, floor(log10(max(lowest, 0.001))))
        let high = pow(10, ceil(log10(max(highest, low * 10))))
        func x(_ value: Double) -> Double {
            left + (log10(max(value, low)) - log10(low)) / (log10(high) - log10(low)) * (right - left)
        }
        func y(_ fraction: Double) -> Double { plotBottom - fraction * (plotBottom - plotTop) }
        body += frame(left: left, top: plotTop, right: right, bottom: plotBottom)
        var decade = low
        while decade <= high * 1.0001 {
            let px = x(decade)
            body += line(px, plotTop, px, plotBottom, color: "#e0e0e0")
            body += text(x: px, y: plotBottom + 16, label(decade), anchor: "middle")
            decade *= 10
        }
        for step in 0...4 {
            let fraction = Double(step) / 4
            body += line(left, y(fraction), right, y(fraction), color: "#e0e0e0")
            body += text(x: left - 6, y: y(fraction) + 4, "\(Int(fraction * 100))%", anchor: "end")
        }
        body += text(x: (left + right) / 2, y: plotBottom + 30, "milliseconds", anchor: "middle")
        for (index, entry) in series.enumerated() {
            var points: [String] = []
            let n = Double(entry.values.count)
            for (rank, value) in entry.values.enumerated() {
                points.append("\(f(x(value))),\(f(y(Double(rank) / n)))")
                points.append("\(f(x(value))),\(f(y(Double(rank + 1) / n)))")
            }
            let dash = entry.dashed ? " stroke-dasharray=\"6 3\"" : ""
            body +=
                "<polyline fill=\"none\" stroke=\"\(entry.color)\" stroke-width=\"2\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
            let legendY = plotTop + 10 + Double(index) * 18
            body +=
                "<line x1=\"\(f(right + 15))\" y1=\"\(f(legendY))\" x2=\"\(f(right + 45))\" y2=\"\(f(legendY))\" stroke=\"\(entry.color)\" stroke-width=\"2\"\(dash)/>\n"
            body += text(x: right + 50, y: legendY + 4, entry.label)
        }
        return top + height
    }

    private static func phaseBars(_ report: BenchReport, top: Double, into body: inout String) -> Double {
        let (left, right) = (200.0, width - 40)
        body += text(
            x: 20, y: top + 14, "Where the time goes: mean per phase (successful invocations)", size: 14, bold: true)
        var bars: [(label: String, parts: [(Phase, Double)])] = []
        for target in report.targets {
            for run in target.runs {
                let parts = Phase.parts.compactMap { phase -> (Phase, Double)? in
                    guard let d = run.phase(phase), d.count > 0 else { return nil }
                    return (phase, max(0, d.meanMs))
                }
                if !parts.isEmpty { bars.append(("\(target.name) \(run.mode.rawValue)", parts)) }
            }
        }
        let longest = bars.map { $0.parts.reduce(0) { $0 + $1.1 } }.max() ?? 0
        var y = top + 28
        // Legend.
        var legendX = left
        for phase in Phase.parts {
            body +=
                "<rect x=\"\(f(legendX))\" y=\"\(f(y - 9))\" width=\"10\" height=\"10\" fill=\"\(phaseColors[phase]!)\"/>\n"
            body += text(x: legendX + 14, y: y, phase.rawValue)
            legendX += 14 + Double(phase.rawValue.count) * 7 + 18
        }
        y += 14
        guard longest > 0 else {
            body += text(x: left, y: y + 20, "no successful invocations")
            return y + 30
        }
        for bar in bars {
            body += text(x: left - 8, y: y + 15, bar.label, anchor: "end")
            var x = left
            for (phase, value) in bar.parts {
                let w = value / longest * (right - left - 90)
                body +=
                    "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(max(w, 0)))\" height=\"20\" fill=\"\(phaseColors[phase]!)\"><title>\(escape(phase.rawValue)) \(ms(value)) ms</title></rect>\n"
                x += w
            }
            let total = bar.parts.reduce(0) { $0 + $1.1 }
            body += text(x: x + 6, y: y + 15, "\(ms(total)) ms")
            y += 28
        }
        return y
    }

    private static func throughput(_ report: BenchReport, top: Double, into body: inout String) -> Double {
        let height = 220.0
        let (left, right) = (70.0, width - 200)
        let (plotTop, plotBottom) = (top + 24, top + height - 30)
        body += text(x: 20, y: top + 14, "Warm runs: completed invocations per second", size: 14, bold: true)
        let series: [(String, String, [Int])] = report.targets.enumerated().compactMap { index, target in
            guard let run = target.run(.warm), !run.completionsPerSecond.isEmpty else { return nil }
            return (target.name, targetColors[index % targetColors.count], run.completionsPerSecond)
        }
        guard !series.isEmpty else {
            body += text(x: left, y: plotTop + 20, "no warm run")
            return plotTop + 30
        }
        let seconds = max(1, series.map(\.2.count).max()!)
        let peak = Double(max(1, series.flatMap(\.2).max()!))
        func x(_ second: Double) -> Double { left + second / Double(seconds) * (right - left) }
        func y(_ value: Double) -> Double { plotBottom - value / (peak * 1.1) * (plotBottom - plotTop) }
        body += frame(left: left, top: plotTop, right: right, bottom: plotBottom)
        for step in 0...4 {
            let value = peak * 1.1 * Double(step) / 4
            body += line(left, y(value), right, y(value), color: "#e0e0e0")
            body += text(x: left - 6, y: y(value) + 4, "\(Int(value.rounded()))", anchor: "end")
        }
        let tick = max(1, seconds / 10)
        for second in stride(from: 0, through: seconds, by: tick) {
            body += text(x: x(Double(second)), y: plotBottom + 16, "\(second)", anchor: "middle")
        }
        body += text(
            x: (left + right) / 2, y: plotBottom + 30, "seconds since the warm run began (last second partial)",
            anchor: "middle")
        for (index, (name, color, counts)) in series.enumerated() {
            var points: [String] = []
            for (second, count) in counts.enumerated() {
                points.append("\(f(x(Double(second)))),\(f(y(Double(count))))")
                points.append("\(f(x(Double(second + 1)))),\(f(y(Double(count))))")
            }
            body +=
                "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            let legendY = plotTop + 10 + Double(index) * 18
            body += line(right + 15, legendY, right + 45, legendY, color: color, width: 2)
            body += text(x: right + 50, y: legendY + 4, name)
        }
        return top + height
    }

    // MARK: primitives (``SVG``)

    private static func frame(left: Double, top: Double, right: Double, bottom: Double) -> String {
        SVG.frame(left: left, top: top, right: right, bottom: bottom)
    }

    private static func line(
        _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, color: String, width: Double = 1
    ) -> String {
        SVG.line(x1, y1, x2, y2, color: color, width: width)
    }

    private static func text(
        x: Double, y: Double, _ content: String, size: Double = 12, bold: Bool = false, anchor: String = "start"
    ) -> String {
        SVG.text(x: x, y: y, content, size: size, bold: bold, anchor: anchor)
    }

    private static func label(_ value: Double) -> String {
        value >= 1 ? String(format: "%.0f", value) : String(format: "%g", value)
    }

    private static func f(_ value: Double) -> String { SVG.f(value) }

    static func escape(_ text: String) -> String { SVG.escape(text) }

    /// The HTML report: the tables and the drawing, in one file that is also well-formed XML, with no reference
    /// to anything outside it (no script, stylesheet, font or image).
    public static func html(_ report: BenchReport) -> String {
        let title = "albatross bench: \(report.targets.map(\.name).joined(separator: ", "))"
        let machine = report.machine
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8"/>
            <title>\(escape(title))</title>
            <style>
            body { font-family: sans-serif; margin: 2em; color: #222; }
            pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
            dt { font-weight: bold; }
            </style>
            </head>
            <body>
            <h1>\(escape(title))</h1>
            <dl>
            <dt>command</dt><dd><code>\(escape(report.command.joined(separator: " ")))</code></dd>
            <dt>started</dt><dd>\(escape(report.startedAt))</dd>
            <dt>Albatross</dt><dd>\(escape(report.albatrossVersion))</dd>
            <dt>machine</dt><dd>\(escape(machine.cpuModel)), \(machine.cores) cores, \(machine.memoryMB) MB, \(escape(machine.kernel))</dd>
            </dl>
            \(drawing(report, namespace: false))
            <h2>Figures</h2>
            <pre>\(escape(report.table()))</pre>
            </body>
            </html>

            """
    }
}
