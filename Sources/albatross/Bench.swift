import AlbatrossApp
import ArgumentParser
import Bench
import Configuration
import Foundation
import InvocationModel
import LambdaModel
import NIOCore

/// `albatross bench`: cold against warm latency of functions, split into the platform's phases from the
/// invocation event stream, with terminal, JSON, SVG and HTML reports; `bench compare` for two reports.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure cold and warm invocation latency, phase by phase (see docs/bench.md).",
        subcommands: [BenchRun.self, BenchCompare.self],
        defaultSubcommand: BenchRun.self)
}

/// `albatross bench TARGET... --config FILE`.
struct BenchRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Benchmark targets of a configuration started in-process, or of a running server.",
        discussion: """
            With --config, starts the configuration in this process (no listener unless --via is given) and \
            subscribes to its invocation event stream, so that every sample gets its exact phases. With --server \
            (the admin listener of a running `albatross serve`, on this machine), sends the requests to --via and \
            reads the same events from the admin listener's /invocations/events. Cold samples each run on a fresh \
            environment: the function's idle environments are stopped (never a busy one) and the next invoke \
            starts a new one. Errors, throttles and timeouts are counted, not folded into the percentiles.
            """)

    @Argument(help: "Targets: FUNCTION or FUNCTION:QUALIFIER (version or alias); several are measured in turn.")
    var targets: [String] = []

    @Option(help: "Send HTTP requests to this listener URL of the configuration instead (http://host:port/path).")
    var via: String?

    @Option(name: .shortAndLong, help: "The YAML configuration file, started in this process.")
    var config: String?

    @Option(
        help: "Instead of --config: the admin listener of a running server on this machine (http://127.0.0.1:9464).")
    var server: String?

    @Option(help: "Cold samples per target, each on a fresh environment.")
    var cold = 0

    @Option(help: "Cold samples started at once.")
    var coldConcurrency = 1

    @Option(help: "Warm invocations per target (closed loop).")
    var warm = 0

    @Option(help: "Warm invocations in flight at once (closed loop); through --via, the connections (open loop too).")
    var concurrency = 1

    @Option(help: "Unmeasured invocations before the warm run.")
    var warmup = 0

    @Option(help: "Open loop: run for this long (30s, 500ms, 2m) at --rate; replaces --warm.")
    var duration: String?

    @Option(help: "Open loop: invocations per second, timed from their scheduled send (coordinated omission).")
    var rate: Double?

    @Option(name: .shortAndLong, help: "The event: JSON text, or @file.")
    var payload = "{}"

    @Option(help: "A sweep over memory sizes in MB (128,512,1024): the targets' $LATEST at each size, side by side.")
    var memory: String?

    @Option(
        help: "spawn: also start each target's runtime --cold times with a bare launcher, for the platform's share.")
    var baseline: String?

    @Option(help: "Write the whole report as JSON (docs/bench-schema.json).")
    var json: String?

    @Option(help: "Write the charts as a self-contained SVG.")
    var svg: String?

    @Option(help: "Write the report as a self-contained HTML page.")
    var html: String?

    func validate() throws {
        if cold < 0 || warm < 0 || warmup < 0 { throw ValidationError("counts cannot be negative") }
        if coldConcurrency < 1 || concurrency < 1 { throw ValidationError("concurrency must be at least 1") }
        if (duration == nil) != (rate == nil) { throw ValidationError("--duration and --rate go together") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
        if let duration, Self.seconds(duration) == nil {
            throw ValidationError("--duration: give a number with s, ms or m (30s, 500ms, 2m)")
        }
        if cold == 0 && warm == 0 && duration == nil { throw ValidationError("give --cold, --warm or --duration") }
        if (via == nil) == targets.isEmpty { throw ValidationError("give targets, or --via URL instead of them") }
        if (config == nil) == (server == nil) {
            throw ValidationError("give --config FILE (started in-process) or --server URL (a running server)")
        }
        if server != nil {
            if memory != nil || baseline != nil { throw ValidationError("--memory and --baseline need --config") }
            if let server, (try? BenchURL(server)) == nil {
                throw ValidationError("--server: give the http://host:port URL of the admin listener")
            }
        }
        if let memory {
            guard let sizes = Self.memorySizes(memory) else {
                throw ValidationError("--memory: give sizes in MB between 128 and 10240, separated by commas")
            }
            _ = sizes
            if via != nil || targets.contains(where: { $0.contains(":") }) {
                throw ValidationError("--memory sweeps the $LATEST of function targets (no qualifier, no --via)")
            }
        }
        if let baseline, baseline != "spawn" { throw ValidationError("--baseline: only spawn is known") }
        if baseline != nil && (cold == 0 || via != nil) {
            throw ValidationError("--baseline spawn needs --cold N and function targets")
        }
    }

    static func memorySizes(_ text: String) -> [Int]? {
        let sizes = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 != nil && (128...10240).contains($0!) }) else { return nil }
        return sizes.map { $0! }
    }

    static func seconds(_ text: String) -> Double? {
        for (suffix, factor) in [("ms", 0.001), ("s", 1.0), ("m", 60.0)] where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value > 0 { return value * factor }
        }
        return nil
    }

    func run() async throws {
        let progress = BenchProgress()
        let event: Data
        if payload.hasPrefix("@") {
            guard let data = FileManager.default.contents(atPath: String(payload.dropFirst())) else {
                throw CommandFailure("cannot read the payload file \(payload.dropFirst())")
            }
            event = data
        } else {
            event = Data(payload.utf8)
        }
        var reports: [TargetReport] = []
        var baselines: [BaselineReport] = []
        var cpu = 0.0
        var invocations = 0
        let startedAt = ISO8601DateFormatter().string(from: Date())
        let sizes: [Int?] = memory.flatMap(Self.memorySizes) ?? [nil]
        for size in sizes {
            let part =
                if let server {
                    try await measureRemote(server: server, event: event, progress: progress)
                } else {
                    try await measure(memory: size, event: event, progress: progress)
                }
            reports += part.reports
            baselines += part.baselines
            cpu += part.cpu
            invocations += part.invocations
        }
        let report = BenchReport(
            albatrossVersion: albatrossVersion, command: CommandLine.arguments, startedAt: startedAt,
            machine: .current(),
            settings: .init(
                cold: cold, coldConcurrency: coldConcurrency, warm: warm, concurrency: concurrency, warmup: warmup,
                durationSeconds: duration.flatMap(Self.seconds), rate: rate, payloadBytes: event.count,
                path: via ?? "invoker"),
            targets: reports, baseline: baselines.isEmpty ? nil : baselines,
            client: .init(cpuSeconds: cpu, invocations: invocations))
        FileHandle.standardOutput.write(Data(report.table().utf8))
        do {
            if let json { try report.json().write(to: URL(fileURLWithPath: json)) }
            if let svg { try Data(BenchCharts.svg(report).utf8).write(to: URL(fileURLWithPath: svg)) }
            if let html { try Data(BenchCharts.html(report).utf8).write(to: URL(fileURLWithPath: html)) }
        } catch {
            ConsoleOutput.error("albatross: cannot write the report: \(error)")
            throw ExitCode(1)
        }
    }

    /// One application (the configuration, or with `memory` its targets' $LATEST at that size) and every
    /// target measured on it.
    private func measure(
        memory: Int?, event: Data, progress: BenchProgress
    ) async throws -> (
        reports: [TargetReport], baselines: [BaselineReport], cpu: Double, invocations: Int
    ) {
        guard let config else { throw CommandFailure("--config is missing") }
        let application: AlbatrossApplication
        do {
            if let memory {
                // Only $LATEST, from the file alone: the sweep must not write its memory sizes into the store.
                var configuration = try ConfigurationLoader.load(path: config)
                let names = Set(targets.map { BenchTarget($0).function })
                for index in configuration.functions.indices where names.contains(configuration.functions[index].name) {
                    configuration.functions[index].memorySize = memory
                }
                application = try AlbatrossApplication(
                    configuration: configuration,
                    options: .init(usesStore: false, listeners: false, watchesChanges: false))
            } else {
                application = try AlbatrossApplication(
                    configurationPath: config, options: .init(listeners: via != nil, watchesChanges: false))
            }
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            throw ExitCode(1)
        }
        let parsed = via.map { [BenchTarget($0)] } ?? targets.map(BenchTarget.init)
        let suffix = memory.map { "@\($0)MB" } ?? ""
        let names = Set(application.configuration.functions.map(\.name))
        if via == nil, let unknown = parsed.first(where: { !names.contains($0.function) }) {
            ConsoleOutput.error("albatross: no function \(unknown.function) in \(config)")
            throw ExitCode(1)
        }
        var http: BenchHTTPDriver?
        if let via {
            do {
                http = BenchHTTPDriver(
                    url: try BenchURL(via), payload: payload == "{}" ? [] : Array(event), progress: progress)
                try await application.startListeners()
            } catch {
                await application.requestShutdown()
                try? await application.run()
                ConsoleOutput.error("albatross: \(error)")
                throw ExitCode(1)
            }
        }
        let recorder = BenchRecorder(frontEnd: via != nil)
        let subscription = application.events.subscribe(recorder, name: "bench", capacity: 4_000_000)
        let driver = BenchDriver(
            application: application, payload: ByteBuffer(bytes: event), progress: progress, http: http)
        let result = try await application.whileRunning {
            try await runTargets(parsed, backend: driver, recorder: recorder) { target in
                application.configuration.functions.first { $0.name == target.function }?.runtime.identifier ?? ""
            } baseline: { target, run in
                try await driver.baseline(target, count: cold, run: run)
            }
        }
        if subscription.droppedEvents > 0 {
            ConsoleOutput.error(
                "albatross: warning: \(subscription.droppedEvents) events were dropped; phases are missing")
        }
        return (
            result.reports.map { report in
                var report = report
                report.name += suffix
                return report
            }, result.baselines, result.cpu, result.invocations
        )
    }

    /// `--server`: the targets measured on a running server, through `--via` or (function targets) its admin
    /// listener's `POST /invoke`, with the phases from its admin listener's event feed.
    private func measureRemote(
        server: String, event: Data, progress: BenchProgress
    ) async throws -> (
        reports: [TargetReport], baselines: [BaselineReport], cpu: Double, invocations: Int
    ) {
        let recorder = BenchRecorder(frontEnd: true)
        let remote: BenchRemote
        do {
            let admin = try BenchURL(server)
            let connected = BenchDriver.now()
            let feed = try BenchEventFeedClient(admin: admin, recorder: recorder)
            // The server subscribes the feed when a client connects; its first heartbeat after that says so.
            guard await feed.waitLive(after: connected, timeout: 10) else {
                feed.stop()
                let unread = recorder.malformedLines
                throw CommandFailure(
                    "the admin listener at \(server) sent no event stream (\(feed.failure ?? "no heartbeat in 10 s")"
                        + (unread > 0 ? "; \(unread) lines in another format: a server older than this bench?" : "")
                        + ")")
            }
            let body = payload == "{}" ? [] : Array(event)
            remote = BenchRemote(
                admin: admin,
                listener: try via.map { BenchHTTPDriver(url: try BenchURL($0), payload: body, progress: progress) },
                payload: body, feed: feed, progress: progress)
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            throw ExitCode(1)
        }
        defer { remote.feed.stop() }
        let droppedBefore = remote.feed.droppedEvents
        let result: (reports: [TargetReport], baselines: [BaselineReport], cpu: Double, invocations: Int)
        do {
            result = try await runTargets(
                via.map { [BenchTarget($0)] } ?? targets.map(BenchTarget.init), backend: remote, recorder: recorder
            ) { _ in "" }
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            throw ExitCode(1)
        }
        let dropped = remote.feed.droppedEvents - droppedBefore
        if dropped > 0 {
            ConsoleOutput.error(
                "albatross: warning: the server dropped \(dropped) events of its feed; phases are missing")
        }
        if recorder.malformedLines > 0 {
            ConsoleOutput.error(
                "albatross: warning: \(recorder.malformedLines) lines of the server's event feed could not be read; "
                    + "phases may be missing")
        }
        return result
    }

    /// Every target's cold and warm runs on `backend`, joined with what `recorder` saw; the CPU this process
    /// used meanwhile, but for the warm-ups (whose invocations are not counted).
    private func runTargets(
        _ parsed: [BenchTarget], backend: some BenchBackend, recorder: BenchRecorder,
        runtime: (BenchTarget) -> String,
        baseline spawnBaseline: ((BenchTarget, RunReport) async throws -> BaselineReport)? = nil
    ) async throws -> (reports: [TargetReport], baselines: [BaselineReport], cpu: Double, invocations: Int) {
        let progress = backend.progress
        var reports: [TargetReport] = []
        var baselines: [BaselineReport] = []
        let cpuBefore = Self.cpuSeconds()
        var warmupCPU = 0.0
        var invocations = 0
        for target in parsed {
            var runs: [RunReport] = []
            if cold > 0 {
                progress.begin("\(target.name) cold", expected: cold)
                let start = BenchDriver.now()
                let records = try await backend.cold(target, count: cold, concurrency: coldConcurrency)
                let wall = Double(BenchDriver.now() - start) / 1e9
                progress.end()
                await backend.settle(records)
                invocations += records.count
                let run = RunReport(
                    mode: .cold, requested: cold, wallSeconds: wall,
                    samples: BenchDriver.samples(
                        records, recorder: recorder, runStart: start, viaListener: backend.viaListener))
                runs.append(run)
                if baseline != nil, let spawnBaseline {
                    baselines.append(try await spawnBaseline(target, run))
                }
            }
            if warm > 0 || duration != nil {
                if warmup > 0 {
                    progress.begin("\(target.name) warm-up", expected: warmup)
                    let before = Self.cpuSeconds()
                    _ = await backend.closedLoop(target, count: warmup, concurrency: concurrency)
                    // Not measured: its CPU is not the measured invocations' either.
                    warmupCPU += Self.cpuSeconds() - before
                    progress.end()
                }
                let records: [ClientRecord]
                let requested: Int
                let start = BenchDriver.now()
                if let duration, let rate, let seconds = Self.seconds(duration) {
                    requested = Int((seconds * rate).rounded(.down))
                    progress.begin("\(target.name) open loop \(rate)/s", expected: requested)
                    records = await backend.openLoop(target, seconds: seconds, rate: rate, concurrency: concurrency)
                } else {
                    requested = warm
                    progress.begin("\(target.name) warm", expected: warm)
                    records = await backend.closedLoop(target, count: warm, concurrency: concurrency)
                }
                let wall = Double(BenchDriver.now() - start) / 1e9
                progress.end()
                await backend.settle(records)
                invocations += records.count
                runs.append(
                    RunReport(
                        mode: .warm, requested: requested, wallSeconds: wall,
                        samples: BenchDriver.samples(
                            records, recorder: recorder, runStart: start, viaListener: backend.viaListener)))
            }
            reports.append(TargetReport(name: target.name, runtime: runtime(target), runs: runs))
        }
        return (reports, baselines, Self.cpuSeconds() - cpuBefore - warmupCPU, invocations)
    }

    /// User + system CPU of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// `albatross bench compare A.json B.json`.
