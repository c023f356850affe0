import Foundation
import LambdaModel
import Testing

@testable import ControlAPI

/// SigV4 verification against signatures made by botocore 1.43.11 (Tests/Python/sigv4_vectors.py prints them) and the
/// AWS documentation's get-vanilla example, and every rejection with AWS's code and message.
struct SigV4Tests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let verifier = SigV4Verifier(
        credentials: [
            APICredential(accessKeyId: "AKIDEXAMPLE", secretAccessKey: secret, accountId: "123456789012"),
            APICredential(
                accessKeyId: "ASIATEMP", secretAccessKey: secret, sessionToken: "session-token-example",
                accountId: "123456789012"),
        ])
    /// 2026-11-28T14:35:39Z, when the vectors were signed.
    static let signedAt = Date(timeIntervalSince1970: 1_795_876_539)

    static func request(
        _ method: String, _ target: String, _ headers: [(String, String)], body: String = ""
    ) -> SigV4Verifier.Request {
        SigV4Verifier.Request(
            method: method, target: target,
            headers: [(name: "Host", value: "127.0.0.1:9001")] + headers.map { (name: $0.0, value: $0.1) },
            body: Array(body.utf8))
    }

    static func authorization(_ signedHeaders: String, _ signature: String, key: String = "AKIDEXAMPLE") -> String {
        "AWS4-HMAC-SHA256 Credential=\(key)/20261128/us-east-1/lambda/aws4_request, SignedHeaders=\(signedHeaders), "
            + "Signature=\(signature)"
    }

    /// Signed by botocore: an ARN path (double-encoded in the canonical URI), a query, `%24LATEST`, an invoke with
    /// its headers and body, repeated query keys with an encoded space.
    static let botocoreVectors: [SigV4Verifier.Request] = [
        request(
            "GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn%3Aprod",
            [
                ("X-Amz-Date", "20261128T143539Z"),
                (
                    "Authorization",
                    authorization("host;x-amz-date", "9aa113fa2990eec3931910b708e537ca6102a00d16f47cf281b538a1aeee2647")
                ),
            ]),
        request(
            "GET", "/2015-03-31/functions?FunctionVersion=ALL&MaxItems=10&Marker=abc",
            [
                ("X-Amz-Date", "20261128T143539Z"),
                (
                    "Authorization",
                    authorization("host;x-amz-date", "a41a77ee0c63c983dffbd5460239a2e351856051c51a41d3469b84ab062fdc01")
                ),
            ]),
        request(
            "GET", "/2015-03-31/functions/my-fn/configuration?Qualifier=%24LATEST",
            [
                ("X-Amz-Date", "20261128T143539Z"),
                (
                    "Authorization",
                    authorization("host;x-amz-date", "2671b67159e3c0ad8f2ef8a3c3b6c4d08c925c01cf549158e4cc5742b30244bc")
                ),
            ]),
        request(
            "POST", "/2015-03-31/functions/my-fn/invocations?Qualifier=prod",
            [
                ("X-Amz-Invocation-Type", "RequestResponse"), ("X-Amz-Log-Type", "Tail"),
                ("X-Amz-Client-Context", "eyJjdXN0b20iOnsiYSI6MX19"), ("X-Amz-Date", "20261128T143539Z"),
                (
                    "Authorization",
                    authorization(
                        "host;x-amz-client-context;x-amz-date;x-amz-invocation-type;x-amz-log-type",
                        "e8213e30c766b3c8a8c49257f708751290a6f729d6a415cfe2ef7cac77143387")
                ),
                ("Content-Length", "7"),
            ], body: #"{"x":1}"#),
        request(
            "DELETE",
            "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn?tagKeys=b%20key&tagKeys=a",
            [
                ("X-Amz-Date", "20261128T143539Z"),
                (
                    "Authorization",
                    authorization("host;x-amz-date", "0894edbbdbd7a22840ae6a1038c717295e63743235e4aa214c61065a8b4350e3")
                ),
                ("Content-Length", "0"),
            ]),
    ]

    @Test(arguments: 0..<5)
    func acceptsWhatBotocoreSigned(_ index: Int) throws {
        let identity = try Self.verifier.verify(Self.botocoreVectors[index], now: Self.signedAt)
        #expect(
            identity
                == .init(accessKeyId: "AKIDEXAMPLE", accountId: "123456789012", region: "us-east-1", service: "lambda"))
    }

    @Test func canonicalRequestDoubleEncodesThePathAndSortsTheQuery() {
        let canonical = SigV4Verifier.canonicalRequest(Self.botocoreVectors[4], signedHeaders: "host;x-amz-date")
        #expect(
            canonical == """
                DELETE
                /2017-03-31/tags/arn%253Aaws%253Alambda%253Aus-east-1%253A123456789012%253Afunction%253Amy-fn
                tagKeys=a&tagKeys=b%20key
                host:127.0.0.1:9001
                x-amz-date:20261128T143539Z

                host;x-amz-date
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                """)
        #expect(SigV4Verifier.canonicalURI("/a/./b/../c//d/") == "/a/c/d/")
        #expect(SigV4Verifier.canonicalURI("") == "/")
    }

    /// The AWS General Reference's `get-vanilla` example (service `service`, 2015-08-30T12:36:00Z).
    @Test func awsDocumentationGetVanilla() throws {
        let verifier = SigV4Verifier(
            credentials: [APICredential(accessKeyId: "AKIDEXAMPLE", secretAccessKey: Self.secret, accountId: "1")],
            service: "service")
        let request = SigV4Verifier.Request(
            method: "GET", target: "/",
            headers: [
                (name: "Host", value: "example.amazonaws.com"), (name: "X-Amz-Date", value: "20150830T123600Z"),
                (
                    name: "Authorization",
                    value: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                        + "SignedHeaders=host;x-amz-date, "
                        + "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                ),
            ], body: [])
        _ = try verifier.verify(request, now: Date(timeIntervalSince1970: 1_440_938_160))
    }

    @Test func sessionTokens() throws {
        let signed = Self.request(
            "GET", "/2015-03-31/functions/my-fn",
            [
                ("X-Amz-Date", "20261128T143539Z"), ("X-Amz-Security-Token", "session-token-example"),
                (
                    "Authorization",
                    Self.authorization(
                        "host;x-amz-date;x-amz-security-token",
                        "e0a147ad2afae450791be24e6f2d197b115ce1860f6f4302d6bb8664b5d14b75", key: "ASIATEMP")
                ),
            ])
        // botocore signed with AKIDEXAMPLE; the same secret under the temporary key id signs the same bytes except
        // the scope's key, which is not part of the string to sign, so the signature holds.
        #expect(try Self.verifier.verify(signed, now: Self.signedAt).accessKeyId == "ASIATEMP")
        var wrongToken = signed
        wrongToken.headers[2].value = "other-token"
        #expect(throws: SigV4Verifier.invalidToken) { try Self.verifier.verify(wrongToken, now: Self.signedAt) }
        // A token sent with a key that has none configured.
        var withToken = Self.botocoreVectors[0]
        withToken.headers.append((name: "X-Amz-Security-Token", value: "session-token-example"))
        #expect(throws: SigV4Verifier.invalidToken) { try Self.verifier.verify(withToken, now: Self.signedAt) }
    }

    @Test func rejectsWrongSignaturesKeysAndBodies() {
        var tampered = Self.botocoreVectors[3]
        tampered.body = Array(#"{"x":2}"#.utf8)
        #expect(throws: SigV4Verifier.mismatch) { try Self.verifier.verify(tampered, now: Self.signedAt) }
        var otherPath = Self.botocoreVectors[2]
        otherPath.target = "/2015-03-31/functions/my-fn/configuration?Qualifier=1"
        #expect(throws: SigV4Verifier.mismatch) { try Self.verifier.verify(otherPath, now: Self.signedAt) }
        let otherSecret = SigV4Verifier(
            credentials: [APICredential(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "nope", accountId: "1")])
        #expect(throws: SigV4Verifier.mismatch) { try otherSecret.verify(Self.botocoreVectors[0], now: Self.signedAt) }
        let unknown = SigV4Verifier(credentials: [])
        #expect(throws: SigV4Verifier.invalidToken) { try unknown.verify(Self.botocoreVectors[0], now: Self.signedAt) }
        #expect(SigV4Verifier.mismatch.type == "InvalidSignatureException" && SigV4Verifier.mismatch.status == 403)
        #expect(
            SigV4Verifier.mismatch.body
                == #"{"message":"The request signature we calculated does not match the signature you provided. "#
                + #"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}"#
        )
    }

    @Test func rejectsSkewBeyondFiveMinutes() throws {
        let request = Self.botocoreVectors[0]
        _ = try Self.verifier.verify(request, now: Self.signedAt.addingTimeInterval(299))
        _ = try Self.verifier.verify(request, now: Self.signedAt.addingTimeInterval(-299))
        let late = APIError.signature(
            "InvalidSignatureException", 403,
            "Signature expired: 20261128T143539Z is now earlier than 20261128T143540Z (20261128T144040Z - 5 min.)")
        #expect(throws: late) { try Self.verifier.verify(request, now: Self.signedAt.addingTimeInterval(301)) }
        let early = APIError.signature(
            "InvalidSignatureException", 403,
            "Signature not yet current: 20261128T143539Z is still later than 20261128T143538Z "
                + "(20261128T143038Z + 5 min.)")
        #expect(throws: early) { try Self.verifier.verify(request, now: Self.signedAt.addingTimeInterval(-301)) }
    }

    @Test func rejectsMissingAndMalformedAuthorization() {
        let missing = SigV4Verifier.Request(method: "GET", target: "/", headers: [(name: "Host", value: "h")], body: [])
        #expect(throws: APIError.signature("MissingAuthenticationTokenException", 403, "Missing Authentication Token"))
        {
            try Self.verifier.verify(missing, now: Self.signedAt)
        }
        var malformed = Self.botocoreVectors[0]
        malformed.headers[2].value = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/lambda/aws4_request"
        do {
            _ = try Self.verifier.verify(malformed, now: Self.signedAt)
            Issue.record("accepted")
        } catch {
            #expect(error.type == "IncompleteSignatureException" && error.status == 400)
        }
        var noHost = Self.botocoreVectors[0]
        noHost.headers[2].value = Self.authorization(
            "x-amz-date", "9aa113fa2990eec3931910b708e537ca6102a00d16f47cf281b538a1aeee2647")
        #expect(
            throws: APIError.signature(
                "InvalidSignatureException", 403, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
        ) { try Self.verifier.verify(noHost, now: Self.signedAt) }
        var noDate = Self.botocoreVectors[0]
        noDate.headers.remove(at: 1)
        do {
            _ = try Self.verifier.verify(noDate, now: Self.signedAt)
            Issue.record("accepted")
        } catch {
            #expect(error.type == "IncompleteSignatureException")
            #expect(error.message.hasPrefix("Authorization header requires existence of either a 'X-Amz-Date'"))
        }
    }

    @Test func parsesTheAuthorizationHeaderWithOrWithoutSpaces() {
        let parsed = SigV4Verifier.parseAuthorization(
            "AWS4-HMAC-SHA256 Credential=AK/20261128/eu-west-1/lambda/aws4_request,SignedHeaders=host;x-amz-date,"
                + "Signature=" + String(repeating: "a", count: 64))
        #expect(parsed?.region == "eu-west-1")
        #expect(parsed?.signedHeaders == "host;x-amz-date")
        #expect(SigV4Verifier.parseAuthorization("AWS4-HMAC-SHA256 Credential=AK/2026/x/y/aws4_request") == nil)
        #expect(SigV4Verifier.formatAmzDate(Self.signedAt) == "20261128T143539Z")
        #expect(SigV4Verifier.parseAmzDate("20261128T143539Z") == Self.signedAt)
    }
}
