import Foundation
import NIOCore
import Testing

@testable import AlbatrossTLS

extension AlbatrossTLSTests {
    /// Certificates, SNI, policies, resumption and reload of `TLSServerContext`, through real handshakes.
    @Suite struct ServerContext {
        let fixture: TLSFixture

        init() throws { fixture = try TLSFixture() }

        private func connect(
            _ context: TLSServerContext, serverName: String?, maxVersion: Int32? = nil, minVersion: Int32? = nil,
            cipherList: String? = nil, session: OpaquePointer? = nil, disableTickets: Bool = false
        ) throws -> InMemoryPair {
            var options = TestTLSClient.Options()
            options.trustedCAPath = fixture.caPath
            options.serverName = serverName
            options.verifyHost = nil
            options.maxVersion = maxVersion
            options.minVersion = minVersion
            options.cipherList = cipherList
            options.session = session
            options.disableTickets = disableTickets
            let pair = try InMemoryPair(context: context, client: options)
            pair.handshake()
            pair.pump()  // let the client read TLS 1.3 tickets
            return pair
        }

        private func sniContext() throws -> TLSServerContext {
            let fallback = try fixture.issue(["default.test"])
            let exact = try fixture.issue(["a.test", "b.test"])
            let wildcard = try fixture.issue(["*.wild.test"], stem: "wild")
            let rsa = try fixture.issue(["both.test"], keyType: .rsa(bits: 2048), stem: "both-rsa")
            let ecdsa = try fixture.issue(["both.test"], stem: "both-ecdsa")
            return try TLSServerContext(
                configuration: .with(fallback.files, [exact.files, wildcard.files, rsa.files, ecdsa.files])
            )
        }

        @Test func sniPicksTheMatchingCertificate() throws {
            let context = try sniContext()
            let cases: [(String?, String, String)] = [
                ("a.test", "a.test", "EC"),
                ("B.TEST", "a.test", "EC"),
                ("x.wild.test", "*.wild.test", "EC"),
                ("y.x.wild.test", "default.test", "EC"),  // a wildcard covers one label only
                ("wild.test", "default.test", "EC"),
                ("nothing.test", "default.test", "EC"),
                (nil, "default.test", "EC"),
                ("both.test", "both.test", "EC"),  // ECDSA preferred over RSA
            ]
            for (serverName, expectedCN, keyType) in cases {
                let pair = try connect(context, serverName: serverName)
                defer { pair.finish() }
                #expect(pair.client.status == .established, "\(serverName ?? "no SNI")")
                #expect(pair.client.peerCommonName == expectedCN, "\(serverName ?? "no SNI")")
                #expect(pair.client.peerKeyType == keyType, "\(serverName ?? "no SNI")")
                #expect(pair.recorder.handshakes.first?.serverName == serverName)
            }
        }

        @Test func rsaCertificatesWorkWithTLS12AndTLS13() throws {
            let rsa = try fixture.issue(["rsa.test"], keyType: .rsa(bits: 2048))
            let context = try TLSServerContext(configuration: .with(rsa.files))
            for version in [TestTLSClient.tls1_2, TestTLSClient.tls1_3] {
                let pair = try connect(context, serverName: "rsa.test", maxVersion: version)
                defer { pair.finish() }
                #expect(pair.client.status == .established)
                #expect(pair.client.peerKeyType == "RSA")
                if version == TestTLSClient.tls1_2 {
                    #expect(pair.recorder.handshakes.first?.cipherSuite == "ECDHE-RSA-AES128-GCM-SHA256")
                }
            }
            #expect(context.certificates.first?.keyType == "RSA")
            #expect(context.certificates.first?.keyBits == 2048)
        }

        @Test func policies() throws {
            let issued = try fixture.issue(["p.test"])
            func context(_ policy: TLSSecurityPolicy) throws -> TLSServerContext {
                try TLSServerContext(configuration: .with(issued.files, policy: policy))
            }
            // TLS 1.3 only: a TLS 1.2 client is refused.
            let only13 = try context(try .named("ELBSecurityPolicy-TLS13-1-3-2021-06"))
            do {
                let pair = try connect(only13, serverName: "p.test", maxVersion: TestTLSClient.tls1_2)
                defer { pair.finish() }
                #expect(pair.client.status != .established)
                let pair13 = try connect(only13, serverName: "p.test")
                defer { pair13.finish() }
                #expect(pair13.client.protocolVersion == "TLSv1.3")
            }
            // Res: CBC suites are refused.
            let restricted = try context(.tls13_1_2_Res_2021_06)
            do {
                let pair = try connect(
                    restricted, serverName: "p.test", maxVersion: TestTLSClient.tls1_2,
                    cipherList: "ECDHE-ECDSA-AES128-SHA256"
                )
                defer { pair.finish() }
                #expect(pair.client.status != .established)
                let allowed = try connect(
                    restricted, serverName: "p.test", maxVersion: TestTLSClient.tls1_2,
                    cipherList: "ECDHE-ECDSA-AES256-GCM-SHA384"
                )
                defer { allowed.finish() }
                #expect(allowed.client.status == .established)
            }
            // 2016-08: TLS 1.0 works (security level 0), TLS 1.3 does not exist.
            let legacy = try context(.elb2016_08)
            do {
                let pair = try connect(
                    legacy, serverName: "p.test", maxVersion: TestTLSClient.tls1_0,
                    cipherList: "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"
                )
                defer { pair.finish() }
                #expect(pair.client.status == .established)
                #expect(pair.recorder.handshakes.first?.protocolVersion == "TLSv1")
                let modern = try connect(legacy, serverName: "p.test")
                defer { modern.finish() }
                #expect(modern.recorder.handshakes.first?.protocolVersion == "TLSv1.2")
            }
            #expect(throws: TLSError.self) { try TLSSecurityPolicy.named("ELBSecurityPolicy-Nope") }
        }

