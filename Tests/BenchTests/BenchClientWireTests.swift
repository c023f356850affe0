import Bench
import Testing

/// The pure parts of `bench`'s epoll client (``BenchSocketClient``): reading responses out of a bounded buffer,
/// the open loop's schedule, and the trace root rewritten in place.
@Suite struct BenchClientWireTests {
    /// Feeds `chunks` one read at a time into a buffer of `capacity`, as the client does; returns what the reader
    /// said after each and the buffer's contents at the end.
    static func feed(
        _ chunks: [String], capacity: Int = 256, keepsBody: Bool = false
    ) -> (progress: [BenchResponseReader.Progress], bytes: [UInt8]) {
        feed(chunks.map { Array($0.utf8) }, capacity: capacity, keepsBody: keepsBody)
    }

    static func feed(
        _ chunks: [[UInt8]], capacity: Int = 256, keepsBody: Bool = false
    ) -> (progress: [BenchResponseReader.Progress], bytes: [UInt8]) {
        var reader = BenchResponseReader(capacity: capacity, keepsBody: keepsBody)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer { buffer.deallocate() }
        var filled = 0
        var said: [BenchResponseReader.Progress] = []
        for bytes in chunks {
            let take = min(bytes.count, capacity - filled)
            for index in 0..<take { buffer[filled + index] = bytes[index] }
            filled += take
            said.append(reader.received(UnsafeRawBufferPointer(buffer), filled: &filled))
        }
        return (said, Array(buffer[0..<filled]))
    }

    @Test func aResponseSplitAnywhereIsReadWhole() {
        let response = "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\ncontent-LENGTH: 5\r\n\r\nhello"
        let bytes = Array(response.utf8)
        // Every split into two reads, the empty line's four bytes included, and one byte a read.
        for cut in 1..<bytes.count {
            let (said, _) = Self.feed([Array(bytes[..<cut]), Array(bytes[cut...])])
            #expect(said == [.incomplete, .complete(status: 201, body: 0..<0, excess: false)], "cut at \(cut)")
        }
        let (said, _) = Self.feed(bytes.map { [$0] })
        #expect(said.last == .complete(status: 201, body: 0..<0, excess: false))
        #expect(said.dropLast().allSatisfy { $0 == .incomplete })
    }

