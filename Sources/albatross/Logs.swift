import ArgumentParser
import Configuration
import Foundation
import LambdaModel
import Observability
import Registry

/// `albatross logs`: a function's log group, merged across streams in time order, like `aws logs tail`.
struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a function's logs (all streams of its log group, in time order).",
        discussion: """
            Lines are printed as `aws logs tail` prints them: `<timestamp> <log stream> <message>`. With --follow \
            the command keeps polling (every 200 ms) for new lines and new streams until interrupted (Ctrl-C).
            """)

    @Argument(help: "The function name.")
    var function: String

    @Option(name: .shortAndLong, help: "The YAML configuration file (its data directory holds the logs).")
    var config: String

    @Flag(name: .shortAndLong, help: "Keep printing new lines until interrupted.")
    var follow = false

    @Option(help: "Start time: <n>s, <n>m, <n>h, <n>d or <n>w ago, or an ISO-8601 time (UTC unless it has an offset).")
    var since = "10m"

    @Option(help: "Only lines containing this text (a plain, case-sensitive substring; no filter-pattern syntax).")
    var filter: String?

    @Option(help: "Only the streams of this version ($LATEST or a number).")
    var version: String?

    @Option(help: "Only the streams of the versions this alias routes to.")
    var alias: String?

    @Flag(help: "One JSON object per line (logGroupName, logStreamName, timestamp in epoch ms, message).")
    var json = false

    func validate() throws {
        if version != nil && alias != nil { throw ValidationError("--version and --alias exclude each other") }
        if LogTime.parseSince(since, nowMs: 0) == nil {
            throw ValidationError("--since must be like 10m, 2h, 1d, 30s, 1w or an ISO-8601 time, got \"\(since)\"")
        }
    }

    func run() throws {
        try reportingFailures {
            let (configuration, registry) = try openRegistry(configPath: config)
            var versions: Set<String>? = version.map { [$0] }
            if let alias {
                let routing = try registry.alias(functionName: function, name: alias).routing
                versions = Set([routing.primaryVersion] + (routing.additionalVersion.map { [$0] } ?? []))
            }
            let declared = configuration.functions.first { $0.name == function }
            let stored = try? registry.version(functionName: function, version: "$LATEST")
            guard declared != nil || stored != nil else {
                throw CommandFailure("function \"\(function)\" is not defined in \(config) nor in the store")
            }
            let logging = declared?.logging ?? stored?.configuration.logging ?? LoggingConfiguration()
            let sinceMs = LogTime.parseSince(since, nowMs: WallClock.epochMilliseconds())
            let query = LogQuery(sinceMs: sinceMs, filter: filter, versions: versions)
            let reader = LogGroupReader(
                dataDirectory: configuration.dataDirectory, groupName: logging.logGroupName(functionName: function),
                query: query)
            print(reader.read())
            guard follow else { return }
            // Ctrl-C ends following quietly, as with `aws logs tail --follow`.
            signal(SIGINT) { _ in _exit(0) }
            signal(SIGPIPE) { _ in _exit(0) }
            while true {
                usleep(200_000)
                print(reader.read())
            }
        }
    }

    private func print(_ events: [LogEvent]) {
        guard !events.isEmpty else { return }
        var text = ""
        for event in events {
            text += json ? event.jsonLine : event.detailedLine
            text += "\n"
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
