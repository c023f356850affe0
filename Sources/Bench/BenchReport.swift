public import Foundation

/// Everything one `albatross bench` run measured, as written with `--json` and read back by `bench compare`:
/// the figures, the raw histograms and samples, and what is needed to reproduce the run (machine, version,
/// command). The schema is docs/bench-schema.json.
public struct BenchReport: Codable, Sendable {
    /// `albatross-bench/1`; a reader refuses other values.
    public var schema: String = BenchReport.schemaName
    public var albatrossVersion: String
    /// The exact command line (`albatross bench …`).
    public var command: [String]
    /// ISO-8601 UTC.
    public var startedAt: String
    public var machine: Machine
    public var settings: Settings
    public var targets: [TargetReport]
    /// `--baseline spawn`: the runtime started by a bare launcher, for the platform's share of a cold start.
    public var baseline: [BaselineReport]?
    /// What the bench client itself cost.
    public var client: ClientCost

    public static let schemaName = "albatross-bench/1"

    public init(
        albatrossVersion: String, command: [String], startedAt: String, machine: Machine, settings: Settings,
        targets: [TargetReport], baseline: [BaselineReport]? = nil, client: ClientCost
    ) {
        self.albatrossVersion = albatrossVersion
        self.command = command
        self.startedAt = startedAt
        self.machine = machine
        self.settings = settings
        self.targets = targets
        self.baseline = baseline
        self.client = client
    }

    /// Where the run happened.
    public struct Machine: Codable, Sendable {
        public var cpuModel: String
        public var cores: Int
        public var kernel: String
        public var memoryMB: Int

        public init(cpuModel: String, cores: Int, kernel: String, memoryMB: Int) {
            self.cpuModel = cpuModel
            self.cores = cores
            self.kernel = kernel
            self.memoryMB = memoryMB
        }

        /// This machine (Linux: /proc/cpuinfo, /proc/meminfo, uname).
        public static func current() -> Machine {
            let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            let model =
                cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
                .flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
            let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
            let memoryKB =
                meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
                .flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 0
            var name = utsname()
            uname(&name)
            func text<T>(_ field: T) -> String {
                withUnsafeBytes(of: field) { bytes in
                    String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                }
            }
            return Machine(
                cpuModel: model, cores: ProcessInfo.processInfo.activeProcessorCount,
                kernel: "\(text(name.sysname)) \(text(name.release))", memoryMB: memoryKB / 1024)
        }
    }

    /// The options the run was made with.
    public struct Settings: Codable, Sendable {
        public var cold: Int
        public var coldConcurrency: Int
        public var warm: Int
        public var concurrency: Int
        public var warmup: Int
        /// Open loop: how long, and the intended rate (invocations per second); nil for closed loop.
        public var durationSeconds: Double?
        public var rate: Double?
        public var payloadBytes: Int
        /// `invoker` (in-process) or the listener URL the requests went through.
        public var path: String

        public init(
            cold: Int, coldConcurrency: Int, warm: Int, concurrency: Int, warmup: Int, durationSeconds: Double?,
            rate: Double?, payloadBytes: Int, path: String
        ) {
            self.cold = cold
            self.coldConcurrency = coldConcurrency
            self.warm = warm
            self.concurrency = concurrency
            self.warmup = warmup
            self.durationSeconds = durationSeconds
            self.rate = rate
            self.payloadBytes = payloadBytes
            self.path = path
        }
    }

    /// The client's own CPU time (user + system of the whole bench process, platform included when it runs
    /// in-process) over the measured invocations; the warm-ups' CPU is left out, as their invocations are.
    public struct ClientCost: Codable, Sendable {
        public var cpuSeconds: Double
        public var invocations: Int
        public var cpuMicrosecondsPerInvocation: Double

        public init(cpuSeconds: Double, invocations: Int) {
            self.cpuSeconds = cpuSeconds
            self.invocations = invocations
            cpuMicrosecondsPerInvocation = invocations > 0 ? cpuSeconds * 1e6 / Double(invocations) : 0
        }
    }
}

/// One target (`FUNCTION[:QUALIFIER]`): its cold and warm runs.
public struct TargetReport: Codable, Sendable {
    public var name: String
    public var runtime: String
    public var runs: [RunReport]

    public init(name: String, runtime: String, runs: [RunReport]) {
        self.name = name
        self.runtime = runtime
        self.runs = runs
    }

    public func run(_ mode: RunReport.Mode) -> RunReport? { runs.first { $0.mode == mode } }
}

