import AlbatrossTLS
import Foundation
import Testing

extension AlbatrossTLSTests {
    /// The local CA behind `albatross cert`, checked with the openssl command line tool.
    @Suite struct LocalCertificateAuthority {
        @Test func createsTheCAOnceAndIssuesVerifiableLeafCertificates() throws {
            let fixture = try TLSFixture()
            let authority = fixture.authority
            let caBefore = try String(contentsOfFile: authority.certificatePath, encoding: .utf8)
            // Opening again keeps the existing CA.
            let reopened = try CertificateAuthority.openOrCreate(in: authority.directory)
            #expect(try String(contentsOfFile: reopened.certificatePath, encoding: .utf8) == caBefore)

            let issued = try authority.issue(hostNames: ["api.test", "*.api.test", "127.0.0.1", "::1"])
            #expect(issued.dnsNames == ["api.test", "*.api.test"])
            #expect(issued.ipAddresses == ["127.0.0.1", "::1"])
            for path in [authority.privateKeyPath, issued.privateKeyPath] {
                let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(path)")
            }

            let verify = try runProcess(
                [
                    "openssl", "verify", "-CAfile", authority.certificatePath, "-purpose", "sslserver",
                    "-x509_strict", issued.certificatePath,
                ]
            )
            #expect(verify.status == 0, "\(verify.output)")
            let text = try runProcess(["openssl", "x509", "-in", issued.certificatePath, "-noout", "-text"]).stdout
            #expect(text.contains("DNS:api.test, DNS:*.api.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"))
            #expect(text.contains("TLS Web Server Authentication"))
            #expect(text.contains("Subject: CN = api.test"))
            #expect(text.contains("ASN1 OID: prime256v1"))
            let caText = try runProcess(["openssl", "x509", "-in", authority.certificatePath, "-noout", "-text"]).stdout
            #expect(caText.contains("CA:TRUE"))

            let rsa = try authority.issue(hostNames: ["rsa.test"], keyType: .rsa(bits: 2048))
            let rsaText = try runProcess(["openssl", "x509", "-in", rsa.certificatePath, "-noout", "-text"]).stdout
            #expect(rsaText.contains("Public-Key: (2048 bit)"))

            #expect(throws: TLSError.self) { try authority.issue(hostNames: []) }
            #expect(throws: TLSError.self) { try authority.issue(hostNames: ["bad name!"]) }
        }

        @Test func opensslVersionsAreReported() {
            let version = OpenSSLVersion.current
            #expect(version.compiled.hasPrefix("OpenSSL 3."))
            #expect(version.running.hasPrefix("OpenSSL 3."))
            #expect(version.compiledNumber >= 0x3000_0000)
            #expect(version.description.contains("running: OpenSSL 3."))
        }
    }
}
