import AlbatrossTestKit
import CodeStore
import Foundation
import InvocationModel
import LambdaModel
import NIOPosix
import Registry
import Testing

@testable import ControlAPI

/// The write operations' validation, shapes and "nothing stored on error", over a real registry in a temporary
/// directory (ControlAPIEndToEndTests runs them with boto3, the AWS CLI and real invokes).
@Suite(.serialized)
struct WriteOperationsTests {
    final class Fixture: Sendable {
        let directory: TemporaryDirectory
        let registry: Registry
        let threadPool: NIOThreadPool
        let api: ControlAPI
        let commits = Counter()

        final class Counter: @unchecked Sendable {
            private let lock = NSLock()
            private var count = 0
            func increment() { lock.withLock { count += 1 } }
            var value: Int { lock.withLock { count } }
        }

        init(declared: APIWriteHooks.Declared = APIWriteHooks.Declared()) throws {
            directory = try TemporaryDirectory()
            registry = try Registry(dataDirectory: directory.url("data"), account: AccountContext())
            threadPool = NIOThreadPool(numberOfThreads: 1)
            threadPool.start()
            let commits = self.commits
            api = ControlAPI(
                registry: registry, threadPool: threadPool, authentication: .none,
                invoke: { _ in throw InvocationError(.serviceError, "not used here") },
                hooks: APIWriteHooks(declared: { declared }, committed: { commits.increment() }))
        }

        func send(
            _ method: String, _ target: String, json: Any? = nil, raw: String? = nil
        ) async -> (
            ControlAPI.Response, [String: Any]
        ) {
            var body: [UInt8] = []
            if let raw { body = Array(raw.utf8) }
            if let json { body = [UInt8]((try? JSONSerialization.data(withJSONObject: json)) ?? Data()) }
            let response = await api.respond(
                to: ControlAPI.Request(
                    method: method, target: target, headers: [(name: "Host", value: "h:1")], body: body))
            let parsed = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
            return (response, parsed)
        }

        func close() async {
            try? await threadPool.shutdownGracefully()
            directory.remove()
        }
    }

    static func zip(_ files: [String: String]) throws -> Data {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for (name, content) in files { _ = try dir.write("code/\(name)", content) }
        return try DeterministicZip.pack(directory: dir.url("code"))
    }

    static func createBody(_ name: String, zip: Data, extra: [String: Any] = [:]) -> [String: Any] {
        var body: [String: Any] = [
            "FunctionName": name, "Runtime": "provided.al2023", "Role": "arn:aws:iam::123456789012:role/r",
            "Handler": "h", "Code": ["ZipFile": zip.base64EncodedString()],
        ]
        for (key, value) in extra { body[key] = value }
        return body
    }

    static func errorType(_ response: ControlAPI.Response) -> String? {
        response.headers.first { $0.name == "x-amzn-ErrorType" }?.value
    }

