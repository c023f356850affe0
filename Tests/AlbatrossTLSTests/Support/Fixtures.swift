import Foundation
import NIOCore
import NIOEmbedded

@testable import AlbatrossTLS

/// A temporary directory with a local CA and certificates issued by `CertificateAuthority`; removed on deinit.
final class TLSFixture {
    let directory: String
    let authority: CertificateAuthority
    var caPath: String { authority.certificatePath }

    init() throws {
        directory = NSTemporaryDirectory() + "albatross-tls-" + UUID().uuidString
        authority = try CertificateAuthority.openOrCreate(in: directory + "/ca")
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func issue(
        _ names: [String], keyType: CertificateAuthority.KeyType = .ecdsaP256, stem: String? = nil
    ) throws -> CertificateAuthority.IssuedCertificate {
        try authority.issue(hostNames: names, keyType: keyType, outputDirectory: directory + "/certs", fileStem: stem)
    }

    /// A context with one certificate for `names` (plus 127.0.0.1).
    func context(
        names: [String] = ["a.test", "127.0.0.1"], policy: TLSSecurityPolicy = .default,
        handshakeTimeout: TimeAmount = .seconds(10)
    ) throws -> TLSServerContext {
        let issued = try issue(names)
        return try TLSServerContext(
            configuration: TLSServerConfiguration(
                defaultCertificate: issued.files, policy: policy, handshakeTimeout: handshakeTimeout
            )
        )
    }
}

/// The tail of the pipeline in in-memory tests: records what the TLS handler passes up.
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var received: [UInt8] = []
    var readCount = 0
    var handshakes: [TLSHandshakeCompleted] = []
    var errors: [any Error] = []
    var order: [String] = []
    var inactive = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        readCount += 1
        order.append("read")
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted {
            handshakes.append(event)
            order.append("handshake")
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
        order.append("error")
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
    }

    var tlsErrorCodes: [TLSError.Code] { errors.compactMap { ($0 as? TLSError)?.code } }
}

/// An EmbeddedChannel with the server handler and a `Recorder`, wired to a `TestTLSClient`.
final class InMemoryPair {
    let channel: EmbeddedChannel
    let recorder = Recorder()
    let client: TestTLSClient
    /// Ciphertext buffers the server wrote, in order (counted to check write coalescing).
    private(set) var serverWrites: [Int] = []
    /// `TLSConnection.liveCount` before this pair's handler was added.
    let liveConnectionsBefore: Int

    init(
        context: TLSServerContext, client options: TestTLSClient.Options, handshakeTimeout: TimeAmount? = nil
    )
        throws
    {
        liveConnectionsBefore = TLSConnection.liveCount.load(ordering: .relaxed)
        channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(
            TLSServerHandler(context: context, handshakeTimeout: handshakeTimeout), recorder
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        client = TestTLSClient(options)
    }

    /// Moves bytes both ways until neither side has anything more to say.
    func pump() {
        for _ in 0..<10_000 {
            var moved = false
            client.step()
            if let output = client.takeOutput() {
                moved = true
                if channel.isActive { _ = try? channel.writeInbound(output) }
            }
            while let output = try? channel.readOutbound(as: ByteBuffer.self) {
                moved = true
                serverWrites.append(output.readableBytes)
                client.feed(output)
            }
            if !moved { return }
        }
    }

    func resetServerWriteCount() { serverWrites = [] }

    /// Performs the handshake; returns the client status.
    @discardableResult
    func handshake() -> TestTLSClient.Status {
        pump()
        return client.status
    }

    /// Closes the channel without waiting for the client's close_notify (the close timer ends it), then tears
    /// the EmbeddedChannel down.
    func finish() {
        if channel.isActive {
            _ = channel.close()
            (channel.eventLoop as! EmbeddedEventLoop).advanceTime(by: .seconds(3_600))
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}

extension TLSServerConfiguration {
    static func with(
        _ files: TLSCertificateFiles, _ more: [TLSCertificateFiles] = [], policy: TLSSecurityPolicy = .default
    ) -> TLSServerConfiguration {
        TLSServerConfiguration(defaultCertificate: files, additionalCertificates: more, policy: policy)
    }
}
