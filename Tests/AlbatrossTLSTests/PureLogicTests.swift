import Testing

@testable import AlbatrossTLS

extension AlbatrossTLSTests {
    /// The pure parts: SNI ranking and the handler's state machine.
    @Suite struct PureLogic {
        @Test(arguments: [
            ("a.example.com", 1), ("A.Example.COM.", 1), ("x.example.com", 2), ("x.y.example.com", 0),
            ("example.com", 0), ("api.example.com", 4), ("other.test", 0), ("", 0),
        ])
        func serverNameSelection(name: String, expected: Int) {
            let matcher = ServerNameMatcher([
                .init(dnsNames: ["default.test"], isECDSA: false, keyBits: 2048, notAfter: 10),
                .init(dnsNames: ["a.example.com"], isECDSA: true, keyBits: 256, notAfter: 10),
                .init(dnsNames: ["*.example.com"], isECDSA: true, keyBits: 256, notAfter: 10),
                .init(dnsNames: ["api.example.com"], isECDSA: false, keyBits: 4096, notAfter: 10),
                // ECDSA beats the RSA exact match, and the wildcard (equal rank but later notAfter).
                .init(dnsNames: ["api.example.com"], isECDSA: true, keyBits: 256, notAfter: 20),
            ])
            #expect(matcher.select(serverName: name) == expected)
            #expect(matcher.select(serverName: nil) == 0)
        }

        @Test func longerKeyThenLaterExpiryBreakTies() {
            let matcher = ServerNameMatcher([
                .init(dnsNames: ["d"], isECDSA: true, keyBits: 256, notAfter: 0),
                .init(dnsNames: ["x.test"], isECDSA: false, keyBits: 2048, notAfter: 50),
                .init(dnsNames: ["x.test"], isECDSA: false, keyBits: 3072, notAfter: 10),
                .init(dnsNames: ["y.test"], isECDSA: true, keyBits: 256, notAfter: 10),
                .init(dnsNames: ["y.test"], isECDSA: true, keyBits: 256, notAfter: 30),
            ])
            #expect(matcher.select(serverName: "x.test") == 2)
            #expect(matcher.select(serverName: "y.test") == 4)
        }

        @Test func stateMachineHappyPathAndPeerClose() {
            var machine = TLSServerStateMachine()
            #expect(machine.receivedCiphertext() == .continueHandshake)
            #expect(machine.write() == .buffer)
            #expect(machine.flush() == .deferUntilHandshakeCompletes)
            #expect(machine.handshakeCompleted() == .announceAndStartApplicationData)
            #expect(machine.handshakeCompleted() == .ignore)
            #expect(machine.receivedCiphertext() == .decrypt(deliver: true))
            #expect(machine.flush() == .encryptAndSend)
            #expect(machine.handshakeTimedOut(seconds: 1) == .ignore)
            #expect(machine.receivedCloseNotify() == .replyCloseNotifyAndClose)
            #expect(machine.state == .closed)
            #expect(machine.write() == .fail)
            #expect(machine.channelInactive() == .none)
        }

        @Test func stateMachineLocalClose() {
            var machine = TLSServerStateMachine()
            _ = machine.handshakeCompleted()
            #expect(machine.closeRequested() == .sendCloseNotifyAndWait)
            #expect(machine.state == .closing)
            #expect(machine.closeRequested() == .joinPendingClose)
            #expect(machine.receivedCiphertext() == .decrypt(deliver: false))
            #expect(machine.write() == .fail)
            #expect(machine.receivedCloseNotify() == .completeClose)
            #expect(machine.closeTimedOut() == false)
            #expect(machine.closeRequested() == .forwardClose)
        }

        @Test func stateMachineEndings() {
            // (setup, event, expected outcome description)
            var machine = TLSServerStateMachine()
            #expect(machine.closeRequested() == .closeChannel)  // during the handshake: no close_notify

            machine = TLSServerStateMachine()
            #expect(machine.handshakeTimedOut(seconds: 10) == .reportAndClose(.handshakeTimeout(seconds: 10)))
            #expect(machine.receivedCiphertext() == .discard)

            machine = TLSServerStateMachine()
            _ = machine.handshakeCompleted()
            #expect(machine.inputEnded() == .reportTruncationAndClose)

            machine = TLSServerStateMachine()
            _ = machine.handshakeCompleted()
            #expect(machine.channelInactive() == .reportTruncation)

            machine = TLSServerStateMachine()
            _ = machine.handshakeCompleted()
            _ = machine.closeRequested()
            #expect(machine.channelInactive() == .completePendingClose)

            machine = TLSServerStateMachine()
            _ = machine.handshakeCompleted()
            _ = machine.closeRequested()
            #expect(machine.closeTimedOut() == true)

            machine = TLSServerStateMachine()
            #expect(machine.inputEnded() == .close)
            #expect(machine.channelInactive() == .none)
        }
    }
}