struct BenchCompare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two bench reports and say which differences are more than noise.",
        discussion: """
            For each target and run in both reports, and each phase, prints the medians, their difference with a \
            bootstrap 95% confidence interval and the Mann-Whitney U p-value. CHANGED marks a difference that is \
            significant (p < --alpha, the interval excludes 0) and large enough (--min-effect of A's median, and \
            --min-effect-ms). With one target in each report, those two are compared whatever their names.
            """)

    @Argument(help: "The reference report (bench --json).")
    var a: String

    @Argument(help: "The report compared with it.")
    var b: String

    @Option(help: "Significance level of the Mann-Whitney U test.")
    var alpha = 0.01

    @Option(help: "Smallest relative change of the median reported as CHANGED (0.1: 10%).")
    var minEffect = 0.10

    @Option(help: "Smallest absolute change of the median reported as CHANGED, in ms.")
    var minEffectMs = 0.5

    @Flag(help: "Exit with status 2 when a client total changed.")
    var failOnChange = false

    func run() throws {
        let reports = try [a, b].map { path -> BenchReport in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandFailure("cannot read \(path)")
            }
            do {
                return try BenchReport.read(data)
            } catch {
                throw CommandFailure("\(path): \(error)")
            }
        }
        let comparison = Comparison(
            reports[0], reports[1], alpha: alpha, minimumEffect: minEffect, minimumEffectMs: minEffectMs)
        print(comparison.table(), terminator: "")
        if failOnChange && comparison.totalChanged { throw ExitCode(2) }
    }
}

/// The version the reports name.
let albatrossVersion = "0.1.0-dev"
