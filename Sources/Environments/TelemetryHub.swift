import ALBEvents
import Foundation
public import InvocationModel
import LambdaModel
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix

/// The Telemetry API's deliveries (runtime-api.md §1.9, §4.3): an extension subscribes with
/// `PUT /2022-07-01/telemetry` to record types (`platform`, `function`, `extension`), and the platform POSTs it
/// batches of AWS-shaped records (`platform.initStart`, `platform.start`, `platform.runtimeDone`,
/// `platform.report`, the function's and the extensions' output lines…) made from the invocation event stream.
///
/// One subscriber of the bus for the whole server (one thread), routing each environment's events to that
/// environment's subscriptions. It subscribes only once it can matter: when an environment of a function with
/// layers (the only place external extensions come from) starts, or when a Telemetry API subscription is made (an
/// internal extension of a function without layers); until then a server pays nothing for it per request.
/// Records of an INIT that come before the subscription (the extension subscribes during INIT, after
/// `platform.initStart`) are kept until INIT ends and replayed to it, as AWS delivers them, for environments that
/// start once the hub is subscribed (the first subscription of an internal extension in a server without layers
/// gets the records from its subscription on).
/// Every buffer is bounded: past ``maximumQueuedRecords`` records (or ``maximumQueuedBytes``) a subscription
/// drops what comes and then tells its listener with a `platform.logsDropped` record.
///
/// The destination `http://sandbox.localdomain:PORT/…` is reached on `127.0.0.1:PORT`: runtimes and extensions
/// share the host's network here, so the extension's listener binds a loopback port (docs/extensions.md).
public final class TelemetryHub: InvocationEventSubscriber, Sendable {
    public let interests: InvocationEvent.Kinds = [
        .initStarted, .initFinished, .invokeStarted, .invokeFinished, .output, .environmentStopped,
    ]

    static let maximumQueuedRecords = 10_000
    static let maximumQueuedBytes = 4 * 1024 * 1024
    /// Records of an INIT kept for a subscription that comes later in that INIT.
    static let maximumBacklog = 1_000

    private struct Stream {
        var backlog: [TelemetryRecord] = []
        var keepsBacklog = true
        var subscriptions: [TelemetrySubscription] = []
    }

    private let group: any EventLoopGroup
    private let streams = NIOLockedValueBox([String: Stream]())
    private let attachment = BusAttachment()
    /// The bus to subscribe to once needed, and whether that was done.
    private let bus: NIOLockedValueBox<(events: InvocationEventBus?, attached: Bool)> = NIOLockedValueBox((nil, false))

    public init(group: any EventLoopGroup) {
        self.group = group
    }

    /// The bus to subscribe to once an environment needs it (the composition root does this once).
    public func attach(to events: InvocationEventBus) {
        bus.withLockedValue { $0.events = events }
    }

    /// Whether the hub is subscribed to the bus (it is from the first environment that can have extensions on).
    public var isAttached: Bool { bus.withLockedValue { $0.attached } }

    /// Subscribes to the bus, once. Called on an event loop: the first call starts the subscription's thread.
    private func attachIfNeeded() {
        let events: InvocationEventBus? = bus.withLockedValue { state in
            guard !state.attached, let events = state.events else { return nil }
            state.attached = true
            return events
        }
        if let events { attachment.attach(self, to: events, name: "telemetry", capacity: 100_000) }
    }

    /// Whether an environment's subscription exists (its idle environment is then not frozen, see
    /// ``ExecutionEnvironment``).
    func hasSubscription(stream: String) -> Bool {
        streams.withLockedValue { !($0[stream]?.subscriptions.isEmpty ?? true) }
    }

    /// The environment `stream` starts extensions: its records are kept from now on (its extensions' output comes
    /// before the runtime's `initStarted`), for a subscription during its INIT.
    func follow(stream: String) {
        streams.withLockedValue { streams in
            if streams[stream] == nil { streams[stream] = Stream() }
        }
        attachIfNeeded()
    }

