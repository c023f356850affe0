import AdminServer
import Foundation
import Invocation
import InvocationModel
import LambdaModel
import LoadBalancer
import NIOConcurrencyHelpers
import NIOCore
import Observability
import Rollout
import Routing
import ServiceLifecycle

/// The live dashboard's data: a bus subscriber that counts invocations per function and executed version (requests,
/// errors, recent durations) and, once a second while anyone watches, sends a snapshot of them with the rollouts,
/// aliases, weighted forward actions, listeners and environments by state to the admin listener's ``EventStream`` (`/dashboard/events`), which
/// `GET /dashboard` (``DashboardPage``) renders. Counting is a dictionary update under a lock on the subscriber's
/// own thread; the snapshot is built on the ticker's task, never on an event loop.
final class DashboardFeed: InvocationEventSubscriber, Sendable {
    /// One function version's counts. A class, so that counting an invocation updates it in place: as a struct in
    /// the dictionary, every update copied its `durations` out and back (a copy-on-write of up to 2,000 entries per
    /// invocation, most of the dashboard's cost per request).
    final class Counter: @unchecked Sendable {
        var requests = 0
        var errors = 0
        /// Requests and errors at the last snapshot, for the per-second rates.
        var lastRequests = 0
        var lastErrors = 0
        /// (monotonic seconds, duration ms) of the last invocations, for p99 over the last 10 s: a ring of at most
        /// ``DashboardFeed/durationCapacity``, the oldest at `next` once full.
        var durations: [(Double, Double)] = []
        var next = 0

        func record(at: Double, durationMs: Double) {
            if durations.count < DashboardFeed.durationCapacity {
                durations.append((at, durationMs))
            } else {
                durations[next] = (at, durationMs)
                next = (next + 1) % DashboardFeed.durationCapacity
            }
        }
    }

    static let durationCapacity = 2000
    /// By function, then version; touched only under its lock.
    private let counters = NIOLockedValueBox<Counters>(Counters())
    let stream: EventStream
    private let rollouts: RolloutRunner?
    private let invoker: Invoker
    private let loadBalancer: LoadBalancer?
    let metrics: InvocationMetrics
    private let listeners: @Sendable () -> [LoadBalancer.BoundListener]

    struct Counters {
        var byFunction: [String: [String: Counter]] = [:]
        /// The counter of the last invocation counted: the same function and version repeat from one to the next,
        /// and their strings are then the same objects, cheaper to compare than to hash.
        var last: (function: String, version: String, counter: Counter)?

        mutating func counter(function: String, version: String) -> Counter {
            if let last, last.function == function, last.version == version { return last.counter }
            let found: Counter
            if let known = byFunction[function]?[version] {
                found = known
            } else {
                found = Counter()
                byFunction[function, default: [:]][version] = found
            }
            last = (function, version, found)
            return found
        }
    }

    var interests: InvocationEvent.Kinds { [.invokeFinished] }

    /// Its subscription of the bus, set once it is subscribed (``DashboardService`` flushes it before a snapshot).
    var subscription: InvocationEventSubscription? {
        get { attachment.withLockedValue { $0 } }
        set { attachment.withLockedValue { $0 = newValue } }
    }
    private let attachment = NIOLockedValueBox<InvocationEventSubscription?>(nil)

    init(
        stream: EventStream, rollouts: RolloutRunner?, invoker: Invoker, loadBalancer: LoadBalancer?,
        metrics: InvocationMetrics, listeners: @escaping @Sendable () -> [LoadBalancer.BoundListener]
    ) {
        self.stream = stream
        self.rollouts = rollouts
        self.invoker = invoker
        self.loadBalancer = loadBalancer
        self.metrics = metrics
        self.listeners = listeners
    }

    func receive(_ events: [InvocationEvent]) {
        counters.withLockedValue { counters in
            events.withUnsafeBufferPointer { buffer in
                for index in buffer.indices {
                    guard case .invokeFinished(let finished) = buffer[index].detail else { continue }
                    let counter = counters.counter(
                        function: finished.environment.functionName, version: finished.version)
                    counter.requests += 1
                    if finished.status != nil { counter.errors += 1 }
                    counter.record(
                        at: Double(buffer[index].at.uptimeNanoseconds) / 1e9, durationMs: finished.durationMs)
                }
            }
        }
    }

