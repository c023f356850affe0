import Bench
import Foundation

/// A rollout's report as pictures: one self-contained SVG (and an HTML page embedding it with the steps, alarm
/// evaluations and history as tables) drawn from a ``RolloutRecord``: the target version's configured weight
/// against each version's actual share of requests, each version's request rate and error rate over time, the
/// shifts and alarm states as markers, and the outcome with its reason. Drawn with the bench report's ``SVG``
/// primitives; nothing outside the file is referenced (no script, stylesheet, font or image).
public enum RolloutReport {
    static let width = 960.0
    static let left = 70.0
    static let right = 790.0
    /// The current (old) version, then the target version.
    static let versionColors = ["#1f77b4", "#ff7f0e"]

    /// The standalone SVG document.
    public static func svg(_ record: RolloutRecord) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + drawing(record, namespace: true)
    }

    /// The `<svg>` element.
    public static func drawing(_ record: RolloutRecord, namespace: Bool) -> String {
        let machine = record.machine
        let spec = machine.spec
        let points = record.timeline ?? []
        let start = machine.createdAt
        let end = max(machine.endedAt ?? points.last?.at ?? start, (points.last?.at ?? start), start + 0.001)
        let versions = [spec.currentVersion, spec.targetVersion]
        var body = ""
        body += SVG.text(
            x: 20, y: 28,
            "rollout \(spec.id): \(spec.function):\(spec.alias) \(spec.currentVersion) → \(spec.targetVersion)",
            size: 16, bold: true)
        body += SVG.text(
            x: 20, y: 46, "\(spec.configuration.name) at time scale \(format(spec.timeScale))", size: 13)
        let outcomeColor = machine.status == .succeeded ? "#2ca02c" : machine.isFinished ? "#d62728" : "#555555"
        var top = 50.0
        for line in wrap("outcome: " + record.rollbackSummary, width: 130) {
            top += 17
            body += SVG.text(x: 20, y: top, line, size: 13, color: outcomeColor)
        }
        top += 12
        // Legend.
        for (index, version) in versions.enumerated() {
            let x = left + Double(index) * 160
            body += SVG.line(x, top + 8, x + 30, top + 8, color: versionColors[index], width: 2)
            body += SVG.text(x: x + 36, y: top + 12, "version \(version)\(index == 0 ? " (current)" : " (target)")")
        }
        body += SVG.line(left + 330, top + 8, left + 360, top + 8, color: "#222222", width: 2, dash: "6 3")
        body += SVG.text(x: left + 366, y: top + 12, "configured weight of \(spec.targetVersion)")
        top += 26

        // 1. Traffic share.
        let configured = configuredWeights(record, end: end)
        top = panel(
            title: "Traffic share (% of requests per sampling interval)", top: top, start: start, end: end,
            maximum: 100, unit: "%", record: record, into: &body
        ) { x, y in
            var drawn = ""
            drawn += SVG.polyline(configured.map { (x($0.0), y(Double($0.1))) }, color: "#222222", dash: "6 3")
            for (index, version) in versions.enumerated() {
                let series = points.compactMap { point -> (Double, Double)? in
                    let total = versions.reduce(0) { $0 + (point.versions[$1]?.requests ?? 0) }
                    guard total > 0 else { return nil }
                    return (point.at, Double(point.versions[version]?.requests ?? 0) * 100 / Double(total))
                }
                drawn +=
                    series.isEmpty ? "" : SVG.polyline(series.map { (x($0.0), y($0.1)) }, color: versionColors[index])
            }
            return drawn
        }

        // 2. Request rate.
        var rates: [[(Double, Double)]] = []
        for version in versions {
            var previous = start
            rates.append(
                points.map { point in
                    defer { previous = point.at }
                    let seconds = max(point.at - previous, 0.001)
                    return (point.at, Double(point.versions[version]?.requests ?? 0) / seconds)
                })
        }
        let peakRate = max(rates.flatMap { $0.map(\.1) }.max() ?? 0, 1)
        let rateScale = niceTick(peakRate / 4) * 4
        top = panel(
            title: "Requests per second", top: top + 20, start: start, end: end, maximum: rateScale, unit: "",
            record: record, into: &body
        ) { x, y in
            rates.enumerated().map { index, series in
                series.isEmpty ? "" : SVG.polyline(series.map { (x($0.0), y($0.1)) }, color: versionColors[index])
            }.joined()
        }

        // 3. Error rate.
        let errors = versions.map { version in
            points.compactMap { point -> (Double, Double)? in
                guard let stats = point.versions[version], let percent = stats.errorPercent else { return nil }
                return (point.at, percent)
            }
        }
        top = panel(
            title: "Errors (% of invocations per sampling interval)", top: top + 20, start: start, end: end,
            maximum: 100, unit: "%", record: record, into: &body
        ) { x, y in
            errors.enumerated().map { index, series in
                series.isEmpty
                    ? ""
                    : SVG.polyline(series.map { (x($0.0), y($0.1)) }, color: versionColors[index])
                        + series.map {
                            "<circle cx=\"\(SVG.f(x($0.0)))\" cy=\"\(SVG.f(y($0.1)))\" r=\"2.5\" fill=\"\(versionColors[index])\"/>\n"
                        }.joined()
            }.joined()
        }

        // 4. Alarms: one row per alarm, coloured by state over time.
        top += 20
        body += SVG.text(x: 20, y: top + 14, "Alarm states", size: 14, bold: true)
        top += 24
        let names = spec.alarms.map(\.name)
        if names.isEmpty {
            body += SVG.text(x: left, y: top + 12, "no alarms")
            top += 20
        }
        func x(_ time: Double) -> Double { left + (time - start) / (end - start) * (right - left) }
        func color(_ state: AlarmState) -> String {
            state == .alarm ? "#d62728" : state == .ok ? "#2ca02c" : "#bbbbbb"
        }
        for name in names {
            body += SVG.text(x: left, y: top + 10, name, size: 11)
            top += 14
            // The state between timeline points (sampled), then each recorded evaluation as a tick with its value.
            var previous = start
            for point in points {
                if let state = point.alarms?[name] {
                    body += SVG.rect(
                        x: x(previous), y: top, width: x(point.at) - x(previous), height: 18, fill: color(state),
                        title: "\(state.rawValue) at \(format(point.at - start)) s")
                }
                previous = point.at
            }
            for evaluation in record.evaluations where evaluation.alarm == name {
                body += SVG.rect(
                    x: x(evaluation.at) - 1.5, y: top - 3, width: 3, height: 24, fill: color(evaluation.state),
                    title: "\(evaluation.state.rawValue) at \(format(evaluation.at - start)) s: "
                        + "\(evaluation.value.map(format) ?? "no value") over \(evaluation.requests) requests")
            }
            body += SVG.frame(left: left, top: top, right: right, bottom: top + 18)
            top += 26
        }
        body += SVG.text(
            x: left, y: top + 4, "green OK, red ALARM, grey INSUFFICIENT_DATA; ticks: recorded evaluations", size: 10,
            color: "#555555")
        top += 8
        return SVG.element(width: width, height: top + 16, body: body, namespace: namespace)
    }

    /// A plot with its frame, time axis, value grid, shift markers and the series `draw` returns.
    private static func panel(
        title: String, top: Double, start: Double, end: Double, maximum: Double, unit: String,
        record: RolloutRecord, into body: inout String,
        draw: (_ x: (Double) -> Double, _ y: (Double) -> Double) -> String
    ) -> Double {
        let plotTop = top + 24
        let plotBottom = plotTop + 170
        func x(_ time: Double) -> Double { left + (time - start) / (end - start) * (right - left) }
        func y(_ value: Double) -> Double { plotBottom - min(max(value / maximum, 0), 1) * (plotBottom - plotTop) }
        body += SVG.text(x: 20, y: top + 14, title, size: 14, bold: true)
        for fraction in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let value = fraction * maximum
            body += SVG.line(left, y(value), right, y(value), color: "#e8e8e8")
            body += SVG.text(x: left - 6, y: y(value) + 4, format(value) + unit, anchor: "end")
        }
        let span = end - start
        let tick = niceTick(span / 8)
        var second = 0.0
        while second <= span + 1e-9 {
            body += SVG.text(x: x(start + second), y: plotBottom + 16, format(second), anchor: "middle")
            second += tick
        }
        body += SVG.text(
            x: (left + right) / 2, y: plotBottom + 30, "seconds since the rollout was created", anchor: "middle")
        for entry in record.machine.history where entry.percent != nil && entry.at > start {
            body += SVG.line(x(entry.at), plotTop, x(entry.at), plotBottom, color: "#999999", dash: "2 3")
            body += SVG.text(x: x(entry.at) + 3, y: plotTop + 11, "\(entry.percent!) %", size: 10, color: "#555555")
        }
        if let ended = record.machine.endedAt {
            body += SVG.line(x(ended), plotTop, x(ended), plotBottom, color: "#d62728", dash: "4 2")
        }
        body += draw(x, y)
        body += SVG.frame(left: left, top: plotTop, right: right, bottom: plotBottom)
        return plotBottom + 34
    }

    /// The target version's configured share as a step function over time, from the history's weight changes.
    static func configuredWeights(_ record: RolloutRecord, end: Double) -> [(Double, Int)] {
        var points: [(Double, Int)] = [(record.machine.createdAt, 0)]
        for entry in record.machine.history {
            guard let percent = entry.percent else { continue }
            points.append((entry.at, points.last!.1))
            points.append((entry.at, percent))
        }
        if record.machine.rolledBack, let ended = record.machine.endedAt {
            points.append((ended, points.last!.1))
            points.append((ended, 0))
        }
        points.append((end, points.last!.1))
        return points
    }

    /// `text` in lines of at most `width` characters, broken at spaces.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += line.isEmpty ? String(word) : " " + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    static func niceTick(_ raw: Double) -> Double {
        guard raw > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(raw)))
        for step in [1.0, 2, 5, 10] where step * magnitude >= raw { return step * magnitude }
        return 10 * magnitude
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(format: "%.2f", value)
    }

    /// The HTML report: the drawing, the steps, the alarm evaluations and the history, in one file that is also
    /// well-formed XML.
    public static func html(_ record: RolloutRecord) -> String {
        let machine = record.machine
        let spec = machine.spec
        let start = machine.createdAt
        let title = "rollout \(spec.id): \(spec.function):\(spec.alias) \(spec.currentVersion) → \(spec.targetVersion)"
        var steps = "<tr><th>weight</th><th>started (s)</th><th>ended (s)</th>"
        for version in [spec.currentVersion, spec.targetVersion] {
            steps += "<th>v\(SVG.escape(version)) requests</th><th>errors</th><th>throttles</th><th>p99 ms</th>"
        }
        steps += "</tr>\n"
        for step in record.steps {
            steps += "<tr><td>\(step.percent) %</td><td>\(format(step.startedAt - start))</td>"
            steps += "<td>\(step.endedAt.map { format($0 - start) } ?? "")</td>"
            for version in [spec.currentVersion, spec.targetVersion] {
                let stats = step.versions[version] ?? .init()
                steps += "<td>\(stats.requests)</td><td>\(stats.errors)</td><td>\(stats.throttles)</td>"
                steps += "<td>\(stats.p99Ms.map(format) ?? "")</td>"
            }
            steps += "</tr>\n"
        }
        var alarms = "<tr><th>at (s)</th><th>alarm</th><th>state</th><th>value</th><th>requests</th></tr>\n"
        for evaluation in record.evaluations {
            alarms += "<tr><td>\(format(evaluation.at - start))</td><td>\(SVG.escape(evaluation.alarm))</td>"
            alarms += "<td>\(evaluation.state.rawValue)</td><td>\(evaluation.value.map(format) ?? "")</td>"
            alarms += "<td>\(evaluation.requests)</td></tr>\n"
        }
        var history = "<tr><th>at (s)</th><th>event</th><th>weight</th></tr>\n"
        for entry in machine.history {
            history += "<tr><td>\(format(entry.at - start))</td><td>\(SVG.escape(entry.event))</td>"
            history += "<td>\(entry.percent.map { "\($0) %" } ?? "")</td></tr>\n"
        }
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8"/>
            <title>\(SVG.escape(title))</title>
            <style>
            body { font-family: sans-serif; margin: 2em; color: #222; }
            table { border-collapse: collapse; margin-bottom: 1.5em; }
            td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
            td:nth-child(2) { text-align: left; }
            </style>
            </head>
            <body>
            <h1>\(SVG.escape(title))</h1>
            <p>\(SVG.escape(spec.configuration.name)) at time scale \(format(spec.timeScale)); \
            \(SVG.escape(record.rollbackSummary))</p>
            \(drawing(record, namespace: false))
            <h2>Steps</h2>
            <table>
            \(steps)</table>
            <h2>Alarm evaluations</h2>
            <table>
            \(alarms)</table>
            <h2>History</h2>
            <table>
            \(history)</table>
            </body>
            </html>

            """
    }
}
