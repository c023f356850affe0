import ALBEvents
import NIOCore
import Testing

/// The response vectors RS1–RS11 of alb-lambda.md §6 and the validation rules of §2 / §7 item 5.
@Suite struct ResultVectorTests {
    static func decode(
        _ json: String, multi: Bool = false, order: MultiValueOrder = .standard, seed: UInt64 = 7
    ) throws(ALBRejection) -> ALBResponse {
        var random = SeededGenerator(seed: seed)
        return try ALBResultDecoder.decode(
            ByteBuffer(string: json), multiValueHeaders: multi, order: order, random: &random,
            allocator: ByteBufferAllocator())
    }

    static func rejection(_ json: String, multi: Bool = false) -> ALBRejection? {
        do {
            _ = try decode(json, multi: multi)
            return nil
        } catch {
            return error
        }
    }

    static func pairs(_ response: ALBResponse) -> [String] {
        response.headers.map { "\($0.name): \($0.value)" }
    }

    @Test func rs1SingleValueStandard() throws {
        let response = try Self.decode(
            #"{"isBase64Encoded":false,"statusCode":200,"statusDescription":"200 OK","#
                + #""headers":{"Set-cookie":"cookies","Content-Type":"application/json"},"#
                + #""body":"Hello from Lambda (optional)"}"#
        )
        #expect(response.status == 200)
        #expect(response.reasonPhrase == "OK")
        #expect(Self.pairs(response) == ["Set-cookie: cookies", "Content-Type: application/json"])
        #expect(String(buffer: response.body) == "Hello from Lambda (optional)")
        #expect(response.body.readableBytes == 28)
    }

    static let rs2 =
        #"{"isBase64Encoded":false,"statusCode":200,"statusDescription":"200 OK","#
        + #""multiValueHeaders":{"Set-cookie":["cookie-name=cookie-value;Domain=myweb.com;Secure;HttpOnly","#
        + #""cookie-name=cookie-value;Expires=May 8, 2019"],"Content-Type":["application/json"]},"body":""}"#

    @Test(arguments: [
        (
            MultiValueOrder.reverse,
            [
                "cookie-name=cookie-value;Expires=May 8, 2019",
                "cookie-name=cookie-value;Domain=myweb.com;Secure;HttpOnly",
            ]
        ),
        (
            .preserve,
            [
                "cookie-name=cookie-value;Domain=myweb.com;Secure;HttpOnly",
                "cookie-name=cookie-value;Expires=May 8, 2019",
            ]
        ),
    ])
    func rs2MultiValueCookies(order: MultiValueOrder, cookies: [String]) throws {
        let response = try Self.decode(Self.rs2, multi: true, order: order)
        #expect(response.status == 200)
        #expect(response.headers.filter { $0.name == "Set-cookie" }.map(\.value) == cookies)
        #expect(response.headers.filter { $0.name == "Content-Type" }.map(\.value) == ["application/json"])
        #expect(response.body.readableBytes == 0)
    }

    @Test func rs2ShuffleIsAPermutationDrivenByTheGenerator() throws {
        let values = (0..<12).map { "\"v\($0)\"" }.joined(separator: ",")
        let json = #"{"statusCode":200,"multiValueHeaders":{"x-v":[\#(values)]}}"#
        var orders = Set<[String]>()
        for seed in 0..<8 as Range<UInt64> {
            let response = try Self.decode(json, multi: true, order: .shuffle, seed: seed)
            let got = response.headers.filter { $0.name == "x-v" }.map(\.value)
            #expect(got.sorted() == (0..<12).map { "v\($0)" }.sorted())
            orders.insert(got)
            let again = try Self.decode(json, multi: true, order: .shuffle, seed: seed)
            #expect(again.headers.map(\.value) == response.headers.map(\.value))
        }
        #expect(orders.count > 1)
    }

