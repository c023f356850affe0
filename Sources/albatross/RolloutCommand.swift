import ArgumentParser
import Foundation
import Rollout

/// `albatross rollout`: a CodeDeploy-style deployment of an alias to a new version on a running server, through its
/// admin listener (`/rollouts`), with live progress; `rollout stop ID` and `rollout status [ID]`.
struct RolloutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Shift an alias to a new version with a CodeDeploy configuration, alarms, hooks and rollback.",
        discussion: """
            albatross rollout FUNCTION --alias live --to VERSION --config CodeDeployDefault.LambdaCanary10Percent5Minutes \
            [--time-scale 60] [--alarm errors>1%/1m/min20 ...] [--pre-hook FN] [--post-hook FN] \
            [--drive URL --rate R] (-c config.yaml | --admin HOST:PORT). See docs/rollouts.md.
            """,
        subcommands: [Start.self, Stop.self, Show.self], defaultSubcommand: Start.self)

    /// Where the server's admin listener is.
    struct Target: ParsableArguments {
        @Option(name: .customShort("c"), help: "The YAML configuration file the server runs (its admin: section).")
        var configFile: String?

        @Option(help: "The admin listener, as host:port (e.g. 127.0.0.1:9090).")
        var admin: String?

        func validate() throws {
            if configFile == nil && admin == nil { throw ValidationError("give -c config.yaml or --admin host:port") }
        }

        func address() throws -> (String, Int) { try AdminClient.address(config: configFile, admin: admin) }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "start", abstract: "Start a rollout and follow it until it ends (the default subcommand).")

        @Argument(help: "The function.") var function: String
        @Option(help: "The alias to move.") var alias = "live"
        @Option(help: "The published version to move the alias to.") var to: String
        @Option(
            name: .customLong("config"),
            help:
                "A CodeDeployDefault.Lambda* configuration, TimeBasedCanary:PERCENT:MINUTES or TimeBasedLinear:PERCENT:MINUTES."
        )
        var deploymentConfig: String
        @Option(help: "How much faster than configured time runs (60: a minute lasts a second).")
        var timeScale: Double = 1
        @Option(name: .customLong("alarm"), help: "[old:]METRIC>THRESHOLD[/PERIOD][/minN], e.g. errors>1%/1m/min20.")
        var alarms: [String] = []
        @Option(help: "The PreTraffic (BeforeAllowTraffic) hook function.") var preHook: String?
        @Option(help: "The PostTraffic (AfterAllowTraffic) hook function.") var postHook: String?
        @Flag(help: "Wait one more interval before the last linear shift.") var linearFinalWait = false
        @Option(help: "Seconds a hook has to give its verdict, in real time (default 3600, CodeDeploy's hour).")
        var hookTimeout: Double?
        @Option(help: "Send GET requests to this http:// URL while the rollout runs (loopback traffic).")
        var drive: String?
        @Option(help: "Requests per second for --drive (at most 1000).") var rate: Double = 20
        @Option(help: "Write the rollout's report to this file when it ends: HTML (.html), SVG (.svg) or JSON.")
        var report: String?
        @OptionGroup var target: Target

        func validate() throws {
            if let drive, DriveTarget(drive) == nil { throw ValidationError("--drive must be http://host:port/path") }
            if !(0.1...1000).contains(rate) { throw ValidationError("--rate must be within 0.1–1000") }
            if let hookTimeout, !(hookTimeout > 0 && hookTimeout <= 3600) {
                throw ValidationError("--hook-timeout must be within (0, 3600] seconds")
            }
        }

        func run() throws {
            try reportingFailures {
                let (host, port) = try target.address()
                let request = RolloutRequest(
                    function: function, alias: alias, to: to, config: deploymentConfig, timeScale: timeScale,
                    alarms: alarms, preHook: preHook, postHook: postHook, linearFinalWait: linearFinalWait,
                    hookTimeoutSeconds: hookTimeout)
                let body = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
                let (status, answer) = try AdminClient.request(
                    host: host, port: port, method: "POST", path: "/rollouts", body: body, timeoutSeconds: 30)
                guard status == 201, let started = RolloutProgress.decode(answer) else {
                    throw CommandFailure("the rollout did not start: \(RolloutProgress.message(answer))")
                }
                let spec = started.machine.spec
                print(
                    "rollout \(spec.id): \(spec.function):\(spec.alias) \(spec.currentVersion) → \(spec.targetVersion) "
                        + "with \(spec.configuration.name) at time scale \(spec.timeScale)")
                fflush(nil)
                let driver = drive.flatMap(DriveTarget.init).map { TrafficDriver(target: $0, rate: rate) }
                driver?.start()
                defer { driver?.stop() }
                let final = try RolloutProgress.follow(id: spec.id, host: host, port: port)
                if let driver { print("drove \(driver.sent) requests (\(driver.failed) failed)") }
                if let report { try RolloutProgress.write(final, to: report) }
                print(RolloutProgress.outcome(final))
                if final.machine.status != .succeeded { throw ExitCode(2) }
            }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a rollout in progress and roll it back.")
        @Argument(help: "The rollout id (d-…).") var id: String
        @OptionGroup var target: Target

        func run() throws {
            try reportingFailures {
                let (host, port) = try target.address()
                let (status, answer) = try AdminClient.request(
                    host: host, port: port, method: "POST", path: "/rollouts/\(id)/stop")
                guard status == 202 else { throw CommandFailure(RolloutProgress.message(answer)) }
                print("rollout \(id): stop requested; it rolls back")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status", abstract: "Show one rollout, or every rollout the server knows.")
        @Argument(help: "The rollout id (d-…); all when omitted.") var id: String?
        @Flag(help: "Print the JSON document.") var json = false
        @Option(help: "Write the rollout's report to this file: HTML (.html), SVG (.svg) or JSON.")
        var report: String?
        @OptionGroup var target: Target

        func validate() throws {
            if report != nil && id == nil { throw ValidationError("--report needs the rollout id") }
        }

        func run() throws {
            try reportingFailures {
                let (host, port) = try target.address()
                let (status, answer) = try AdminClient.request(
                    host: host, port: port, method: "GET", path: id.map { "/rollouts/\($0)" } ?? "/rollouts")
                guard status == 200 else { throw CommandFailure(RolloutProgress.message(answer)) }
                if let report, let record = RolloutProgress.decode(answer) {
                    try RolloutProgress.write(record, to: report)
                }
                if json {
                    print(answer, terminator: "")
                    return
                }
                let records: [RolloutRecord]
                if id != nil {
                    records = RolloutProgress.decode(answer).map { [$0] } ?? []
                } else {
                    records = (try? JSONDecoder().decode([RolloutRecord].self, from: Data(answer.utf8))) ?? []
                }
                if records.isEmpty { print("no rollouts") }
                for record in records {
                    let spec = record.machine.spec
                    print(
                        "\(spec.id)  \(spec.function):\(spec.alias) \(spec.currentVersion) → \(spec.targetVersion)  "
                            + "\(spec.configuration.name)  \(RolloutProgress.line(record))")
                    if record.ended { print("  \(RolloutProgress.outcome(record))") }
                }
            }
        }
    }
}

/// Following a rollout: progress lines and the outcome.
enum RolloutProgress {
    static func decode(_ text: String) -> RolloutRecord? {
        try? JSONDecoder().decode(RolloutRecord.self, from: Data(text.utf8))
    }

    /// The report by the file's extension: `.html`, `.svg`, else the JSON record.
    static func write(_ record: RolloutRecord, to path: String) throws {
        let text =
            path.hasSuffix(".html")
            ? RolloutReport.html(record) : path.hasSuffix(".svg") ? RolloutReport.svg(record) : record.json()
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        } catch {
            throw CommandFailure("cannot write the report to \(path): \(error)")
        }
        print("report written to \(path)")
    }

    static func message(_ text: String) -> String {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["message"] as? String ?? text
    }

    /// Polls `GET /rollouts/<id>` until the rollout ends: on a terminal one line rewritten in place four times a
    /// second; otherwise (a pipe, a log) a line whenever the step, the status or the alarm state changes, and at
    /// most once a second while the step's live counts change, so that a piped follower sees them grow too.
    static func follow(id: String, host: String, port: Int) throws -> RolloutRecord {
        let terminal = isatty(STDOUT_FILENO) == 1
        var last = ""
        var lastText = ""
        var printedAt = Date.distantPast
        var lost = 0
        while true {
            let status: Int
            let answer: String
            do {
                (status, answer) = try AdminClient.request(
                    host: host, port: port, method: "GET", path: "/rollouts/\(id)", timeoutSeconds: 30)
                lost = 0
            } catch {
                // A busy server may drop one poll; the rollout goes on without the follower, so keep asking.
                lost += 1
                if lost >= 20 { throw error }
                usleep(500_000)
                continue
            }
            guard status == 200, let record = decode(answer) else {
                throw CommandFailure("lost the rollout \(id): \(message(answer))")
            }
            let text = line(record)
            if terminal {
                print("\r\u{1B}[2K" + text, terminator: record.ended ? "\n" : "")
                fflush(nil)
            } else {
                let key =
                    "\(record.machine.status) \(record.machine.phase) \(record.machine.step) "
                    + record.machine.lastEvaluations.map(\.state.rawValue).joined()
                if key != last || (text != lastText && Date().timeIntervalSince(printedAt) >= 1) {
                    print(text)
                    // Plain lines reach a pipe (`| tee`) as they happen.
                    fflush(nil)
                    last = key
                    lastText = text
                    printedAt = Date()
                }
            }
            if record.ended { return record }
            usleep(250_000)
        }
    }

    /// The step in progress with each version's live counts since the step began: its requests and its share of
    /// them, errors (and their rate), throttles when there are any, and p99 duration; then the alarm states.
    /// `InProgress AllowTraffic  step 1/2  10 %  v6: 45 req (90.0 %) 0 err (0.0 %) p99 3.1 ms  v7: 5 req (10.0 %)
    /// 1 err (20.0 %) p99 4.0 ms  alarms errors>1%: ALARM`.
    static func line(_ record: RolloutRecord) -> String {
        let machine = record.machine
        let spec = machine.spec
        var parts = [
            "\(machine.status.rawValue) \(machine.phase.rawValue)",
            "step \(max(0, machine.step + 1))/\(spec.schedule.count)", "\(machine.percent) %",
        ]
        if let step = record.steps.last {
            let versions = [spec.currentVersion, spec.targetVersion]
            let total = versions.map { step.versions[$0]?.requests ?? 0 }.reduce(0, +)
            for version in versions {
                let stats = step.versions[version] ?? InvocationWindow.Stats()
                parts.append("v\(version): " + figures(stats, total: total))
            }
        }
        if !machine.lastEvaluations.isEmpty {
            parts.append(
                "alarms " + machine.lastEvaluations.map { "\($0.alarm): \($0.state.rawValue)" }.joined(separator: ", "))
        }
        return parts.joined(separator: "  ")
    }

    /// `45 req (90.0 %) 2 err (4.4 %) p99 3.1 ms`, with `N throttled` when some were.
    static func figures(_ stats: InvocationWindow.Stats, total: Int) -> String {
        let percent = { (part: Int, whole: Int) in
            whole == 0 ? "-" : String(format: "%.1f %%", Double(part) * 100 / Double(whole))
        }
        var text = "\(stats.requests) req (\(percent(stats.requests, total))) "
        text += "\(stats.errors) err (\(percent(stats.errors, stats.invocations)))"
        if stats.throttles > 0 { text += " \(stats.throttles) throttled" }
        text += " p99 " + (stats.p99Ms.map { String(format: "%.1f ms", $0) } ?? "-")
        return text
    }

    static func outcome(_ record: RolloutRecord) -> String {
        "rollout \(record.id): \(record.rollbackSummary)"
    }
}