        @Test(arguments: [
            (TestTLSClient.tls1_3, false),
            (TestTLSClient.tls1_2, false),
            (TestTLSClient.tls1_2, true),  // session ID and the server-side cache
        ])
        func sessionResumption(version: Int32, withoutTickets: Bool) throws {
            let context = try fixture.context()
            let first = try connect(context, serverName: "a.test", maxVersion: version, disableTickets: withoutTickets)
            let session = try #require(first.client.session())
            first.finish()
            defer { TestTLSClient.freeSession(session) }
            #expect(first.recorder.handshakes.first?.sessionReused == false)

            let second = try connect(
                context, serverName: "a.test", maxVersion: version, session: session, disableTickets: withoutTickets
            )
            defer { second.finish() }
            #expect(second.client.status == .established)
            #expect(second.client.sessionReused)
            #expect(second.recorder.handshakes.first?.sessionReused == true)
            if withoutTickets { #expect(context.sessionCacheCount >= 1) }
        }

        @Test func ticketsSurviveOneRotationButNotThree() throws {
            let context = try fixture.context()
            let first = try connect(context, serverName: "a.test")
            let session = try #require(first.client.session())
            first.finish()
            defer { TestTLSClient.freeSession(session) }

            try context.rotateTicketKeys()
            let afterOne = try connect(context, serverName: "a.test", session: session)
            #expect(afterOne.recorder.handshakes.first?.sessionReused == true)
            afterOne.finish()

            try context.rotateTicketKeys()
            try context.rotateTicketKeys()
            let afterThree = try connect(context, serverName: "a.test", session: session)
            #expect(afterThree.client.status == .established)
            #expect(afterThree.recorder.handshakes.first?.sessionReused == false)
            afterThree.finish()
        }

        @Test func reloadServesNewCertificatesAndLeavesLiveConnectionsAlone() throws {
            let issued = try fixture.issue(["old.test"], stem: "site")
            let context = try TLSServerContext(configuration: .with(issued.files))
            let live = try connect(context, serverName: "old.test")
            defer { live.finish() }
            #expect(live.client.peerCommonName == "old.test")
            #expect(try context.reloadIfChanged() == false)

            _ = try fixture.issue(["new.test"], stem: "site")  // same paths, new content
            #expect(try context.reloadIfChanged() == true)
            let fresh = try connect(context, serverName: "new.test")
            defer { fresh.finish() }
            #expect(fresh.client.peerCommonName == "new.test")

            // The connection made before the reload still works both ways.
            live.client.write(Array("still here".utf8))
            live.pump()
            #expect(live.recorder.received == Array("still here".utf8))
            try live.channel.writeAndFlush(ByteBuffer(string: "yes")).wait()
            live.pump()
            #expect(live.client.takeReceived() == Array("yes".utf8))

            // A broken file on reload keeps the previous certificates.
            try "not a pem".write(toFile: issued.certificatePath, atomically: true, encoding: .utf8)
            #expect(throws: TLSError.self) { try context.reload() }
            #expect(context.certificates.first?.dnsNames == ["new.test"])
        }

        @Test func loadErrorsNameTheFileAtFault() throws {
            let good = try fixture.issue(["good.test"])
            let other = try fixture.issue(["other.test"])
            let missing = fixture.directory + "/nope.pem"
            let garbage = fixture.directory + "/garbage.pem"
            try "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
                .write(toFile: garbage, atomically: true, encoding: .utf8)
            let cases: [(TLSCertificateFiles, TLSError.Code, String)] = [
                (.init(certificateChainPath: missing, privateKeyPath: good.privateKeyPath), .fileMissing, missing),
                (.init(certificateChainPath: good.certificatePath, privateKeyPath: missing), .fileMissing, missing),
                (.init(certificateChainPath: garbage, privateKeyPath: good.privateKeyPath), .badPEM, garbage),
                (.init(certificateChainPath: good.certificatePath, privateKeyPath: garbage), .badPEM, garbage),
                (
                    .init(certificateChainPath: good.certificatePath, privateKeyPath: other.privateKeyPath),
                    .keyMismatch,
                    other.privateKeyPath
                ),
            ]
            for (files, code, path) in cases {
                let error = #expect(throws: TLSError.self) {
                    try TLSServerContext(configuration: .with(good.files, [files]))
                }
                #expect(error?.code == code)
                #expect(error?.path == path)
                #expect(error?.description.contains(path) == true, "\(error?.description ?? "")")
            }
        }
    }
}
