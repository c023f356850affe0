import AlbatrossTestKit
import Foundation
import InvocationModel
import LambdaModel
import NIOPosix
import Registry
import Testing

@testable import ControlAPI

/// The read operations' JSON shapes and errors, over a real registry in a temporary directory (the invoke path
/// runs for real in ControlAPIEndToEndTests).
@Suite(.serialized)
struct OperationsTests {
    final class Fixture: Sendable {
        let directory: TemporaryDirectory
        let registry: Registry
        let threadPool: NIOThreadPool
        let api: ControlAPI

        init(functions: Int = 1) throws {
            directory = try TemporaryDirectory()
            registry = try Registry(dataDirectory: directory.url("data"), account: AccountContext())
            for index in 0..<functions {
                let name = index == 0 ? "shop" : "fn-\(String(format: "%02d", index))"
                let code = try TestFunctions.writeBash(in: directory, name: name, handler: "echo '{}'")
                _ = try registry.putLatest(
                    FunctionConfiguration(
                        name: name, runtime: Runtime(identifier: "provided.al2023")!, handler: "h",
                        code: .directory(code), memorySize: 256, timeout: 7,
                        environment: [EnvironmentVariable(name: "MODE", value: "test")]),
                    description: index == 0 ? "the shop" : "")
            }
            _ = try registry.publishVersion(functionName: "shop")
            _ = try registry.createAlias(
                functionName: "shop", name: "live",
                routing: AliasRouting(primaryVersion: "1", additionalVersion: nil), description: "")
            threadPool = NIOThreadPool(numberOfThreads: 1)
            threadPool.start()
            api = ControlAPI(
                registry: registry, threadPool: threadPool, authentication: .none,
                invoke: { _ in throw InvocationError(.serviceError, "not used here") })
        }

        func get(_ target: String) async -> (ControlAPI.Response, [String: Any]) {
            let response = await api.respond(
                to: ControlAPI.Request(method: "GET", target: target, headers: [(name: "Host", value: "h:1")], body: [])
            )
            let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
            return (response, json)
        }

        func close() async {
            try? await threadPool.shutdownGracefully()
            directory.remove()
        }
    }

    static func header(_ response: ControlAPI.Response, _ name: String) -> String? {
        response.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    @Test func getFunctionConfigurationHasAWSsFields() async throws {
        let fixture = try Fixture()
        let (response, json) = await fixture.get("/2015-03-31/functions/shop/configuration")
        #expect(response.status == 200)
        #expect(Self.header(response, "x-amzn-RequestId")?.count == 36)
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:shop"
        #expect(json["FunctionName"] as? String == "shop")
        #expect(json["FunctionArn"] as? String == arn)
        #expect(json["Version"] as? String == "$LATEST")
        #expect(json["Runtime"] as? String == "provided.al2023")
        #expect(json["MemorySize"] as? Int == 256)
        #expect(json["Timeout"] as? Int == 7)
        #expect(json["Description"] as? String == "the shop")
        #expect(json["State"] as? String == "Active")
        #expect(json["LastUpdateStatus"] as? String == "Successful")
        #expect(json["PackageType"] as? String == "Zip")
        #expect((json["CodeSha256"] as? String)?.count == 44)
        #expect((json["RevisionId"] as? String)?.count == 36)
        #expect((json["Environment"] as? [String: Any])?["Variables"] as? [String: String] == ["MODE": "test"])
        #expect((json["TracingConfig"] as? [String: String]) == ["Mode": "PassThrough"])
        #expect((json["LoggingConfig"] as? [String: String])?["LogGroup"] == "/aws/lambda/shop")
        let lastModified = try #require(json["LastModified"] as? String)
        #expect(lastModified.hasSuffix("+0000") && lastModified.count == 28)
        #expect(json["RuntimeVersionConfig"] != nil)

        let (_, latest) = await fixture.get("/2015-03-31/functions/shop/configuration?Qualifier=%24LATEST")
        #expect(latest["FunctionArn"] as? String == arn + ":$LATEST")
        let (_, version) = await fixture.get("/2015-03-31/functions/shop:1/configuration")
        #expect(version["FunctionArn"] as? String == arn + ":1")
        #expect(version["Version"] as? String == "1")
        let (_, alias) = await fixture.get("/2015-03-31/functions/shop/configuration?Qualifier=live")
        #expect(alias["FunctionArn"] as? String == arn + ":live")
        #expect(alias["Version"] as? String == "1")
        await fixture.close()
    }

    @Test func getFunctionHasCodeLocationThatServesTheZip() async throws {
        let fixture = try Fixture()
        let (response, json) = await fixture.get("/2015-03-31/functions/shop")
        #expect(response.status == 200)
        let code = try #require(json["Code"] as? [String: String])
        #expect(code["RepositoryType"] == "S3")
        let location = try #require(code["Location"])
        #expect(location.hasPrefix("http://h:1/albatross/code/"))
        let target = String(location.dropFirst("http://h:1".count))
        let (zip, _) = await fixture.get(target)
        #expect(zip.status == 200)
        #expect(Array(zip.body.prefix(2)) == [0x50, 0x4b])
        let (forged, _) = await fixture.get(target.replacingOccurrences(of: "Expires=", with: "Expires=1"))
        #expect(forged.status == 403)
        await fixture.close()
    }

    @Test func notFoundMessagesNameTheARN() async throws {
        let fixture = try Fixture()
        let arn = "arn:aws:lambda:us-east-1:123456789012:function"
        let cases: [(String, String)] = [
            ("/2015-03-31/functions/nope", "Function not found: \(arn):nope"),
            ("/2015-03-31/functions/shop?Qualifier=9", "Function not found: \(arn):shop:9"),
            ("/2015-03-31/functions/shop/configuration?Qualifier=dark", "Function not found: \(arn):shop:dark"),
            ("/2015-03-31/functions/shop/aliases/dark", "Cannot find alias arn: \(arn):shop:dark"),
        ]
        for (target, message) in cases {
            let (response, json) = await fixture.get(target)
            #expect(response.status == 404, "\(target)")
            #expect(Self.header(response, "x-amzn-ErrorType") == "ResourceNotFoundException")
            #expect(json["Type"] as? String == "User")
            #expect(json["Message"] as? String == message)
        }
        let (unknown, body) = await fixture.get("/2015-03-31/nothing")
        #expect(unknown.status == 404)
        #expect(Self.header(unknown, "x-amzn-ErrorType") == "UnknownOperationException")
        #expect(body["message"] != nil)
        await fixture.close()
    }

    @Test func listFunctionsPages() async throws {
        let fixture = try Fixture(functions: 7)
        var names: [String] = []
        var marker: String?
        var pages = 0
        repeat {
            let query =
                "MaxItems=3"
                + (marker.map { "&Marker=" + $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! } ?? "")
            let (response, json) = await fixture.get("/2015-03-31/functions/?\(query)")
            #expect(response.status == 200)
            let functions = try #require(json["Functions"] as? [[String: Any]])
            #expect(functions.count <= 3)
            #expect(functions.allSatisfy { $0["State"] == nil && $0["LastUpdateStatus"] == nil })
            names += functions.compactMap { $0["FunctionName"] as? String }
            marker = json["NextMarker"] as? String
            pages += 1
        } while marker != nil && pages < 10
        #expect(names == ["fn-01", "fn-02", "fn-03", "fn-04", "fn-05", "fn-06", "shop"])
        #expect(pages == 3)
        let (_, all) = await fixture.get("/2015-03-31/functions/?FunctionVersion=ALL")
        let arns = (all["Functions"] as? [[String: Any]])?.compactMap { $0["FunctionArn"] as? String } ?? []
        #expect(arns.count == 8)
        #expect(arns.suffix(2).map { $0.hasSuffix("shop:$LATEST") || $0.hasSuffix("shop:1") } == [true, true])
        let (bad, badJSON) = await fixture.get("/2015-03-31/functions/?FunctionVersion=SOME")
        #expect(bad.status == 400)
        #expect(
            badJSON["message"] as? String
                == "1 validation error detected: Value 'SOME' at 'functionVersion' failed to satisfy constraint: "
                + "Member must satisfy enum value set: [ALL]")
        let (zero, _) = await fixture.get("/2015-03-31/functions/?MaxItems=0")
        #expect(zero.status == 400)
        await fixture.close()
    }

