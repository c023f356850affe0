import Bench
import Foundation
import NIOCore
import NIOPosix

/// One connection of a `bench --via` run, confined to its event loop: sends a request (at its scheduled time in an
/// open loop), reads the response, records it and sends the next, until the run's schedule says stop. It connects
/// again after a failure, and before every request to the admin listener (which closes each connection).
///
/// Callbacks of a channel it has given up (closed on purpose, or failed) carry an older ``generation`` and are
/// ignored, so that a late `channelInactive` of a closed connection cannot fail the request of its successor.
final class BenchLoopConnection: @unchecked Sendable {
    private let index: Int
    private let loop: any EventLoop
    private let driver: BenchHTTPDriver
    private let schedule: @Sendable (Int) -> Int64?
    private let finished: @Sendable ([ClientRecord]) -> Void
    private var channel: (any Channel)?
    private var generation = 0
    private var inFlight: ClientRecord?
    private var records: [ClientRecord] = []

    init(
        index: Int, loop: any EventLoop, driver: BenchHTTPDriver, schedule: @escaping @Sendable (Int) -> Int64?,
        finished: @escaping @Sendable ([ClientRecord]) -> Void
    ) {
        self.index = index
        self.loop = loop
        self.driver = driver
        self.schedule = schedule
        self.finished = finished
    }

    /// Builds the next request and sends it when its time comes, or ends the connection's part of the run.
    func next() {
        // Built before the schedule's time is taken, so that building is not timed.
        let (bytes, requestID, rootIndex) = driver.request()
        guard let sent = schedule(index) else {
            drop()
            finished(records)
            records = []
            return
        }
        let record = ClientRecord(
            requestID: requestID, rootIndex: rootIndex, sent: sent, completed: sent, outcome: .failed, errorType: nil)
        if sent - BenchDriver.now() > 20_000 {
            loop.scheduleTask(deadline: .uptimeNanoseconds(UInt64(sent))) { self.send(bytes, record) }
        } else {
            send(bytes, record)
        }
    }

    private func send(_ bytes: [UInt8], _ record: ClientRecord) {
        inFlight = record
        if let channel {
            write(bytes, on: channel)
            return
        }
        generation += 1
        let generation = self.generation
        ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        BenchResponseHandler(connection: self, generation: generation))
                }
            }
            .connect(host: driver.url.host, port: driver.url.port)
            .whenComplete { result in
                guard generation == self.generation else { return }
                switch result {
                case .success(let channel):
                    self.channel = channel
                    self.write(bytes, on: channel)
                case .failure(let error):
                    self.failed(
                        generation, "cannot connect to \(self.driver.url.host):\(self.driver.url.port): \(error)")
                }
            }
    }

    private func write(_ bytes: [UInt8], on channel: any Channel) {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// Closes the channel on purpose: what it still reports is ignored.
    private func drop() {
        generation += 1
        channel?.close(promise: nil)
        channel = nil
    }

    /// A whole response of the channel of `generation`.
    func responded(_ generation: Int, status: Int, body: ByteBuffer) {
        guard generation == self.generation, var record = inFlight else { return }
        inFlight = nil
        record.completed = BenchDriver.now()
        if driver.adminInvoke != nil {
            (record.outcome, record.errorType) = BenchHTTPDriver.invokeAnswer(status, Array(body.readableBytesView))
            drop()
        } else {
            (record.outcome, record.errorType) = BenchHTTPDriver.classify(status)
        }
        complete(record)
    }

    /// The channel of `generation` closed or failed: the request in flight, if any, failed.
    func failed(_ generation: Int, _ reason: String) {
        guard generation == self.generation else { return }
        drop()
        guard var record = inFlight else { return }
        inFlight = nil
        record.completed = BenchDriver.now()
        record.errorType = reason
        complete(record)
    }

    private func complete(_ record: ClientRecord) {
        driver.progress.record(record)
        records.append(record)
        next()
    }
}

/// Reads the responses of one ``BenchLoopConnection`` channel: HTTP/1.1 heads ended by an empty line and bodies of
/// their `Content-Length` (the listener's answers always carry one), parsed as bytes.
final class BenchResponseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: BenchLoopConnection
    private let generation: Int
    private var cumulation: ByteBuffer?
    /// Offset of the body in `cumulation` (from its reader index) once the head is in, and the body's length.
    private var head: (end: Int, bodyLength: Int)?

    init(connection: BenchLoopConnection, generation: Int) {
        self.connection = connection
        self.generation = generation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if cumulation == nil {
            cumulation = buffer
        } else {
            cumulation!.writeBuffer(&buffer)
        }
        while var bytes = cumulation {
            if head == nil {
                guard let found = bytes.withUnsafeReadableBytes({ BenchHTTPWire.head(in: $0) }) else { return }
                head = found
            }
            guard let (end, bodyLength) = head, bytes.readableBytes >= end + bodyLength else { return }
            let status = bytes.withUnsafeReadableBytes { BenchHTTPWire.status($0) }
            let body = bytes.getSlice(at: bytes.readerIndex + end, length: bodyLength)!
            bytes.moveReaderIndex(forwardBy: end + bodyLength)
            cumulation = bytes.readableBytes > 0 ? bytes : nil
            head = nil
            connection.responded(generation, status: status, body: body)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.failed(generation, "the listener closed the connection")
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.failed(generation, "\(error)")
        context.close(promise: nil)
    }
}

/// The few things bench reads of an HTTP/1.1 response, found by scanning bytes (no string is made).
enum BenchHTTPWire {
    /// The head's length (through the empty line) and the body's `Content-Length` (0 without one), once the
    /// head is complete.
    static func head(in bytes: UnsafeRawBufferPointer) -> (end: Int, bodyLength: Int)? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return (index + 4, contentLength(UnsafeRawBufferPointer(rebasing: bytes[0..<(index + 2)])))
        }
        return nil
    }

    private static let field = Array("\r\ncontent-length:".utf8)

    /// The value of the head's `Content-Length` field (field names compared without case), 0 without one.
    static func contentLength(_ head: UnsafeRawBufferPointer) -> Int {
        let field = Self.field
        guard head.count > field.count else { return 0 }
        var index = 0
        search: while index <= head.count - field.count {
            for offset in 0..<field.count {
                var byte = head[index + offset]
                if byte >= 65 && byte <= 90 { byte |= 0x20 }
                if byte != field[offset] {
                    index += 1
                    continue search
                }
            }
            var position = index + field.count
            while position < head.count && (head[position] == 32 || head[position] == 9) { position += 1 }
            var value = 0
            while position < head.count, head[position] >= 48, head[position] <= 57, value < 1 << 40 {
                value = value * 10 + Int(head[position] - 48)
                position += 1
            }
            return value
        }
        return 0
    }

    /// The status code of `HTTP/1.1 200 …`; 0 when the line is not one.
    static func status(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard bytes.count >= 12 else { return 0 }
        var value = 0
        for index in 9..<12 {
            let byte = bytes[index]
            guard byte >= 48 && byte <= 57 else { return 0 }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
}
