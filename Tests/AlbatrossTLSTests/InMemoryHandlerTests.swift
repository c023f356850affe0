import NIOCore
import NIOEmbedded
import Testing

@testable import AlbatrossTLS

extension AlbatrossTLSTests {
    /// The server handler in an EmbeddedChannel against a real OpenSSL client over memory BIOs.
    @Suite struct InMemoryHandler {
        let fixture: TLSFixture
        let context: TLSServerContext

        init() throws {
            fixture = try TLSFixture()
            context = try fixture.context()
        }

        private func pair(
            serverName: String? = "a.test", alpn: [String] = ["http/1.1"], maxVersion: Int32? = nil,
            trust: Bool = true, handshakeTimeout: TimeAmount? = nil, context: TLSServerContext? = nil
        ) throws -> InMemoryPair {
            var options = TestTLSClient.Options()
            options.trustedCAPath = trust ? fixture.caPath : nil
            options.serverName = serverName
            options.verifyHost = trust ? (serverName ?? "a.test") : nil
            options.alpn = alpn
            options.maxVersion = maxVersion
            return try InMemoryPair(
                context: context ?? self.context, client: options, handshakeTimeout: handshakeTimeout
            )
        }

        @Test func handshakeAnnouncesWhatWasNegotiated() throws {
            let pair = try pair()
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            #expect(pair.recorder.handshakes.count == 1)
            let event = try #require(pair.recorder.handshakes.first)
            #expect(event.protocolVersion == "TLSv1.3")
            #expect(event.cipherSuite == "TLS_AES_128_GCM_SHA256")
            #expect(event.alpn == "http/1.1")
            #expect(event.serverName == "a.test")
            #expect(event.sessionReused == false)
            #expect(pair.client.alpn == "http/1.1")
            #expect(pair.recorder.errors.isEmpty)
        }

        @Test(arguments: [TestTLSClient.tls1_2, TestTLSClient.tls1_3])
        func largeWritesInBothDirections(version: Int32) throws {
            let pair = try pair(maxVersion: version)
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

            pair.client.write(payload)
            pair.pump()
            #expect(pair.recorder.received == payload)

            pair.resetServerWriteCount()
            try pair.channel.writeAndFlush(ByteBuffer(bytes: payload)).wait()
            pair.pump()
            #expect(pair.client.takeReceived() == payload)
            // 100 KB span seven records, all sent in one buffer.
            #expect(pair.resetCountAfter { $0.count } == 1)
        }

        @Test func manySmallWritesAreCoalescedPerFlush() throws {
            let pair = try pair()
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            pair.resetServerWriteCount()
            var expected: [UInt8] = []
            var promises: [EventLoopFuture<Void>] = []
            for index in 0..<1_000 {
                let chunk = Array("line \(index)\n".utf8)
                expected += chunk
                promises.append(pair.channel.write(ByteBuffer(bytes: chunk)))
            }
            pair.channel.flush()
            pair.pump()
            #expect(pair.client.takeReceived() == expected)
            #expect(pair.resetCountAfter { $0.count } == 1)
            for promise in promises { try promise.wait() }

            var upstream: [UInt8] = []
            for index in 0..<500 {
                let chunk = Array("req \(index);".utf8)
                upstream += chunk
                pair.client.write(chunk)
            }
            pair.pump()
            #expect(pair.recorder.received == upstream)
        }

        @Test func applicationDataInTheSameFlightAsFinishedIsDelivered() throws {
            let pair = try pair()  // TLS 1.3: the client may send data right behind its Finished
            defer { pair.finish() }
            // Drive until the client has the server's final flight, without pumping the client's answer.
            pair.client.step()
            try pair.channel.writeInbound(pair.client.takeOutput()!)  // ClientHello
            while let output = try pair.channel.readOutbound(as: ByteBuffer.self) { pair.client.feed(output) }
            pair.client.step()  // client sends its Finished
            pair.client.write(Array("GET / HTTP/1.1\r\n\r\n".utf8))  // ... and data, before the server replies
            let flight = pair.client.takeOutput()!
            try pair.channel.writeInbound(flight)
            #expect(pair.recorder.order == ["handshake", "read"])
            #expect(pair.recorder.received == Array("GET / HTTP/1.1\r\n\r\n".utf8))
            pair.pump()
            #expect(pair.client.status == .established)
        }

        @Test func writesBeforeTheHandshakeCompletesAreSentAfterIt() throws {
            let pair = try pair()
            defer { pair.finish() }
            let written = pair.channel.writeAndFlush(ByteBuffer(string: "early"))
            pair.pump()
            #expect(pair.client.status == .established)
            #expect(pair.client.takeReceived() == Array("early".utf8))
            try written.wait()
        }

        @Test func clientCloseNotifyIsACleanEnd() throws {
            let pair = try pair()
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            pair.client.shutdown()
            pair.pump()
            #expect(!pair.channel.isActive)
            #expect(pair.client.receivedCloseNotify)
            #expect(pair.recorder.errors.isEmpty)
            #expect(TLSConnectionProbe.isFreed(pair))
        }

        @Test func serverCloseSendsCloseNotifyAndWaitsForTheReply() throws {
            let pair = try pair()
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            _ = pair.channel.writeAndFlush(ByteBuffer(string: "bye"))
            let closed = pair.channel.close()
            #expect(pair.channel.isActive)  // waiting for the peer's close_notify
            pair.pump()  // client reads data + close_notify and answers with its own
            #expect(pair.client.takeReceived() == Array("bye".utf8))
            #expect(pair.client.receivedCloseNotify)
            pair.client.shutdown()
            pair.pump()
            #expect(!pair.channel.isActive)
            try closed.wait()
            #expect(pair.recorder.errors.isEmpty)
        }

