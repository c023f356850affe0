import AlbatrossApp
import Bench
import Environments
import Foundation
import Invocation
import InvocationModel
import LambdaModel
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A bench target: `FUNCTION[:QUALIFIER]`.
struct BenchTarget: Sendable {
    var name: String
    var function: String
    var qualifier: String?

    init(_ text: String) {
        name = text
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        function = parts[0]
        qualifier = parts.count > 1 ? parts[1] : nil
    }
}

/// Drives invocations through the in-process invoker of an ``AlbatrossApplication``: cold samples (each on a
/// fresh environment), closed-loop warm runs and open-loop runs at a fixed rate, with a progress line.
struct BenchDriver: BenchBackend {
    let application: AlbatrossApplication
    let payload: ByteBuffer
    let progress: BenchProgress
    /// `--via`: the requests go through this listener client instead of the invoker.
    let http: BenchHTTPDriver?

    static func now() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds) }

    /// One invocation, timed from `intended` (the open loop's schedule; otherwise now).
    func invoke(_ target: BenchTarget, intended: Int64? = nil) async -> ClientRecord {
        let requestID = UUID().uuidString.lowercased()
        let start = NIODeadline.now()
        let sent = intended ?? Int64(start.uptimeNanoseconds)
        let request = InvokeRequest(
            functionName: target.function, qualifier: target.qualifier, payload: payload, requestID: requestID,
            receivedAt: start)
        let (outcome, errorType) = await AlbatrossApplication.benchInvoke(
            request, invoker: application.invoker, on: application.group.next())
        let record = ClientRecord(
            requestID: requestID, sent: sent, completed: Self.now(),
            outcome: SampleOutcome(rawValue: outcome) ?? .failed,
            errorType: errorType)
        progress.record(record)
        return record
    }

    /// Waits until the stream has delivered every event of the invocations that completed: environments emit an
    /// invoke's finished event one loop tick after they complete its outcome, so each event loop runs one task
    /// first (its queue is FIFO), then the bus is flushed.
    func settle(_ records: [ClientRecord]) async {
        for loop in application.group.makeIterator() { try? await loop.submit {}.get() }
        await application.events.flush()
    }

    /// Stops the idle environments of the target's function (every function's without a target) and waits until
    /// none holds a slot (``AlbatrossApplication/retireIdleEnvironments(function:timeout:)``).
    func retireIdle(_ target: BenchTarget?) async throws {
        do {
            try await application.retireIdleEnvironments(function: target?.function)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// `--baseline spawn`: `count` bare starts of the target's runtime (``BareRuntimeLauncher``), one after
    /// another on a thread of the application's blocking pool (which outlives the runtimes it starts), against
    /// placement → first `/next` of the cold run's samples.
    func baseline(_ target: BenchTarget, count: Int, run: RunReport) async throws -> BaselineReport {
        guard let pool = application.invoker.pool(for: target.function, version: target.qualifier ?? "$LATEST") else {
            throw CommandFailure("--baseline spawn: no version \(target.qualifier ?? "$LATEST") of \(target.function)")
        }
        try await retireIdle(target)
        progress.begin("\(target.name) baseline spawn", expected: count)
        var values: [Double] = []
        for _ in 0..<count {
            let spec = pool.spec
            let value = try await application.threadPool.runIfActive {
                try BareRuntimeLauncher.spawnToFirstNext(spec: spec)
            }
            values.append(value)
            let now = Self.now()
            progress.record(
                ClientRecord(
                    requestID: "", sent: now - Int64(value * 1e6), completed: now, outcome: .ok, errorType: nil))
        }
        progress.end()
        let platform = run.samples.filter { $0.outcome == .ok }.compactMap { sample -> Double? in
            guard let platform = sample.phase(.initPlatform), let runtime = sample.phase(.initRuntime) else {
                return nil
            }
            return platform + runtime
        }
        return BaselineReport(
            target: target.name, runtime: pool.spec.function.runtime.identifier,
            spawnToNext: Distribution(valuesMs: values), platformInit: Distribution(valuesMs: platform))
    }

    /// `count` invocations, `concurrency` in flight at a time (closed loop).
    func closedLoop(_ target: BenchTarget, count: Int, concurrency: Int) async -> [ClientRecord] {
        if let http { return await http.closedLoop(count: count, connections: concurrency) }
        let next = NIOLockedValueBox(0)
        return await withTaskGroup(of: [ClientRecord].self) { group in
            for _ in 0..<max(1, min(concurrency, count)) {
                group.addTask {
                    var mine: [ClientRecord] = []
                    while next.withLockedValue({ value -> Bool in
                        defer { value += 1 }
                        return value < count
                    }) {
                        mine.append(await invoke(target))
                    }
                    return mine
                }
            }
            var records: [ClientRecord] = []
            for await part in group { records += part }
            return records
        }
    }

    /// Open loop: one invocation every 1/`rate` s for `seconds`, whether or not earlier ones finished; each is
    /// timed from its scheduled time (as wrk2 does), so a stall of the platform counts against every invocation
    /// it delayed and not only the one that met it (coordinated omission).
    func openLoop(_ target: BenchTarget, seconds: Double, rate: Double, concurrency: Int) async -> [ClientRecord] {
        if let http { return await http.openLoop(seconds: seconds, rate: rate, connections: concurrency) }
        let total = Int((seconds * rate).rounded(.down))
        let start = Self.now()
        let interval = 1e9 / rate
        return await withTaskGroup(of: ClientRecord.self) { group in
            for index in 0..<total {
                let intended = start + Int64(Double(index) * interval)
                let wait = intended - Self.now()
                if wait > 50_000 { try? await Task.sleep(nanoseconds: UInt64(wait)) }
                group.addTask { await invoke(target, intended: intended) }
            }
            var records: [ClientRecord] = []
            for await record in group { records.append(record) }
            return records
        }
    }
}

/// What a run needs of the platform: the in-process ``BenchDriver``, or ``BenchRemote`` for a running server
/// (`--server`). The loops, the statistics and the report are the same for both.
protocol BenchBackend: Sendable {
    var progress: BenchProgress { get }
    /// Whether the requests go through a listener (`--via`): their records carry trace roots, not request ids.
    var viaListener: Bool { get }
    /// After it returns, the next invoke of `target`'s function (every function's when nil) starts a fresh
    /// environment.
    func retireIdle(_ target: BenchTarget?) async throws
    func closedLoop(_ target: BenchTarget, count: Int, concurrency: Int) async -> [ClientRecord]
    func openLoop(_ target: BenchTarget, seconds: Double, rate: Double, concurrency: Int) async -> [ClientRecord]
    /// Waits until the recorder has every event of the invocations of `records`.
    func settle(_ records: [ClientRecord]) async
}

extension BenchDriver {
    var viaListener: Bool { http != nil }
}

extension BenchBackend {
    /// `count` cold samples, `concurrency` at a time, each batch on fresh environments. Through a listener every
    /// function's idle environments are stopped, since routing chooses the function.
    func cold(_ target: BenchTarget, count: Int, concurrency: Int) async throws -> [ClientRecord] {
        var records: [ClientRecord] = []
        while records.count < count {
            try await retireIdle(viaListener ? nil : target)
            let batch = min(concurrency, count - records.count)
            records += await closedLoop(target, count: batch, concurrency: batch)
        }
        return records
    }
}

/// The running p50/p99 of client totals: a rewritten line on a terminal, plain lines otherwise.
final class BenchProgress: Sendable {
    private struct State {
        var label = ""
        var expected = 0
        var done = 0
        var totalsMs: [Double] = []
        var lastPrint: Int64 = 0
    }
    private let state = NIOLockedValueBox(State())
    let terminal = isatty(STDERR_FILENO) != 0

    func begin(_ label: String, expected: Int) {
        state.withLockedValue { $0 = State(label: label, expected: expected) }
    }

    func record(_ record: ClientRecord) {
        let line = state.withLockedValue { state -> String? in
            state.done += 1
            if record.outcome == .ok { state.totalsMs.append(Double(record.completed - record.sent) / 1e6) }
            return lineIfDue(&state)
        }
        if let line { show(line) }
    }

    /// Several records at once (``BenchSocketClient``'s threads hand theirs over in batches).
    func record(contentsOf records: ArraySlice<ClientRecord>) {
        let line = state.withLockedValue { state -> String? in
            state.done += records.count
            for record in records where record.outcome == .ok {
                state.totalsMs.append(Double(record.completed - record.sent) / 1e6)
            }
            return lineIfDue(&state)
        }
        if let line { show(line) }
    }

    /// The progress line when one is due (every 200 ms on a terminal, every 5 s otherwise), nil before.
    private func lineIfDue(_ state: inout State) -> String? {
        let now = BenchDriver.now()
        let every: Int64 = terminal ? 200_000_000 : 5_000_000_000
        guard now - state.lastPrint >= every else { return nil }
        state.lastPrint = now
        return Self.line(state)
    }

    func end() {
        let line = state.withLockedValue { Self.line($0) }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K\(line)\n".utf8)) } else { show(line) }
    }

    private func show(_ line: String) {
        if terminal {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
        } else {
            FileHandle.standardError.write(Data("\(line)\n".utf8))
        }
    }

    private static func line(_ state: State) -> String {
        var sorted = state.totalsMs
        sorted.sort()
        func percentile(_ p: Double) -> String {
            guard !sorted.isEmpty else { return "-" }
            return String(format: "%.2f", sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
        }
        let width = 24
        let filled = state.expected > 0 ? min(width, state.done * width / state.expected) : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        return
            "bench \(state.label) [\(bar)] \(state.done)/\(state.expected)  p50 \(percentile(0.5)) ms  p99 \(percentile(0.99)) ms"
    }
}

extension BenchDriver {
    /// The samples of `records`, joined with what the event stream said about each (after a flush of the bus).
    /// Records of `--via` carry the index of the trace root they sent: the listener's event maps it to the
    /// invocation, and its arrival time is the platform's entry.
    static func samples(
        _ records: [ClientRecord], recorder: BenchRecorder, runStart: Int64, viaListener: Bool = false
    ) -> [Sample] {
        records.sorted { $0.sent < $1.sent }.map { record in
            let frontEnd: BenchRecorder.FrontEnd?
            let invocation: BenchRecorder.Invocation?
            let environment: BenchRecorder.Environment?
            if viaListener {
                (frontEnd, invocation, environment) = recorder.viaListener(index: record.rootIndex)
            } else {
                frontEnd = nil
                (invocation, environment) = recorder.lookup(record.requestID)
            }
            let cold = invocation?.placement == "coldStart"
            let times = SampleTimes(
                sent: record.sent, received: viaListener ? frontEnd?.received : invocation?.received,
                placed: cold ? invocation?.placed : nil,
                spawned: cold ? environment?.spawned : nil, ready: cold ? environment?.ready : nil,
                delivered: invocation?.delivered, posted: invocation?.posted, completed: record.completed)
            // Through a listener the client sees only the status (the ALB answers 502 for function errors,
            // timeouts and throttles alike, alb-lambda.md §3): the platform's own error type refines it, and for
            // an invoke that never ran (a throttle) the listener's `error_reason`.
            var outcome = record.outcome
            var errorType = record.errorType
            if viaListener, outcome != .ok {
                if let platform = invocation?.errorType {
                    if platform == "Sandbox.Timedout" { outcome = .timeout }
                    errorType = "\(record.errorType ?? "") \(platform)"
                } else if let reason = frontEnd?.albErrorReason {
                    if reason == "LambdaThrottling" { outcome = .throttled }
                    errorType = "\(record.errorType ?? "") \(reason)"
                }
            }
            return Sample(
                times: times, runStart: runStart, outcome: outcome, errorType: errorType,
                placement: invocation?.placement)
        }
    }
}