    /// A subscription of the extension `name` of the environment `stream`; replays what its INIT produced so far.
    func subscribe(stream: String, extensionName: String, request: TelemetrySubscriptionRequest, loop: any EventLoop) {
        attachIfNeeded()
        let subscription = TelemetrySubscription(request: request, loop: loop)
        let replay: [TelemetryRecord] = streams.withLockedValue { streams in
            var entry = streams[stream] ?? Stream()
            entry.subscriptions.removeAll { $0.extensionName == extensionName }
            subscription.extensionName = extensionName
            entry.subscriptions.append(subscription)
            streams[stream] = entry
            return entry.backlog
        }
        let types = request.types.sorted().map { #""\#($0)""# }.joined(separator: ",")
        var name = ByteBuffer()
        name.writeJSONString(extensionName)
        let subscribed = TelemetryRecord(
            epochMs: WallClock.epochMilliseconds(), type: "platform.telemetrySubscription",
            record: #"{"name":\#(String(buffer: name)),"state":"Subscribed","types":[\#(types)]}"#)
        for record in replay + [subscribed] { subscription.add(record) }
    }

    public func receive(_ events: [InvocationEvent]) {
        let nowMs = WallClock.epochMilliseconds()
        let now = NIODeadline.now()
        for event in events {
            guard let stream = Self.streamName(of: event) else { continue }
            var starts = false
            var ended = false
            var initDone = false
            switch event.detail {
            case .initStarted: starts = true
            case .initFinished: initDone = true
            case .environmentStopped: ended = true
            default: break
            }
            // Only environments seen from their INIT's start are followed (their records are kept for a
            // subscription during INIT); nothing is built for the others once their INIT is over.
            let followed: Bool = streams.withLockedValue { streams in
                if starts && streams[stream] == nil { streams[stream] = Stream() }
                return streams[stream] != nil
            }
            guard followed else { continue }
            let epochMs = nowMs - max(0, (now - event.at).nanoseconds / 1_000_000)
            let records = Self.records(for: event, epochMs: epochMs)
            let targets: [TelemetrySubscription] = streams.withLockedValue { streams in
                guard var entry = streams[stream] else { return [] }
                if ended {
                    streams[stream] = nil
                    return entry.subscriptions
                }
                if entry.keepsBacklog {
                    entry.backlog.append(contentsOf: records)
                    if entry.backlog.count > Self.maximumBacklog {
                        entry.backlog.removeFirst(entry.backlog.count - Self.maximumBacklog)
                    }
                }
                if initDone {
                    entry.keepsBacklog = false
                    entry.backlog = []
                }
                streams[stream] = entry.subscriptions.isEmpty && !entry.keepsBacklog ? nil : entry
                return entry.subscriptions
            }
            for subscription in targets {
                if ended {
                    subscription.close()
                } else {
                    for record in records { subscription.add(record) }
                }
            }
        }
    }

    static func streamName(of event: InvocationEvent) -> String? {
        switch event.detail {
        case .initStarted(let detail): return detail.environment.streamName
        case .initFinished(let detail): return detail.environment.streamName
        case .invokeStarted(let detail): return detail.environment.streamName
        case .invokeFinished(let detail): return detail.environment.streamName
        case .output(let detail): return detail.environment.streamName
        case .environmentStopped(let detail): return detail.environment.streamName
        default: return nil
        }
    }

    /// The records an event becomes, with its environment's stream name.
    static func records(for event: InvocationEvent, epochMs: Int64) -> [TelemetryRecord] {
        func record(_ type: String, _ json: String) -> TelemetryRecord {
            TelemetryRecord(epochMs: epochMs, type: type, record: json)
        }
        switch event.detail {
        case .initStarted(let started):
            let type = started.initializationType.rawValue
            let phase = started.suppressed ? "invoke" : "init"
            let json =
                #"{"initializationType":"\#(type)","phase":"\#(phase)","runtimeVersion":\#(quoted(started.runtimeVersion))}"#
            return [record("platform.initStart", json)]
        case .initFinished(let finished):
            let status: String
            var errorType = ""
            switch finished.result {
            case .ready, .suppressed: status = "success"
            case .failed(let type, _):
                status = "error"
                errorType = #","errorType":\#(quoted(type))"#
            case .timedOut: status = "timeout"
            }
            let common = #""initializationType":"on-demand","phase":"\#(finished.phase)","status":"\#(status)""#
            let duration = String(format: "%.3f", finished.durationMs)
            return [
                record("platform.initRuntimeDone", "{\(common)\(errorType)}"),
                record("platform.initReport", #"{\#(common)\#(errorType),"metrics":{"durationMs":\#(duration)}}"#),
            ]
        case .invokeStarted(let started):
            let json = #"{"requestId":\#(quoted(event.requestID)),"version":\#(quoted(started.version))}"#
            return [record("platform.start", json)]
        case .invokeFinished(let finished):
            let status = finished.status.map { $0 == "error" ? "error" : $0 } ?? "success"
            let errorType = finished.errorType.map { #","errorType":\#(quoted($0))"# } ?? ""
            let id = quoted(event.requestID)
            let duration = String(format: "%.3f", finished.durationMs)
            var metrics =
                #""durationMs":\#(duration),"billedDurationMs":\#(finished.billedDurationMs),"memorySizeMB":\#(finished.memorySizeMB),"maxMemoryUsedMB":\#(maxMemoryMB(finished))"#
            if let initMs = finished.initDurationMs {
                metrics += #","initDurationMs":\#(String(format: "%.3f", initMs))"#
            }
            return [
                record(
                    "platform.runtimeDone",
                    #"{"requestId":\#(id),"status":"\#(status)"\#(errorType),"metrics":{"durationMs":\#(duration)}}"#),
                record(
                    "platform.report",
                    #"{"requestId":\#(id),"status":"\#(status)"\#(errorType),"metrics":{\#(metrics)}}"#),
            ]
        case .output(let output):
            return [record(output.fromExtension ? "extension" : "function", quoted(output.line))]
        default:
            return []
        }
    }

    static func quoted(_ text: String) -> String {
        var buffer = ByteBuffer()
        buffer.writeJSONString(text)
        return String(buffer: buffer)
    }

    /// `maxMemoryUsedMB`: the group's peak when known, else the process tree's (``ProcessTreeMemory``), as the
    /// REPORT line.
    static func maxMemoryMB(_ finished: InvocationEvent.InvokeFinished) -> Int {
        if let known = finished.memoryPeakMB { return known }
        if let file = finished.memoryPeakFile,
            let text = try? String(contentsOfFile: file, encoding: .utf8),
            let bytes = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return Int((bytes + 1_048_575) / 1_048_576)
        }
        return finished.pid.flatMap { ProcessTreeMemory.peakResidentMB(root: $0) } ?? 0
    }
}

/// One record of the Telemetry API: `{"time","type","record"}`, `record` already JSON.
struct TelemetryRecord: Sendable {
    var epochMs: Int64
    var type: String
    var record: String

    var json: String {
        #"{"time":"\#(CivilDate.iso8601(epochMilliseconds: epochMs))","type":"\#(type)","record":\#(record)}"#
    }

    /// `platform`, `function` or `extension`: what a subscription's `types` select.
    var category: String { type.hasPrefix("platform.") ? "platform" : type }
}

/// What `PUT /2022-07-01/telemetry` asked for, validated with AWS's bounds.
struct TelemetrySubscriptionRequest: Sendable, Equatable {
    var types: Set<String>
    var maxItems = 1_000
    var maxBytes = 256 * 1024
    var timeoutMs = 1_000
    var port: Int
    var path: String

    struct Invalid: Error, Equatable {
        var message: String
    }

    /// Parses the subscription body. The destination must be `http://sandbox.localdomain:PORT[/path]` (also
    /// accepted: `localhost`, `127.0.0.1`); every host here means this machine's loopback.
    static func parse(_ body: ByteBuffer) throws(Invalid) -> TelemetrySubscriptionRequest {
        guard case .object(let object)? = try? JSONParser.parse(body) else {
            throw Invalid(message: "The request body is not a JSON object")
        }
        var types: Set<String> = []
        if case .array(let list)? = object["types"] {
            for item in list {
                guard case .string(let type) = item, ["platform", "function", "extension"].contains(type) else {
                    throw Invalid(message: "types must be among platform, function, extension")
                }
                types.insert(type)
            }
        }
        guard !types.isEmpty else { throw Invalid(message: "types must not be empty") }
        guard case .object(let destination)? = object["destination"],
            case .string(let uri)? = destination["URI"]
        else { throw Invalid(message: "destination.URI is required") }
        if case .string(let proto)? = destination["protocol"], proto != "HTTP" {
            throw Invalid(message: "destination.protocol must be HTTP (TCP is not supported here)")
        }
        let prefixes = ["http://sandbox.localdomain:", "http://sandbox:", "http://localhost:", "http://127.0.0.1:"]
        guard let prefix = prefixes.first(where: { uri.hasPrefix($0) }) else {
            throw Invalid(message: "destination.URI must be http://sandbox.localdomain:PORT")
        }
        let rest = uri.dropFirst(prefix.count)
        let portText = rest.prefix { $0.isNumber }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw Invalid(message: "destination.URI has no valid port")
        }
        let path = String(rest.dropFirst(portText.count))
        var request = TelemetrySubscriptionRequest(types: types, port: port, path: path.isEmpty ? "/" : path)
        if case .object(let buffering)? = object["buffering"] {
            func bounded(_ key: String, _ range: ClosedRange<Int>, _ target: inout Int) throws(Invalid) {
                guard let field = buffering[key] else { return }
                guard case .number(let value) = field, let number = value.integerValue, range.contains(number) else {
                    throw Invalid(message: "buffering.\(key) must be within \(range.lowerBound)…\(range.upperBound)")
                }
                target = number
            }
            try bounded("maxItems", 25...10_000, &request.maxItems)
            try bounded("maxBytes", 262_144...1_048_576, &request.maxBytes)
            try bounded("timeoutMs", 25...30_000, &request.timeoutMs)
        }
        return request
    }
}

/// One extension's subscription: a bounded buffer of records and at most one POST in flight to its listener.
final class TelemetrySubscription: @unchecked Sendable {
    // All mutable state is behind `lock`.
    private let lock = NIOLock()
    let request: TelemetrySubscriptionRequest
    private let loop: any EventLoop
    private var _extensionName = ""
    private var queued: [String] = []
    private var queuedBytes = 0
    private var dropped = 0
    private var droppedBytes = 0
    private var timer: Scheduled<Void>?
    private var inFlight = false
    private var closed = false

    init(request: TelemetrySubscriptionRequest, loop: any EventLoop) {
        self.request = request
        self.loop = loop
    }

    /// What is queued, dropped since the last batch, and whether a POST is in flight (for tests).
    var counts: (queued: Int, dropped: Int, inFlight: Bool) { lock.withLock { (queued.count, dropped, inFlight) } }

    var extensionName: String {
        get { lock.withLock { _extensionName } }
        set { lock.withLock { _extensionName = newValue } }
    }

    func add(_ record: TelemetryRecord) {
        guard request.types.contains(record.category) else { return }
        let json = record.json
        let sendNow: Bool = lock.withLock {
            guard !closed else { return false }
            if queued.count >= TelemetryHub.maximumQueuedRecords
                || queuedBytes + json.utf8.count > TelemetryHub.maximumQueuedBytes
            {
                dropped += 1
                droppedBytes += json.utf8.count
                return false
            }
            queued.append(json)
            queuedBytes += json.utf8.count
            if queued.count >= request.maxItems || queuedBytes >= request.maxBytes { return true }
            if timer == nil && !inFlight {
                let delay = TimeAmount.milliseconds(Int64(request.timeoutMs))
                timer = loop.scheduleTask(in: delay) { [self] in flush() }
            }
            return false
        }
        if sendNow { loop.execute { [self] in flush() } }
    }

    /// The environment ended: what is queued goes out, nothing more is taken.
    func close() {
        lock.withLock { closed = true }
        loop.execute { [self] in flush() }
    }

    /// POSTs the next batch unless one is in flight (then that one's completion sends it).
    private func flush() {
        let batch: String? = lock.withLock {
            timer?.cancel()
            timer = nil
            guard !inFlight, !queued.isEmpty || dropped > 0 else { return nil }
            var items: [String] = []
            var bytes = 0
            if dropped > 0 {
                let record = TelemetryRecord(
                    epochMs: WallClock.epochMilliseconds(), type: "platform.logsDropped",
                    record:
                        #"{"reason":"Some logs were dropped because the extension did not keep up","droppedRecords":\#(dropped),"droppedBytes":\#(droppedBytes)}"#
                )
                items.append(record.json)
                dropped = 0
                droppedBytes = 0
            }
            while !queued.isEmpty && items.count < request.maxItems
                && (items.isEmpty || bytes + queued[0].utf8.count <= request.maxBytes)
            {
                let item = queued.removeFirst()
                bytes += item.utf8.count
                items.append(item)
            }
            queuedBytes -= bytes
            inFlight = true
            return "[" + items.joined(separator: ",") + "]"
        }
        guard let batch else { return }
        TelemetryPoster.post(batch, port: request.port, path: request.path, on: loop).whenComplete { [self] _ in
            let more: Bool = lock.withLock {
                inFlight = false
                return !queued.isEmpty || dropped > 0
            }
            if more { flush() }
        }
    }
}

/// A minimal HTTP/1.1 POST to a listener on loopback (no keep-alive): connect, send, wait for the response's
/// end or 10 s, close.
enum TelemetryPoster {
    static func post(_ body: String, port: Int, path: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        let done = loop.makePromise(of: Void.self)
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseWaiter(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    done.fail(error)
                case .success(let channel):
                    var buffer = channel.allocator.buffer(capacity: body.utf8.count)
                    buffer.writeString(body)
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "sandbox.localdomain:\(port)")
                    headers.add(name: "Content-Type", value: "application/json")
                    headers.add(name: "Content-Length", value: String(buffer.readableBytes))
                    headers.add(name: "Connection", value: "close")
                    let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
                    channel.write(HTTPClientRequestPart.head(head), promise: nil)
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                    let timeout = channel.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
                    channel.closeFuture.whenComplete { _ in
                        timeout.cancel()
                        done.succeed(())
                    }
                }
            }
        return done.futureResult
    }

    private final class ResponseWaiter: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let done: EventLoopPromise<Void>
        init(done: EventLoopPromise<Void>) { self.done = done }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .end = unwrapInboundIn(data) { context.close(promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
