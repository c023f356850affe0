import ArgumentParser
import Configuration
import Foundation
import LambdaModel
import Observability
import Tracing

/// `albatross traces`: the X-Ray traces stored in the data directory, listed, or one drawn as a waterfall.
struct Traces: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List stored X-Ray traces, or draw one as a waterfall.",
        discussion: """
            Without a trace id: one line per trace, newest last: start time, trace id, function, duration and \
            marks (cold start, error). With an id: its segments and subsegments as a waterfall (offset from the \
            trace's start, duration, a bar on a common time axis).
            """)

    @Argument(help: "A trace id (1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx) to draw.")
    var traceID: String?

    @Option(name: .shortAndLong, help: "The YAML configuration file (its data directory holds the traces).")
    var config: String

    @Option(help: "Only traces of this function.")
    var function: String?

    @Option(help: "Start time: <n>s, <n>m, <n>h, <n>d or <n>w ago, or an ISO-8601 time.")
    var since = "1h"

    func validate() throws {
        if LogTime.parseSince(since, nowMs: 0) == nil {
            throw ValidationError("--since must be like 10m, 2h, 1d, 30s, 1w or an ISO-8601 time, got \"\(since)\"")
        }
        if let traceID, !SegmentDocument.isTraceID(traceID) {
            throw ValidationError("\"\(traceID)\" is not a trace id (1-<8 hex>-<24 hex>)")
        }
    }

    func run() throws {
        try reportingFailures {
            let configuration: AlbatrossConfiguration
            do {
                configuration = try ConfigurationLoader.load(path: config)
            } catch {
                throw CommandFailure("\(error)")
            }
            let directory = TraceStore.directory(dataDirectory: configuration.dataDirectory)
            if let traceID {
                guard let lines = TraceStore.documents(traceID: traceID, in: directory) else {
                    throw CommandFailure("no trace \(traceID) in \(directory)")
                }
                print(TraceWaterfall.render(TraceTree(traceID: traceID, lines: lines)), terminator: "")
                return
            }
            let sinceMs = LogTime.parseSince(since, nowMs: WallClock.epochMilliseconds()) ?? 0
            var rows: [(start: Double, line: String)] = []
            for file in TraceStore.traceFiles(in: directory) where file.modified * 1000 >= Double(sinceMs) {
                guard let lines = TraceStore.documents(traceID: file.traceID, in: directory) else { continue }
                let tree = TraceTree(traceID: file.traceID, lines: lines)
                if let function, tree.function != function { continue }
                guard tree.start * 1000 >= Double(sinceMs) else { continue }
                var line =
                    WallClock.iso8601(epochMilliseconds: Int64(tree.start * 1000)) + "  \(file.traceID)  "
                    + (tree.function ?? "-") + "  " + TraceWaterfall.milliseconds(tree.durationMs)
                if tree.coldStart { line += "  [cold start]" }
                if tree.failed { line += "  [error]" }
                rows.append((tree.start, line))
            }
            for row in rows.sorted(by: { $0.start < $1.start }) { print(row.line) }
        }
    }
}