    @Test(arguments: [false, true])
    func rs3Binary(multi: Bool) throws {
        let headers =
            multi ? #""multiValueHeaders":{"Content-Type":["image/gif"]}"# : #""headers":{"Content-Type":"image/gif"}"#
        let response = try Self.decode(
            #"{"statusCode":200,"isBase64Encoded":true,\#(headers),"#
                + #""body":"R0lGODdhAQABAIABAP8AAAAAACwAAAAAAQABAAACAkQBADs="}"#,
            multi: multi)
        #expect(response.body.readableBytes == 35)
        #expect(response.body.getString(at: response.body.readerIndex, length: 6) == "GIF87a")
        #expect(Self.pairs(response) == ["Content-Type: image/gif"])
    }

    @Test(arguments: [false, true])
    func rs4Minimal(multi: Bool) throws {
        let response = try Self.decode(#"{"statusCode": 200}"#, multi: multi)
        #expect(response.status == 200)
        #expect(response.reasonPhrase == "OK")
        #expect(response.body.readableBytes == 0)
        #expect(Self.pairs(response) == ["Content-Type: application/octet-stream"])
    }

    @Test(arguments: [
        (#"{"statusCode":200,"body":null}"#, false),
        (#"{"statusCode":200,"body":null}"#, true),
        (#"{"statusCode":301,"statusDescription":null,"headers":{"Location":"/x"}}"#, false),
        (#"{"statusCode":200,"headers":null}"#, false),
        (#"{"statusCode":200,"multiValueHeaders":null}"#, true),
        (#"{"statusCode":200,"isBase64Encoded":null}"#, false),
        (#"{"statusCode":null}"#, false),
    ])
    func rs5NullsAre502(json: String, multi: Bool) {
        let rejection = Self.rejection(json, multi: multi)
        #expect(rejection?.status == 502)
        #expect(rejection?.reason == "LambdaInvalidResponse")
    }

    @Test(arguments: [
        (#"{"statusCode":"200"}"#, false),
        (#"{"statusCode":200,"headers":{"Content-Length":5}}"#, false),
        (#"{"statusCode":200,"headers":{"Access-Control-Allow-Credentials":true}}"#, false),
        (#"{"statusCode":200,"multiValueHeaders":{"X":"a"}}"#, true),
        (#"{"statusCode":200,"multiValueHeaders":{"X":["a",1]}}"#, true),
        (#"{"statusCode":200,"multiValueHeaders":{"X":["a",null]}}"#, true),
        (#"{"statusCode":200,"multiValueHeaders":["X"]}"#, true),
        (#"{"statusCode":200,"headers":"X: y"}"#, false),
        (#"{"statusCode":200,"headers":{"X":["a"]}}"#, false),
        (#"{"statusCode":200,"body":5}"#, false),
        (#"{"statusCode":200,"body":{"a":1}}"#, false),
        (#"{"statusCode":200,"isBase64Encoded":"true"}"#, false),
        (#"{"statusCode":200,"isBase64Encoded":1}"#, false),
        (#"{"statusCode":200,"statusDescription":200}"#, false),
        (#"{"statusCode":200.0}"#, false),
        (#"{"statusCode":2e2}"#, false),
        (#"{"statusCode":true}"#, false),
        (#"{"statusCode":99}"#, false),
        (#"{"statusCode":100}"#, false),
        (#"{"statusCode":199}"#, false),
        (#"{"statusCode":600}"#, false),
        (#"{"statusCode":-200}"#, false),
        (#"{"statusCode":99999999999999999999999}"#, false),
    ])
    func rs6WrongTypesAre502(json: String, multi: Bool) {
        let rejection = Self.rejection(json, multi: multi)
        #expect(rejection?.status == 502, "\(json)")
        #expect(rejection?.reason == "LambdaInvalidResponse")
        #expect(rejection.map { !$0.message.isEmpty } == true)
    }

    @Test(arguments: [200, 204, 301, 404, 418, 451, 500, 599])
    func validStatusCodesPassThrough(status: Int) throws {
        let response = try Self.decode(#"{"statusCode":\#(status)}"#)
        #expect(response.status == status)
        #expect(response.reasonPhrase == HTTPReasonPhrase.phrase(for: status))
    }

    @Test func rs7WrongHeaderFieldForTheModeIsIgnored() throws {
        let multiMode = try Self.decode(
            #"{"statusCode":200,"headers":{"Content-Type":"text/html"},"body":"<p>x</p>"}"#, multi: true)
        #expect(String(buffer: multiMode.body) == "<p>x</p>")
        #expect(Self.pairs(multiMode) == ["Content-Type: application/octet-stream"])
        let singleMode = try Self.decode(
            #"{"statusCode":200,"multiValueHeaders":{"Content-Type":["text/html"]},"body":"<p>x</p>"}"#, multi: false)
        #expect(Self.pairs(singleMode) == ["Content-Type: application/octet-stream"])
        // The other mode's field is ignored even when null or of the wrong type.
        #expect(throws: Never.self) { try Self.decode(#"{"statusCode":200,"multiValueHeaders":null}"#, multi: false) }
        #expect(throws: Never.self) { try Self.decode(#"{"statusCode":200,"headers":null}"#, multi: true) }
        #expect(throws: Never.self) { try Self.decode(#"{"statusCode":200,"headers":{"a":1}}"#, multi: true) }
    }

    @Test(arguments: [
        #""hello""#, "[1,2]", "{}", "hello", "", "null", "200", #"{"statusCode":200"#, #"{"statusCode":200} x"#,
        #"{"statusCode":200,}"#, "{\"statusCode\":200,\"body\":\"\u{1}\"}",
    ])
    func rs8NonObjectOrInvalidJSON(json: String) {
        for multi in [false, true] {
            let rejection = Self.rejection(json, multi: multi)
            #expect(rejection?.status == 502, "\(json)")
            #expect(rejection?.reason == "LambdaInvalidResponse")
        }
    }

    @Test func rs10Oversize() throws {
        let big = String(repeating: "a", count: 1_100_000)
        let rejection = Self.rejection(#"{"statusCode":200,"body":"\#(big)"}"#)
        #expect(rejection?.status == 502)
        #expect(rejection?.reason == "LambdaResponseTooLarge")
        // A base64 body whose JSON goes over 1 MiB although the payload is only ~790 KB.
        let payload = [UInt8](repeating: 0xAB, count: 790_000)
        let encoded = ALBBase64.encode(payload)
        let overhead = #"{"statusCode":200,"isBase64Encoded":true,"body":""}"#.utf8.count
        #expect(encoded.utf8.count + overhead > 1_048_576)
        #expect(
            Self.rejection(#"{"statusCode":200,"isBase64Encoded":true,"body":"\#(encoded)"}"#)?.reason
                == "LambdaResponseTooLarge")
        // Exactly 1 MiB of JSON is accepted.
        let prefix = #"{"statusCode":200,"body":""#
        let fill = String(repeating: "b", count: 1_048_576 - prefix.utf8.count - 2)
        let atLimit = try Self.decode(prefix + fill + "\"}")
        #expect(atLimit.body.readableBytes == fill.utf8.count)
    }

    @Test func rs11UnknownTopLevelKeysIgnored() throws {
        let response = try Self.decode(
            #"{"statusCode":200,"cookies":["a=1"],"content-type":"text/plain","#
                + #""multiValueHeaders":{"x-set-cookie":["a=1","a=2"]},"body":"{}"}"#,
            multi: true)
        #expect(response.status == 200)
        #expect(response.headers.filter { $0.name == "x-set-cookie" }.map(\.value) == ["a=2", "a=1"])
        #expect(!response.headers.contains { $0.name.lowercased() == "set-cookie" })
        #expect(String(buffer: response.body) == "{}")
    }
}
