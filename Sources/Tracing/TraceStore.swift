import Foundation
import NIOConcurrencyHelpers

/// Traces on disk: `<data>/traces/<trace id>.jsonl`, one segment document per line, appended as documents
/// arrive (the platform's segments from the event stream, the function's from the daemon), so that neither
/// side waits for the other. A trace's file time is its last write.
///
/// All writes go through one thread with a bounded queue (documents beyond it are dropped and counted), so
/// neither the event bus subscriber nor the daemon's event loop ever touches a file. Retention keeps at most
/// `maxTraces` files and none older than `retentionDays`, oldest first.
public final class TraceStore: Sendable {
    public struct Limits: Sendable, Hashable {
        public var maxTraces: Int
        public var retentionDays: Int
        /// Documents queued for writing at most.
        public var queueCapacity: Int

        public init(maxTraces: Int = 10_000, retentionDays: Int = 7, queueCapacity: Int = 50_000) {
            self.maxTraces = maxTraces
            self.retentionDays = retentionDays
            self.queueCapacity = queueCapacity
        }
    }

    private enum Item {
        case document(SegmentDocument)
        /// A daemon datagram whose header was checked; its document is validated on the writer thread.
        case datagram([UInt8], rejected: @Sendable () -> Void)
    }

    private struct Queue {
        var documents: [Item] = []
        var barriers: [@Sendable () -> Void] = []
        var dropped = 0
        var stopped = false
    }

    private struct Files {
        /// Traces written since the last sweep, and when it ran.
        var newTraces = 0
        var lastSweep: Double = 0
        var known: Int = 0
    }

    public let directory: String
    public let limits: Limits
    private let queue = NIOLockedValueBox(Queue())
    private let files = NIOLockedValueBox(Files())
    private let signal = ConditionLock<Int>(value: 0)
    private let finished = ConditionLock<Bool>(value: false)
    private let observer = NIOLockedValueBox<(@Sendable ([SegmentDocument]) -> Void)?>(nil)

    /// The traces directory of a data directory.
    public static func directory(dataDirectory: String) -> String { "\(dataDirectory)/traces" }

    public init(dataDirectory: String, limits: Limits = Limits()) {
        self.directory = Self.directory(dataDirectory: dataDirectory)
        self.limits = limits
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let thread = Thread { [self] in self.run() }
        thread.name = "albatross-traces"
        thread.start()
    }

    /// `body` gets every batch of documents once it is written (the daemon's validated by then), on the writer
    /// thread: it must not block (the OTLP exporter queues them).
    public func observeWrites(_ body: @escaping @Sendable ([SegmentDocument]) -> Void) {
        observer.withLockedValue { $0 = body }
    }

    /// Documents dropped because the writer fell `queueCapacity` behind.
    public var droppedDocuments: Int { queue.withLockedValue { $0.dropped } }

    /// Queues documents for writing; never blocks on I/O. Returns how many were queued (the rest were dropped).
    @discardableResult
    public func append(_ documents: [SegmentDocument]) -> Int {
        guard !documents.isEmpty else { return 0 }
        let (wake, queued) = queue.withLockedValue { queue -> (Bool, Int) in
            if queue.stopped { return (false, 0) }
            let room = max(0, limits.queueCapacity - queue.documents.count)
            queue.dropped += max(0, documents.count - room)
            let wasEmpty = queue.documents.isEmpty
            queue.documents.append(contentsOf: documents.prefix(room).map(Item.document))
            return (wasEmpty, min(room, documents.count))
        }
        if wake { poke() }
        return queued
    }

    /// Queues a daemon datagram (header already checked); `rejected` is called on the writer thread when its
    /// document is invalid.
    func appendDatagram(_ datagram: [UInt8], rejected: @escaping @Sendable () -> Void) {
        let wake = queue.withLockedValue { queue -> Bool in
            if queue.stopped { return false }
            guard queue.documents.count < limits.queueCapacity else {
                queue.dropped += 1
                return false
            }
            queue.documents.append(.datagram(datagram, rejected: rejected))
            return queue.documents.count == 1
        }
        if wake { poke() }
    }

    /// Blocks until everything queued before the call is on disk. Not for event loops.
    public func flush() {
        let done = ConditionLock<Bool>(value: false)
        let accepted = queue.withLockedValue { queue -> Bool in
            if queue.stopped { return false }
            queue.barriers.append {
                done.lock()
                done.unlock(withValue: true)
            }
            return true
        }
        guard accepted else { return }
        poke()
        done.lock(whenValue: true)
        done.unlock()
    }