    /// One snapshot as a JSON object; `interval` is the seconds since the previous one (for rates).
    func snapshot(interval: Double) -> String {
        let now = Double(NIODeadline.now().uptimeNanoseconds) / 1e9
        var versions: [[String: Any]] = []
        counters.withLockedValue { counters in
            for (function, byVersion) in counters.byFunction.sorted(by: { $0.key < $1.key }) {
                for (version, counter) in byVersion.sorted(by: { $0.key < $1.key }) {
                    let recent = counter.durations.filter { $0.0 >= now - 10 }.map(\.1).sorted()
                    let p99 =
                        recent.isEmpty
                        ? nil : recent[min(recent.count - 1, Int((Double(recent.count) * 0.99).rounded(.up)) - 1)]
                    let newRequests = counter.requests - counter.lastRequests
                    let newErrors = counter.errors - counter.lastErrors
                    versions.append([
                        "function": function, "version": version, "requests": counter.requests,
                        "errors": counter.errors, "rate": Double(newRequests) / max(interval, 0.001),
                        "errorPercent": newRequests == 0 ? NSNull() : Double(newErrors) * 100 / Double(newRequests),
                        "p99Ms": p99.map { $0 as Any } ?? NSNull(),
                    ])
                    counter.lastRequests = counter.requests
                    counter.lastErrors = counter.errors
                }
            }
        }
        var aliases: [[String: Any]] = []
        for (function, entry) in invoker.catalog.functions.sorted(by: { $0.key < $1.key }) {
            for (name, routing) in entry.aliases.sorted(by: { $0.key < $1.key }) {
                aliases.append([
                    "function": function, "alias": name, "version": routing.primaryVersion,
                    "additionalVersion": routing.additionalVersion.map { $0 as Any } ?? NSNull(),
                    "additionalWeight": routing.additionalWeight,
                ])
            }
        }
        var forwards: [[String: Any]] = []
        for (port, configuration) in loadBalancer?.currentListeners ?? [] {
            let actions: [(Int?, RuleAction)] =
                configuration.rules.map { ($0.priority, $0.action) } + [(nil, configuration.defaultAction)]
            for (priority, action) in actions {
                guard case .forward(let forward) = action, forward.targetGroups.count > 1 else { continue }
                forwards.append(WeightEndpoints.describe(port: port, rule: priority, forward))
            }
        }
        // Rollouts in progress, and the last five that ended.
        let records = rollouts?.records() ?? []
        let shown = records.filter { !$0.ended } + records.filter(\.ended).suffix(5).reversed()
        let rolloutList: [[String: Any]] = shown.map { record in
            let machine = record.machine
            let spec = machine.spec
            let step = record.steps.last
            return [
                "id": spec.id, "function": spec.function, "alias": spec.alias, "from": spec.currentVersion,
                "to": spec.targetVersion, "config": spec.configuration.name, "status": machine.status.rawValue,
                "phase": machine.phase.rawValue, "percent": machine.rolledBack ? 0 : machine.percent,
                "ended": record.ended, "summary": record.ended ? record.rollbackSummary : "",
                "alarms": (machine.lastEvaluations.isEmpty ? [] : machine.lastEvaluations).map {
                    ["name": $0.alarm, "state": $0.state.rawValue]
                },
                "step": [spec.currentVersion, spec.targetVersion].map { version -> [String: Any] in
                    let stats = step?.versions[version]
                    return ["version": version, "requests": stats?.requests ?? 0, "errors": stats?.errors ?? 0]
                },
            ]
        }
        // Environments by function, version and state.
        var states: [String: [String: Int]] = [:]
        for environment in metrics.status().environments {
            states["\(environment.function)\u{0}\(environment.version)", default: [:]][environment.state, default: 0] +=
                1
        }
        let environments: [[String: Any]] = states.sorted { $0.key < $1.key }.map { key, counts in
            let parts = key.split(separator: "\u{0}", maxSplits: 1).map(String.init)
            return [
                "function": parts[0], "version": parts.count > 1 ? parts[1] : "",
                "initializing": counts["initializing"] ?? 0, "ready": counts["ready"] ?? 0, "busy": counts["busy"] ?? 0,
                "frozen": counts["frozen"] ?? 0,
            ]
        }
        let listenerList: [[String: Any]] = listeners().map { listener in
            let counts = listener.connections.snapshot
            return [
                "url": listener.url, "protocol": listener.configuration.protocol.rawValue, "connections": counts.active,
                "rules": listener.configuration.rules.count,
            ]
        }
        let object: [String: Any] = [
            "at": Date().timeIntervalSince1970, "versions": versions, "aliases": aliases, "forwards": forwards,
            "rollouts": rolloutList, "environments": environments, "listeners": listenerList,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// Sends a dashboard snapshot once a second while the page is open somewhere.
struct DashboardService: Service {
    let feed: DashboardFeed

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var last = Date()
            while !Task.isCancelled {
                try await Task.sleep(nanoseconds: 1_000_000_000)
                let now = Date()
                if feed.stream.clientCount > 0 {
                    // Their subscriptions take events in batches up to a second apart: a snapshot counts every
                    // invocation up to now.
                    await feed.subscription?.flush()
                    await feed.metrics.catchUp()
                    feed.stream.broadcast(feed.snapshot(interval: now.timeIntervalSince(last)))
                }
                last = now
            }
        }
    }
}

/// `GET /dashboard`: one self-contained page (inline style and script; no font, image or script from elsewhere)
/// that listens to `/dashboard/events` and redraws its tables at every snapshot.
enum DashboardPage {
    static let html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Albatross dashboard</title>
        <style>
        body { font-family: sans-serif; margin: 1.5em; color: #222; }
        table { border-collapse: collapse; margin-bottom: 1.2em; }
        td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
        th { background: #f3f3f3; text-align: center; }
        td.name { text-align: left; }
        .bar { display: inline-block; height: 0.8em; background: #ff7f0e; vertical-align: middle; }
        .ALARM { color: #fff; background: #d62728; } .OK { background: #c7e9c0; }
        .INSUFFICIENT_DATA { background: #ddd; }
        #state { color: #555; }
        </style>
        </head>
        <body>
        <h1>Albatross</h1>
        <p id="state">connecting…</p>
        <h2>Rollouts</h2>
        <table id="rollouts"><tr><td class="name">none</td></tr></table>
        <h2>Executed versions</h2>
        <table id="versions"><tr><td class="name">no invocations yet</td></tr></table>
        <h2>Aliases</h2>
        <table id="aliases"><tr><td class="name">none</td></tr></table>
        <h2>Weighted forward actions</h2>
        <table id="forwards"><tr><td class="name">none</td></tr></table>
        <h2>Environments</h2>
        <table id="environments"><tr><td class="name">none</td></tr></table>
        <h2>Listeners</h2>
        <table id="listeners"><tr><td class="name">none</td></tr></table>
        <script>
        "use strict";
        let updates = 0;
        function cell(text, cls) {
          const td = document.createElement("td");
          td.textContent = text;
          if (cls) td.className = cls;
          return td;
        }
        function fill(id, header, rows) {
          const table = document.getElementById(id);
          table.replaceChildren();
          const head = document.createElement("tr");
          for (const title of header) { const th = document.createElement("th"); th.textContent = title; head.append(th); }
          table.append(head);
          if (rows.length === 0) { const tr = document.createElement("tr"); tr.append(cell("none", "name")); table.append(tr); }
          for (const row of rows) { const tr = document.createElement("tr"); tr.id = row.id; tr.append(...row.cells); table.append(tr); }
        }
        function fixed(value, digits) { return value === null || value === undefined ? "–" : value.toFixed(digits); }
        function render(data) {
          updates += 1;
          document.getElementById("state").textContent =
            "live: update " + updates + " at " + new Date(data.at * 1000).toISOString();
          fill("rollouts", ["id", "alias", "versions", "status", "weight", "step requests (old / new)", "step errors", "alarms"],
            data.rollouts.map(r => {
              const bar = document.createElement("td");
              bar.innerHTML = "";
              const span = document.createElement("span"); span.className = "bar"; span.style.width = r.percent + "px";
              bar.append(span, document.createTextNode(" " + r.percent + " %"));
              bar.id = "weight-" + r.id;
              const alarms = cell(r.alarms.map(a => a.name + ": " + a.state).join(", "),
                r.alarms.some(a => a.state === "ALARM") ? "ALARM" : "");
              return { id: "rollout-" + r.id, cells: [cell(r.id, "name"), cell(r.function + ":" + r.alias, "name"),
                cell(r.from + " → " + r.to), cell(r.ended ? r.summary : r.status + " " + r.phase, "name"), bar,
                cell(r.step.map(s => s.requests).join(" / ")), cell(r.step.map(s => s.errors).join(" / ")), alarms] };
            }));
          fill("versions", ["function", "version", "requests", "errors", "req/s", "errors % (last s)", "p99 ms (10 s)"],
            data.versions.map(v => {
              const id = "v-" + v.function + "-" + v.version;
              const requests = cell(String(v.requests)); requests.id = id + "-requests";
              return { id: id, cells: [cell(v.function, "name"), cell(v.version), requests, cell(String(v.errors)),
                cell(fixed(v.rate, 1)), cell(fixed(v.errorPercent, 1)), cell(fixed(v.p99Ms, 1))] };
            }));
          fill("aliases", ["function", "alias", "version", "additional version", "weight"],
            data.aliases.map(a => ({ id: "alias-" + a.function + "-" + a.alias, cells: [cell(a.function, "name"),
              cell(a.alias, "name"), cell(a.version), cell(a.additionalVersion || "–"),
              cell(a.additionalVersion ? (a.additionalWeight * 100).toFixed(0) + " %" : "")] })));
          fill("forwards", ["listener", "rule", "target groups"],
            data.forwards.map(f => ({ id: "forward-" + f.port + "-" + (f.rule === null ? "default" : f.rule),
              cells: [cell(String(f.port)), cell(f.rule === null ? "default" : String(f.rule)),
              cell(f.targetGroups.map(g => g.name + " " + g.weight).join(", "), "name")] })));
          fill("environments", ["function", "version", "initializing", "ready", "busy", "frozen"],
            data.environments.map(e => ({ id: "env-" + e.function + "-" + e.version, cells: [cell(e.function, "name"),
              cell(e.version), cell(String(e.initializing)), cell(String(e.ready)), cell(String(e.busy)),
              cell(String(e.frozen))] })));
          fill("listeners", ["listener", "protocol", "open connections", "rules"],
            data.listeners.map(l => ({ id: "listener-" + l.url, cells: [cell(l.url, "name"), cell(l.protocol),
              cell(String(l.connections)), cell(String(l.rules))] })));
        }
        const source = new EventSource("/dashboard/events");
        source.onmessage = event => render(JSON.parse(event.data));
        source.onerror = () => { document.getElementById("state").textContent = "disconnected; retrying…"; };
        </script>
        </body>
        </html>

        """
}
