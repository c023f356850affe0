import Atomics
import NIOCore
import NIOPosix

/// An X-Ray daemon stand-in on loopback UDP: the X-Ray SDK inside a function sends its segments and subsegments
/// to `AWS_XRAY_DAEMON_ADDRESS` as datagrams of a header line and one JSON document (observability.md §4.4).
///
/// It runs on an event loop of its own, so a flood competes with serving for CPU only, never for a loop; each
/// datagram costs a size check, a token from a bucket (``Limits/datagramsPerSecond``) and the header check
/// there, and is then handed to the ``TraceStore``'s writer thread, which validates the document and writes it.
/// Everything refused is counted (``Counts``), nothing is answered.
public final class XRayDaemon: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Datagrams accepted per second (the bucket refills continuously; it holds a second's worth).
        public var datagramsPerSecond: Int

        public init(datagramsPerSecond: Int = 2_000) {
            self.datagramsPerSecond = datagramsPerSecond
        }
    }

    /// What happened to the datagrams received so far.
    public struct Counts: Sendable, Hashable {
        public var accepted = 0
        public var oversized = 0
        public var malformed = 0
        public var rateLimited = 0

        public init(accepted: Int = 0, oversized: Int = 0, malformed: Int = 0, rateLimited: Int = 0) {
            self.accepted = accepted
            self.oversized = oversized
            self.malformed = malformed
            self.rateLimited = rateLimited
        }
    }

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let counters: Counters
    /// The bound address, `127.0.0.1:<port>`: what runtimes get as `AWS_XRAY_DAEMON_ADDRESS`.
    public let address: String
    public let port: Int

    /// Binds `127.0.0.1:port` (0: a free port). Blocking: call it before serving starts, off any event loop.
    public init(port: Int = 0, limits: Limits = Limits(), store: TraceStore) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let counters = Counters()
        do {
            // No SO_REUSEADDR: on Linux it would let a second server share a fixed UDP port silently.
            channel = try DatagramBootstrap(group: group)
                // One byte more than the daemon reads, so a longer datagram shows as oversized, not cut off.
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_537))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            XRayDatagramHandler(limits: limits, counters: counters, store: store))
                    }
                }
                .bind(host: "127.0.0.1", port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
        self.counters = counters
        self.port = channel.localAddress?.port ?? port
        self.address = "127.0.0.1:\(self.port)"
    }

    public var counts: Counts {
        Counts(
            accepted: counters.accepted.load(ordering: .relaxed),
            oversized: counters.oversized.load(ordering: .relaxed),
            malformed: counters.malformed.load(ordering: .relaxed),
            rateLimited: counters.rateLimited.load(ordering: .relaxed))
    }

    /// Closes the socket and stops its event loop.
    public func close() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

final class Counters: Sendable {
    let accepted = ManagedAtomic(0)
    let oversized = ManagedAtomic(0)
    let malformed = ManagedAtomic(0)
    let rateLimited = ManagedAtomic(0)
}

/// Reads datagrams on the daemon's own loop: size, rate, header; the document goes to the store's thread.
final class XRayDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let counters: Counters
    private let store: TraceStore
    private var bucket: TokenBucket

    init(limits: XRayDaemon.Limits, counters: Counters, store: TraceStore) {
        self.counters = counters
        self.store = store
        self.bucket = TokenBucket(ratePerSecond: Double(limits.datagramsPerSecond), now: .now())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let buffer = envelope.data
        guard buffer.readableBytes <= SegmentDocument.maximumSize else {
            counters.oversized.wrappingIncrement(ordering: .relaxed)
            return
        }
        guard bucket.take(now: .now()) else {
            counters.rateLimited.wrappingIncrement(ordering: .relaxed)
            return
        }
        let bytes = Array(buffer.readableBytesView)
        switch SegmentDatagram.body(of: bytes) {
        case .failure:
            counters.malformed.wrappingIncrement(ordering: .relaxed)
        case .success:
            counters.accepted.wrappingIncrement(ordering: .relaxed)
            store.appendDatagram(bytes) { [counters] in
                counters.accepted.wrappingDecrement(ordering: .relaxed)
                counters.malformed.wrappingIncrement(ordering: .relaxed)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A UDP read error concerns one datagram; the socket stays open.
    }
}

@available(*, unavailable)
extension XRayDatagramHandler: Sendable {}

/// A token bucket: `ratePerSecond` tokens a second, at most a second's worth saved up.
struct TokenBucket {
    let ratePerSecond: Double
    private var tokens: Double
    private var last: NIODeadline

    init(ratePerSecond: Double, now: NIODeadline) {
        self.ratePerSecond = ratePerSecond
        self.tokens = ratePerSecond
        self.last = now
    }

    mutating func take(now: NIODeadline) -> Bool {
        let elapsed = Double((now - last).nanoseconds) / 1e9
        if elapsed > 0 {
            tokens = min(ratePerSecond, tokens + elapsed * ratePerSecond)
            last = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