    /// Writes what is queued, then ends the writer thread.
    public func shutdown() {
        let wasStopped = queue.withLockedValue { queue -> Bool in
            defer { queue.stopped = true }
            return queue.stopped
        }
        if !wasStopped { poke() }
        finished.lock(whenValue: true)
        finished.unlock()
    }

    private func poke() {
        signal.lock()
        signal.unlock(withValue: 1)
    }

    private func run() {
        sweep()
        while true {
            signal.lock(whenValue: 1)
            signal.unlock(withValue: 0)
            let (documents, barriers, stopped) = queue.withLockedValue { queue in
                defer {
                    queue.documents.removeAll(keepingCapacity: true)
                    queue.barriers.removeAll()
                }
                return (queue.documents, queue.barriers, queue.stopped)
            }
            write(documents)
            for barrier in barriers { barrier() }
            if stopped {
                finished.lock()
                finished.unlock(withValue: true)
                return
            }
        }
    }

    private func write(_ items: [Item]) {
        guard !items.isEmpty else { return }
        var byTrace: [String: [UInt8]] = [:]
        var order: [String] = []
        let notify = self.observer.withLockedValue { $0 }
        var written: [SegmentDocument] = []
        for item in items {
            let document: SegmentDocument
            switch item {
            case .document(let given): document = given
            case .datagram(let bytes, let rejected):
                guard case .success(let parsed) = SegmentDatagram.parse(bytes) else {
                    rejected()
                    continue
                }
                document = parsed
            }
            if notify != nil { written.append(document) }
            if byTrace[document.traceID] == nil { order.append(document.traceID) }
            byTrace[document.traceID, default: []].append(contentsOf: Array(document.json.utf8) + [10])
        }
        var created = 0
        for traceID in order {
            let path = "\(directory)/\(traceID).jsonl"
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { continue }
            var st = stat()
            if fstat(fd, &st) == 0, st.st_size == 0 { created += 1 }
            let bytes = byTrace[traceID]!
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n <= 0 { break }
                    offset += n
                }
            }
            close(fd)
        }
        if let notify, !written.isEmpty { notify(written) }
        let due = files.withLockedValue { files -> Bool in
            files.newTraces += created
            files.known += created
            let now = Date().timeIntervalSince1970
            // Sweep when the count passes its bound by a tenth, or once a minute for the age limit.
            return files.known > limits.maxTraces + max(1, limits.maxTraces / 10) || now - files.lastSweep > 60
        }
        if due { sweep() }
    }

    /// Removes traces beyond the count and older than the retention, oldest first.
    func sweep() {
        let now = Date().timeIntervalSince1970
        let cutoff = now - Double(limits.retentionDays) * 86_400
        var kept: [(path: String, modified: Double)] = []
        for entry in Self.traceFiles(in: directory) {
            if entry.modified < cutoff { unlink(entry.path) } else { kept.append((entry.path, entry.modified)) }
        }
        // Oldest first; file times are coarse (a kernel tick), so ties go by name.
        kept.sort { ($0.modified, $0.path) < ($1.modified, $1.path) }
        let surplus = max(0, kept.count - limits.maxTraces)
        for entry in kept.prefix(surplus) { unlink(entry.path) }
        files.withLockedValue {
            $0.known = kept.count - surplus
            $0.lastSweep = now
            $0.newTraces = 0
        }
    }

    // MARK: reading (the `traces` command, tests)

    /// Every stored trace file with its id and last write time (epoch seconds).
    public static func traceFiles(in directory: String) -> [(traceID: String, path: String, modified: Double)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var result: [(traceID: String, path: String, modified: Double)] = []
        for name in names where name.hasSuffix(".jsonl") {
            let traceID = String(name.dropLast(6))
            guard SegmentDocument.isTraceID(traceID) else { continue }
            let path = "\(directory)/\(name)"
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            result.append((traceID, path, Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9))
        }
        return result
    }

    /// The document lines of one trace (nil when there is no such trace).
    public static func documents(traceID: String, in directory: String) -> [String]? {
        guard SegmentDocument.isTraceID(traceID),
            let text = try? String(contentsOfFile: "\(directory)/\(traceID).jsonl", encoding: .utf8)
        else { return nil }
        return text.split(separator: "\n").map(String.init)
    }
}