    @Test func versionsAliasesAndAccountSettings() async throws {
        let fixture = try Fixture()
        let (_, versions) = await fixture.get("/2015-03-31/functions/shop/versions")
        let list = try #require(versions["Versions"] as? [[String: Any]])
        #expect(list.map { $0["Version"] as? String } == ["$LATEST", "1"])
        #expect(list.map { $0["FunctionArn"] as? String }.allSatisfy { $0?.contains("shop:") == true })
        let (_, alias) = await fixture.get("/2015-03-31/functions/shop/aliases/live")
        #expect(alias["AliasArn"] as? String == "arn:aws:lambda:us-east-1:123456789012:function:shop:live")
        #expect(alias["FunctionVersion"] as? String == "1")
        #expect(alias["Description"] as? String == "")
        #expect(alias["RoutingConfig"] == nil)
        let (_, aliases) = await fixture.get("/2015-03-31/functions/shop/aliases?FunctionVersion=2")
        #expect((aliases["Aliases"] as? [Any])?.count == 0)
        let (_, settings) = await fixture.get("/2016-08-19/account-settings/")
        #expect((settings["AccountUsage"] as? [String: Int])?["FunctionCount"] == 1)
        #expect((settings["AccountLimit"] as? [String: Int])?["ConcurrentExecutions"] == 1000)
        await fixture.close()
    }

    @Test func shapesSerialiseInAWSsOrder() async throws {
        let fixture = try Fixture()
        var latest = try fixture.registry.version(functionName: "shop", version: "$LATEST").configuration
        latest.memorySize = 512
        _ = try fixture.registry.putLatest(latest)
        _ = try fixture.registry.publishVersion(functionName: "shop")
        let alias = try fixture.registry.createAlias(
            functionName: "shop", name: "canary",
            routing: AliasRouting(primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.25))
        #expect(
            Shapes.alias(alias).serialized
                == #"{"AliasArn":"arn:aws:lambda:us-east-1:123456789012:function:shop:canary","Name":"canary","#
                + #""FunctionVersion":"1","Description":"","RoutingConfig":{"AdditionalVersionWeights":{"2":0.25}},"#
                + #""RevisionId":"\#(alias.revisionId)"}"#)
        await fixture.close()
        #expect(
            APIError.resourceNotFound("Function not found: x").body
                == #"{"Type":"User","Message":"Function not found: x"}"#)
        #expect(APIError.invalidParameter("m").body == #"{"Type":"User","message":"m"}"#)
        #expect(JSONValue.string("a\"\n\u{1}").serialized == #""a\"\n\u0001""#)
    }
}