/// One measured run of a target, cold or warm.
public struct RunReport: Codable, Sendable {
    /// Cold: each sample on a fresh environment; warm: closed or open loop on running ones.
    public enum Mode: String, Codable, Sendable, CaseIterable {
        case cold, warm
    }
    public var mode: Mode
    /// Invocations asked for (closed loop) or scheduled (open loop).
    public var requested: Int
    public var wallSeconds: Double
    /// Completed invocations (any outcome) per second of the run.
    public var throughputPerSecond: Double
    /// Count per outcome (``SampleOutcome`` names); every invocation is in exactly one.
    public var outcomes: [String: Int]
    /// Count per error type, for the invocations that did not succeed.
    public var errorTypes: [String: Int]
    /// Count per placement (`coldStart`, `warm`, `queued`).
    public var placements: [String: Int]
    /// Per phase (``Phase`` names): the distribution over successful invocations only.
    public var phases: [String: Distribution]
    /// Completions in each second of the run.
    public var completionsPerSecond: [Int]
    public var samples: [Sample]

    public init(mode: Mode, requested: Int, wallSeconds: Double, samples: [Sample]) {
        self.mode = mode
        self.requested = requested
        self.wallSeconds = wallSeconds
        self.samples = samples
        throughputPerSecond = wallSeconds > 0 ? Double(samples.count) / wallSeconds : 0
        var outcomes: [String: Int] = [:]
        for outcome in SampleOutcome.allCases { outcomes[outcome.rawValue] = 0 }
        var errorTypes: [String: Int] = [:]
        var placements: [String: Int] = [:]
        var values: [Phase: [Double]] = [:]
        var seconds: [Int] = []
        for sample in samples {
            outcomes[sample.outcome.rawValue, default: 0] += 1
            if let type = sample.errorType, sample.outcome != .ok { errorTypes[type, default: 0] += 1 }
            if let placement = sample.placement { placements[placement, default: 0] += 1 }
            let end = Int(((sample.startMs + (sample.phase(.total) ?? 0)) / 1000).rounded(.down))
            if end >= 0 {
                if seconds.count <= end { seconds.append(contentsOf: repeatElement(0, count: end + 1 - seconds.count)) }
                seconds[end] += 1
            }
            guard sample.outcome == .ok else { continue }
            for phase in Phase.allCases {
                if let value = sample.phase(phase) { values[phase, default: []].append(value) }
            }
        }
        self.outcomes = outcomes
        self.errorTypes = errorTypes
        self.placements = placements
        completionsPerSecond = seconds
        var phases: [String: Distribution] = [:]
        for (phase, list) in values { phases[phase.rawValue] = Distribution(valuesMs: list) }
        self.phases = phases
    }

    public func phase(_ phase: Phase) -> Distribution? { phases[phase.rawValue] }
    public func count(_ outcome: SampleOutcome) -> Int { outcomes[outcome.rawValue] ?? 0 }
    /// Successful client totals, ascending.
    public var okTotalsMs: [Double] {
        samples.filter { $0.outcome == .ok }.compactMap { $0.phase(.total) }.sorted()
    }
}

/// `--baseline spawn` for one runtime: spawn → first `/next` with a bare launcher, against the same span under
/// the platform (``Phase/initPlatform`` + ``Phase/initRuntime``).
public struct BaselineReport: Codable, Sendable {
    public var target: String
    public var runtime: String
    /// Spawn → first `/next` under the bare launcher.
    public var spawnToNext: Distribution
    /// Placement → first `/next` under the platform (the target's cold run).
    public var platformInit: Distribution
    /// p50(platform) − p50(bare), milliseconds, and that as a share of p50(platform).
    public var platformShareMs: Double
    public var platformShareRatio: Double

    public init(target: String, runtime: String, spawnToNext: Distribution, platformInit: Distribution) {
        self.target = target
        self.runtime = runtime
        self.spawnToNext = spawnToNext
        self.platformInit = platformInit
        platformShareMs = platformInit.p50Ms - spawnToNext.p50Ms
        platformShareRatio = platformInit.p50Ms > 0 ? platformShareMs / platformInit.p50Ms : 0
    }
}

extension BenchReport {
    /// Pretty, sorted-key JSON.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Reads a report written by ``json()``; refuses another schema.
    public static func read(_ data: Data) throws -> BenchReport {
        let report = try JSONDecoder().decode(BenchReport.self, from: data)
        guard report.schema == schemaName else {
            throw BenchReportError("not an \(schemaName) report (schema \(report.schema))")
        }
        return report
    }
}

/// A report that cannot be read; the description is the whole message.
public struct BenchReportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