/// `http://host:port/path` for `--drive`.
struct DriveTarget {
    let host: String
    let port: Int
    let path: String

    init?(_ url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...])
        else { return nil }
        host = String(authority[..<colon])
        self.port = port
    }
}

/// Bounded loopback traffic for `--drive`: one GET at a time on a thread, at most `rate` per second, until stopped.
final class TrafficDriver: @unchecked Sendable {
    private let target: DriveTarget
    private let rate: Double
    private let lock = NSLock()
    private var stopped = false
    private var counts = (sent: 0, failed: 0)
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    init(target: DriveTarget, rate: Double) {
        self.target = target
        self.rate = rate
    }

    var sent: Int { lock.withLock { counts.sent } }
    var failed: Int { lock.withLock { counts.failed } }

    func start() {
        let thread = Thread { [self] in
            let interval = 1 / rate
            var next = Date().timeIntervalSince1970
            while !lock.withLock({ stopped }) {
                let status = try? AdminClient.request(
                    host: target.host, port: target.port, method: "GET", path: target.path
                ).0
                lock.withLock {
                    counts.sent += 1
                    if status == nil || status! >= 500 { counts.failed += 1 }
                }
                next += interval
                let wait = next - Date().timeIntervalSince1970
                if wait > 0 { usleep(UInt32(wait * 1e6)) } else { next = Date().timeIntervalSince1970 }
            }
            done.signal()
        }
        self.thread = thread
        thread.start()
    }

    func stop() {
        guard thread != nil else { return }
        let wasStopped = lock.withLock { () -> Bool in
            defer { stopped = true }
            return stopped
        }
        if !wasStopped { done.wait() }
    }
}
