import AdminServer
import AlbatrossTestKit
import Foundation
import NIOPosix
import Testing

/// The admin listener's Server-Sent Events streams: a client gets the latest event at once and every later one; a
/// client that stops reading is dropped instead of buffered for, and the others keep receiving; the stream's
/// client limit holds.
@Suite(.serialized)
struct AdminEventStreamTests {
    /// A blocking loopback socket that sends one request and then reads whatever arrives.
    final class StreamClient: @unchecked Sendable {
        let descriptor: Int32

        /// - Parameter receiveBuffer: a small SO_RCVBUF makes a client that does not read stall sooner.
        init(port: Int, path: String, receiveBuffer: Int32? = nil) throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            if var size = receiveBuffer {
                setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else { throw POSIXError(.ECONNREFUSED) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let request = Array("GET \(path) HTTP/1.1\r\nHost: admin\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        }

        /// Reads until `text` has arrived (or the timeout / the peer's close); returns everything read.
        func read(until text: String, limit: Int = 1 << 22) -> String {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while received.count < limit {
                let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                received += buffer[0..<count]
                if String(decoding: received.suffix(text.utf8.count + 65536), as: UTF8.self).contains(text) { break }
            }
            return String(decoding: received, as: UTF8.self)
        }

        deinit { close(descriptor) }
    }

    @Test func slowClientsAreDroppedAndTheOthersKeepReceiving() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stream = EventStream(limits: .init(maximumClients: 3))
        let admin = AdminServer(port: 0, pages: [:], streams: ["/events": stream], group: group)
        let port = try await admin.start()
        stream.broadcast(#"{"n":0}"#)

        let reader = try StreamClient(port: port, path: "/events")
        let head = reader.read(until: #"data: {"n":0}"#)
        #expect(head.hasPrefix("HTTP/1.1 200 OK"), "\(head)")
        #expect(head.lowercased().contains("content-type: text/event-stream"))
        #expect(head.contains(#"data: {"n":0}"#), "the latest event at once")

        // A client that never reads (with a small receive buffer), then far more than any buffer holds, at a pace
        // the reading client keeps up with on its own thread.
        let stalled = try StreamClient(port: port, path: "/events", receiveBuffer: 4096)
        let deadline = Date().addingTimeInterval(5)
        while stream.clientCount < 2 && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(stream.clientCount == 2)
        async let reading = offPool { reader.read(until: #"data: {"n":"last"}"#, limit: 1 << 30) }
        let pad = String(repeating: "x", count: 32 * 1024)
        var sent = 0
        while stream.droppedCount == 0 && sent < 2000 {
            stream.broadcast(#"{"pad":"\#(pad)"}"#)
            sent += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(stream.droppedCount == 1, "one client dropped after \(sent) events of 32 KB")
        let dropDeadline = Date().addingTimeInterval(5)
        while stream.clientCount > 1 && Date() < dropDeadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(stream.clientCount == 1)
        stream.broadcast(#"{"n":"last"}"#)
        let seen = try await reading
        #expect(seen.contains(#"data: {"n":"last"}"#), "the reading client got every event through the end")
        // The one dropped is the stalled client: its connection ends once it reads what was sent before.
        let rest = stalled.read(until: "never", limit: 1 << 30)
        #expect(!rest.contains(#"{"n":"last"}"#), "the stalled client was closed before the last event")

        // The limit: three clients at most; a fourth gets an empty stream.
        let second = try StreamClient(port: port, path: "/events")
        let third = try StreamClient(port: port, path: "/events")
        _ = second.read(until: "last")
        _ = third.read(until: "last")
        let fourth = try StreamClient(port: port, path: "/events")
        let refused = fourth.read(until: "0\r\n\r\n")
        #expect(stream.clientCount == 3)
        #expect(refused.hasSuffix("0\r\n\r\n") && !refused.contains("data:"), "\(refused)")
        await admin.stop()
        try await group.shutdownGracefully()
    }
}
