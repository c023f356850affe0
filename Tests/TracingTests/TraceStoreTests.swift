import AlbatrossTestKit
import Foundation
import Testing
import Tracing

struct TraceStoreTests {
    static func document(_ trace: Int, _ id: Int) -> SegmentDocument {
        let traceID = "1-6b0ed85b-" + String(repeating: "0", count: 24 - String(trace).count) + String(trace)
        let segmentID = String(repeating: "0", count: 16 - String(id).count) + String(id)
        return SegmentDocument(
            traceID: traceID, id: segmentID,
            json: #"{"id":"\#(segmentID)","name":"fn","trace_id":"\#(traceID)","start_time":1,"end_time":2}"#)
    }

    @Test func appendsDocumentsOfOneTraceToOneFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = TraceStore(dataDirectory: dir.path)
        store.append([Self.document(1, 1), Self.document(2, 2)])
        store.append([Self.document(1, 3)])
        store.flush()
        let directory = TraceStore.directory(dataDirectory: dir.path)
        #expect(
            Set(TraceStore.traceFiles(in: directory).map(\.traceID)) == [
                Self.document(1, 0).traceID, Self.document(2, 0).traceID,
            ])
        #expect(
            TraceStore.documents(traceID: Self.document(1, 0).traceID, in: directory) == [
                Self.document(1, 1).json, Self.document(1, 3).json,
            ])
        #expect(TraceStore.documents(traceID: "../etc/passwd", in: directory) == nil)
        store.shutdown()
        store.append([Self.document(3, 1)])  // after shutdown: ignored, never blocks
    }

    @Test func keepsAtMostMaxTracesOldestGoFirstAndDropsOlderThanTheRetention() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let directory = TraceStore.directory(dataDirectory: dir.path)
        // A trace from 10 days ago, left by an earlier run: the next store's first sweep removes it.
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let old = "\(directory)/\(Self.document(99, 0).traceID).jsonl"
        try (Self.document(99, 1).json + "\n").write(toFile: old, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -10 * 86_400)], ofItemAtPath: old)
        let store = TraceStore(dataDirectory: dir.path, limits: .init(maxTraces: 10, retentionDays: 7))
        defer { store.shutdown() }
        for trace in 1...30 {
            store.append([Self.document(trace, 1)])
            store.flush()
        }
        let kept = TraceStore.traceFiles(in: directory).map(\.traceID)
        #expect(!kept.contains(Self.document(99, 0).traceID))
        // Swept when the count passes the bound by a tenth: never more than 11, and the newest are kept.
        #expect(kept.count <= 11 && kept.count >= 10, "\(kept.count)")
        #expect(kept.contains(Self.document(30, 0).traceID) && !kept.contains(Self.document(1, 0).traceID))
    }
}