        @Test func serverCloseGivesUpAfterTheCloseTimeout() throws {
            let pair = try pair()
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            let closed = pair.channel.close()
            pair.pump()
            #expect(pair.client.receivedCloseNotify)
            #expect(pair.channel.isActive)
            (pair.channel.eventLoop as! EmbeddedEventLoop).advanceTime(by: .seconds(6))
            #expect(!pair.channel.isActive)
            try closed.wait()
        }

        @Test func endOfInputWithoutCloseNotifyIsTruncation() throws {
            let pair = try pair()
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            pair.client.write(Array("partial".utf8))
            pair.pump()
            pair.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            #expect(pair.recorder.tlsErrorCodes == [.uncleanShutdown])
            #expect(!pair.channel.isActive)
        }

        @Test func channelInactiveWithoutCloseNotifyIsTruncation() throws {
            let pair = try pair()
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            pair.channel.pipeline.fireChannelInactive()
            #expect(pair.recorder.tlsErrorCodes == [.uncleanShutdown])
        }

        @Test func clientLimitedToTLS11FailsAgainstTheDefaultPolicy() throws {
            let pair = try pair(maxVersion: TestTLSClient.tls1_1)
            defer { pair.finish() }
            guard case .failed(let reason) = pair.handshake() else {
                Issue.record("the handshake should fail")
                return
            }
            #expect(reason.contains("protocol version") || reason.contains("unsupported protocol"))
            #expect(pair.recorder.tlsErrorCodes == [.handshakeFailed])
            #expect(pair.recorder.handshakes.isEmpty)
            #expect(!pair.channel.isActive)
            #expect(TLSConnectionProbe.isFreed(pair))
        }

        @Test func clientNotTrustingTheCertificateFailsOnItsSide() throws {
            var options = TestTLSClient.Options()
            let otherCA = try TLSFixture()
            options.trustedCAPath = otherCA.caPath
            options.serverName = "a.test"
            let pair = try InMemoryPair(context: context, client: options)
            defer { pair.finish() }
            guard case .failed(let reason) = pair.handshake() else {
                Issue.record("the client should refuse the certificate")
                return
            }
            #expect(reason.contains("certificate verify failed"))
            withExtendedLifetime(otherCA) {}
            #expect(pair.recorder.tlsErrorCodes == [.handshakeFailed])
            #expect(!pair.channel.isActive)
        }

        @Test func handshakeTimeoutClosesAStalledConnection() throws {
            let pair = try pair(handshakeTimeout: .milliseconds(500))
            defer { pair.finish() }
            pair.client.step()
            let hello = try #require(pair.client.takeOutput())
            try pair.channel.writeInbound(hello.getSlice(at: 0, length: hello.readableBytes / 2)!)
            let loop = pair.channel.eventLoop as! EmbeddedEventLoop
            loop.advanceTime(by: .milliseconds(400))
            #expect(pair.channel.isActive)
            loop.advanceTime(by: .milliseconds(200))
            #expect(!pair.channel.isActive)
            #expect(pair.recorder.tlsErrorCodes == [.handshakeTimeout])
        }

        @Test func completedHandshakeCancelsTheTimeout() throws {
            let pair = try pair(handshakeTimeout: .milliseconds(500))
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            (pair.channel.eventLoop as! EmbeddedEventLoop).advanceTime(by: .seconds(1))
            #expect(pair.channel.isActive)
            #expect(pair.recorder.errors.isEmpty)
        }

        @Test func garbageInsteadOfAClientHelloFailsTheHandshake() throws {
            let pair = try pair()
            defer { pair.finish() }
            try pair.channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"))
            #expect(pair.recorder.tlsErrorCodes == [.handshakeFailed])
            #expect(!pair.channel.isActive)
        }

        @Test func renegotiationIsRefused() throws {
            let pair = try pair(maxVersion: TestTLSClient.tls1_2)
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            #expect(pair.client.renegotiate())
            pair.pump()
            #expect(pair.recorder.handshakes.count == 1)
            // The server answers with a no_renegotiation warning; OpenSSL's client then aborts the connection.
            #expect(pair.recorder.handshakes.count == 1)
            #expect(pair.client.readError != nil)
            #expect(!pair.channel.isActive)
            #expect(pair.recorder.tlsErrorCodes == [.protocolError])
        }

        @Test(arguments: [
            ([] as [String], nil as String?),
            (["http/1.1"], "http/1.1"),
            (["h2", "http/1.1"], "http/1.1"),
            (["h2"], nil),
        ])
        func alpnSelection(offered: [String], expected: String?) throws {
            let pair = try pair(alpn: offered)
            defer { pair.finish() }
            #expect(pair.handshake() == .established)
            #expect(pair.client.alpn == expected)
            #expect(pair.recorder.handshakes.first?.alpn == expected)
        }
    }
}

extension InMemoryPair {
    func resetCountAfter(_ body: ([Int]) -> Int) -> Int {
        let count = body(serverWrites)
        resetServerWriteCount()
        return count
    }
}

/// Checks that the handler freed its SSL object (the live count is back where it was before the pair).
enum TLSConnectionProbe {
    static func isFreed(_ pair: InMemoryPair) -> Bool {
        !pair.channel.isActive && TLSConnection.liveCount.load(ordering: .relaxed) == pair.liveConnectionsBefore
    }
}