    @Test func theBodyIsKeptOnlyWhenAsked() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
        let kept = Self.feed([head + "ab", "cd"], keepsBody: true)
        let start = head.utf8.count
        #expect(kept.progress == [.incomplete, .complete(status: 200, body: start..<(start + 4), excess: false)])
        #expect(kept.bytes[start...] == Array("abcd".utf8)[...])
        // Counted, not kept: after the head every read lands at the buffer's start again, so a body larger than
        // the buffer is read in it.
        var chunks = [head.replacingOccurrences(of: "4", with: "1000")]
        chunks += Array(repeating: String(repeating: "x", count: 100), count: 10)
        let counted = Self.feed(chunks, capacity: 128)
        #expect(counted.progress.last == .complete(status: 200, body: 0..<0, excess: false))
        #expect(counted.progress.dropLast().allSatisfy { $0 == .incomplete })
        #expect(counted.bytes.isEmpty)
    }

    @Test func bytesAfterTheResponseAreFlagged() {
        let said = Self.feed(["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1"]).progress
        #expect(said == [.complete(status: 200, body: 0..<0, excess: true)])
        let kept = Self.feed(["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok!"], keepsBody: true).progress
        #expect(kept == [.complete(status: 200, body: 38..<40, excess: true)])
        // No Content-Length: the response ends with its head.
        #expect(
            Self.feed(["HTTP/1.1 204 No Content\r\n\r\n"]).progress == [
                .complete(status: 204, body: 0..<0, excess: false)
            ])
    }

    @Test func theBufferIsBounded() {
        // A head that never ends fails once it fills the buffer, whatever the reads.
        let endless = Self.feed(["HTTP/1.1 200 OK\r\nX: ", String(repeating: "y", count: 100)], capacity: 64)
        #expect(endless.progress == [.incomplete, .failed("a response head over 64 bytes")])
        // A kept body that cannot fit fails as soon as its length is known.
        let large = Self.feed(["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"], capacity: 64, keepsBody: true)
        #expect(large.progress == [.failed("an answer over 64 bytes")])
    }

    @Test func theReaderStartsAfreshAfterReset() {
        var reader = BenchResponseReader(capacity: 64, keepsBody: false)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
        defer { buffer.deallocate() }
        for status in [200, 503] {
            let bytes = Array("HTTP/1.1 \(status) X\r\nContent-Length: 1\r\n\r\n!".utf8)
            buffer.copyBytes(from: bytes)
            var filled = bytes.count
            #expect(
                reader.received(UnsafeRawBufferPointer(buffer), filled: &filled)
                    == .complete(status: status, body: 0..<0, excess: false))
            reader.reset()
        }
    }

    @Test func theHeadScanResumesWhereItStopped() {
        let bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n".utf8)
        bytes.withUnsafeBytes { all in
            // The empty line straddles the bytes scanned already: found from any point the last read can have
            // left the scan at (its last byte not in yet).
            for from in 0..<bytes.count {
                let head = BenchHTTPWire.head(in: all, from: from)
                #expect(head?.end == bytes.count && head?.bodyLength == 7, "from \(from)")
            }
            #expect(BenchHTTPWire.head(in: UnsafeRawBufferPointer(rebasing: all[0..<(bytes.count - 1)])) == nil)
        }
    }

    @Test func theOpenLoopScheduleGivesEveryRequestOnceToItsConnection() throws {
        let schedule = OpenLoopSchedule(start: 1_000, rate: 400, seconds: 0.1, connections: 3)
        #expect(schedule.total == 40 && schedule.connections == 3 && schedule.interval == 2_500_000)
        var seen: [Int: Int64] = [:]
        for connection in 0..<3 {
            var sequence = 0
            while let (index, at) = schedule.request(connection: connection, sequence: sequence) {
                #expect(index % 3 == connection)
                #expect(seen[index] == nil)
                seen[index] = at
                sequence += 1
            }
            #expect(sequence == (connection == 0 ? 14 : 13))
        }
        #expect(seen.count == 40)
        #expect(seen[0] == 1_000 && seen[1] == 2_501_000 && seen[39] == 1_000 + 39 * 2_500_000)
        #expect(schedule.request(connection: 3, sequence: 0) == nil)
        // Never more connections than requests.
        let short = OpenLoopSchedule(start: 0, rate: 2, seconds: 1, connections: 32)
        #expect(short.total == 2 && short.connections == 2)
        #expect(BenchClientSchedule.open(short).connections(32) == 2)
        #expect(BenchClientSchedule.closed(count: 5).connections(32) == 5)
        #expect(BenchClientSchedule.closed(count: 0).connections(32) == 1)
        let none = OpenLoopSchedule(start: 0, rate: 10, seconds: 0, connections: 4)
        #expect(none.request(connection: 0, sequence: 0) == nil)
    }

    @Test func aTraceRootRewrittenInPlaceIsTheOneAppended() {
        for (epoch, nonce, index) in [(UInt32(0), UInt32(0), UInt64(0)), (0x6930_1234, 0xdead_beef, 123_456_789)] {
            let expected = BenchTraceRoot.bytes(epoch: epoch, nonce: nonce, index: index)
            var bytes = Array("Root=".utf8) + BenchTraceRoot.bytes(epoch: 1, nonce: 2, index: 3) + Array(";".utf8)
            bytes.withUnsafeMutableBytes {
                BenchTraceRoot.write(
                    epoch: epoch, nonce: nonce, index: index,
                    into: UnsafeMutableRawBufferPointer(rebasing: $0[5..<(5 + BenchTraceRoot.length)]))
            }
            #expect(Array(bytes[5..<40]) == expected)
            #expect(bytes.prefix(5) == Array("Root=".utf8)[...] && bytes.last == UInt8(ascii: ";"))
            let found = bytes[5..<40].withUnsafeBytes { BenchTraceRoot.index(of: $0, nonce: nonce) }
            #expect(found == Int(index))
        }
    }
}