    @Test func createFunctionAnswersPendingAndStoresOnce() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        let zip = try Self.zip(["bootstrap": "#!/bin/sh\n"])
        let (response, json) = await fixture.send(
            "POST", "/2015-03-31/functions",
            json: Self.createBody("made", zip: zip, extra: ["TracingConfig": ["Mode": "Active"], "Tags": ["a": "b"]]))
        #expect(response.status == 201)
        #expect(json["FunctionArn"] as? String == "arn:aws:lambda:us-east-1:123456789012:function:made")
        #expect(json["State"] as? String == "Pending")
        #expect(json["StateReasonCode"] as? String == "Creating")
        #expect(json["LastUpdateStatus"] == nil)
        #expect((json["TracingConfig"] as? [String: String]) == ["Mode": "Active"])
        #expect(json["CodeSize"] as? Int == zip.count)
        #expect(fixture.commits.value == 1)
        let (got, gotJSON) = await fixture.send("GET", "/2015-03-31/functions/made")
        #expect(got.status == 200)
        #expect((gotJSON["Tags"] as? [String: String]) == ["a": "b"])
        let configuration = gotJSON["Configuration"] as? [String: Any] ?? [:]
        #expect(configuration["State"] as? String == "Active")
        #expect(configuration["LastUpdateStatus"] as? String == "Successful")
        let (again, againJSON) = await fixture.send(
            "POST", "/2015-03-31/functions", json: Self.createBody("made", zip: zip))
        #expect(again.status == 409)
        #expect(againJSON["message"] as? String == "Function already exist: made")
        #expect(fixture.commits.value == 1)
    }

    @Test func refusedRequestsStoreNothing() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        let zip = try Self.zip(["bootstrap": "#!/bin/sh\n"])
        let cases: [(body: [String: Any]?, raw: String?, type: String, message: String)] = [
            (nil, #"{"FunctionName":"#, "InvalidRequestContentException", "Could not parse request body into json: "),
            (nil, "[1]", "InvalidRequestContentException", "Could not parse request body into json: the body must be"),
            (
                Self.createBody("x", zip: zip, extra: ["Colour": "blue"]), nil, "InvalidRequestContentException",
                #"Could not parse request body into json: Unrecognized field "Colour""#
            ),
            (
                Self.createBody("x", zip: zip, extra: ["Timeout": "ten"]), nil, "InvalidRequestContentException",
                #"Could not parse request body into json: the member "Timeout" must be an integer"#
            ),
            (
                Self.createBody("x", zip: zip, extra: ["MemorySize": 64]), nil, "ValidationException",
                "1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: Member must "
                    + "have value greater than or equal to 128"
            ),
            (
                Self.createBody("x", zip: zip, extra: ["Role": "r1"]), nil, "ValidationException",
                "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy "
                    + "regular expression pattern: "
            ),
            (
                Self.createBody(String(repeating: "n", count: 65), zip: zip), nil, "InvalidParameterValueException",
                "1 validation error detected: Value '\(String(repeating: "n", count: 65))' at 'functionName' failed "
                    + "to satisfy constraint: Member must have length less than or equal to 64"
            ),
            (
                Self.createBody("x", zip: zip, extra: ["Runtime": "nodejs20.x"]), nil,
                "InvalidParameterValueException", "Value nodejs20.x at 'runtime' failed to satisfy constraint"
            ),
            (
                Self.createBody("x", zip: zip, extra: ["VpcConfig": ["SubnetIds": ["s"]]]), nil,
                "InvalidParameterValueException", "VpcConfig is not supported by Albatross"
            ),
            (
                Self.createBody("x", zip: Data("not a zip".utf8)), nil, "InvalidParameterValueException",
                "Could not unzip uploaded file. Please check your file, then try to upload again."
            ),
            (
                Self.createBody("x", zip: zip, extra: ["Environment": ["Variables": ["AWS_REGION": "x"]]]), nil,
                "InvalidParameterValueException", "Lambda was unable to configure your environment variables"
            ),
            (
                Self.createBody("x", zip: zip, extra: ["TracingConfig": ["Mode": "Always"]]), nil,
                "ValidationException",
                "1 validation error detected: Value 'Always' at 'tracingConfig.mode' failed to satisfy constraint: "
                    + "Member must satisfy enum value set: [Active, PassThrough]"
            ),
        ]
        for item in cases {
            let (response, json) = await fixture.send("POST", "/2015-03-31/functions", json: item.body, raw: item.raw)
            #expect(Self.errorType(response) == item.type, "\(item.message)")
            let message = json["message"] as? String ?? json["Message"] as? String ?? ""
            #expect(message.hasPrefix(item.message), "\(message)")
        }
        #expect(try fixture.registry.functions().isEmpty)
        #expect(fixture.commits.value == 0)
        // No package reached the code store either.
        let packages = try FileManager.default.contentsOfDirectory(atPath: fixture.registry.codeStoreDirectory)
        #expect(packages.filter { $0.hasSuffix(".zip") }.isEmpty, "\(packages)")
    }

    @Test func updatesKeepWhatTheyAreNotGiven() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        let zip = try Self.zip(["bootstrap": "#!/bin/sh\n"])
        _ = await fixture.send(
            "POST", "/2015-03-31/functions",
            json: Self.createBody("upd", zip: zip, extra: ["Environment": ["Variables": ["KEY": "v"]], "Timeout": 9]))
        let (response, json) = await fixture.send(
            "PUT", "/2015-03-31/functions/upd/configuration", json: ["MemorySize": 512])
        #expect(response.status == 200)
        #expect(json["LastUpdateStatus"] as? String == "InProgress")
        #expect(json["MemorySize"] as? Int == 512)
        #expect(json["Timeout"] as? Int == 9)
        #expect((json["Environment"] as? [String: Any])?["Variables"] as? [String: String] == ["KEY": "v"])
        let stale = await fixture.send(
            "PUT", "/2015-03-31/functions/upd/configuration", json: ["Timeout": 1, "RevisionId": "old"])
        #expect(stale.0.status == 412)
        let version = await fixture.send("PUT", "/2015-03-31/functions/upd:1/code", json: ["ZipFile": ""])
        #expect(version.1["message"] as? String == "Current operation does not support versions other than $LATEST")
        let latest = try fixture.registry.version(functionName: "upd", version: "$LATEST")
        #expect(latest.configuration.timeout == 9)
        #expect(latest.configuration.memorySize == 512)
    }

    @Test func declaredResourcesAreRefused() async throws {
        let fixture = try Fixture(
            declared: APIWriteHooks.Declared(
                file: "config.yaml", functions: ["yaml"], versions: ["yaml:1"], aliases: ["yaml:live"]))
        defer { Task { await fixture.close() } }
        let zip = try Self.zip(["bootstrap": "#!/bin/sh\n"])
        for (method, target) in [
            ("PUT", "/2015-03-31/functions/yaml/configuration"), ("DELETE", "/2015-03-31/functions/yaml"),
            ("DELETE", "/2015-03-31/functions/yaml?Qualifier=1"), ("PUT", "/2015-03-31/functions/yaml/aliases/live"),
            ("DELETE", "/2015-03-31/functions/yaml/aliases/live"),
        ] {
            let (response, json) = await fixture.send(method, target, json: [String: Any]())
            #expect(response.status == 409, "\(method) \(target)")
            #expect((json["message"] as? String)?.contains("config.yaml") == true, "\(json)")
        }
        let code = await fixture.send(
            "PUT", "/2015-03-31/functions/yaml/code", json: ["ZipFile": zip.base64EncodedString()])
        #expect(code.0.status == 409)
        #expect(fixture.commits.value == 0)
    }

    @Test func packageAndRequestLimits() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        // Over 50 MB zipped: refused before it is unpacked or stored (the registry's check, without the base64
        // and JSON of a 70 MB request, which the route's limit below covers).
        let big = Data(count: Registry.maximumZippedPackage + 1)
        let configuration = FunctionConfiguration(
            name: "big", runtime: Runtime(identifier: "provided.al2023")!, handler: "h", code: .zip("upload"))
        #expect {
            try fixture.registry.createFunction(configuration, upload: big)
        } throws: { error in
            (error as? RegistryError)?.message.hasPrefix("Zipped size must be smaller than 52428800 bytes") == true
        }
        // Over the request limit: AWS's 413 for the operation.
        let (tooLarge, tooLargeJSON) = await fixture.send(
            "POST", "/2015-03-31/functions", raw: String(repeating: " ", count: 70_167_212))
        #expect(tooLarge.status == 413)
        #expect(
            tooLargeJSON["Message"] as? String
                == "Request must be smaller than 70167211 bytes for the CreateFunction operation")
        #expect(try fixture.registry.functions().isEmpty)
    }

    @Test func requestBodyTypes() throws {
        let body = try RequestBody(
            Array(#"{"A":"s","B":3,"C":true,"D":{"E":1.5},"F":["x"],"G":null}"#.utf8),
            allowed: ["A", "B", "C", "D", "F", "G"])
        #expect(try body.string("A") == "s")
        #expect(try body.int("B") == 3)
        #expect(try body.bool("C") == true)
        #expect(try body.object("D", allowed: ["E"])?.has("E") == true)
        #expect(try body.strings("F") == ["x"])
        #expect(!body.has("G"))
        #expect(throws: APIError.self) { try body.int("A") }
        #expect(throws: APIError.self) { try body.object("D", allowed: []) }
        #expect(throws: APIError.self) { try RequestBody(Array("{}x".utf8), allowed: []) }
    }
}
