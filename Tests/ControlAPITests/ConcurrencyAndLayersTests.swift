import AlbatrossTestKit
import CodeStore
import Foundation
import InvocationModel
import LambdaModel
import NIOConcurrencyHelpers
import NIOPosix
import Registry
import Testing

@testable import ControlAPI

/// Reserved and provisioned concurrency and layers through the API, over a real registry in a temporary
/// directory: AWS's shapes, statuses and errors, the configuration's declarations refused with 409, and nothing
/// stored by a refused request (ControlAPIEndToEndTests runs them with boto3 and the AWS CLI on a real server).
@Suite(.serialized)
struct ConcurrencyAndLayersTests {
    final class Fixture: Sendable {
        let directory: TemporaryDirectory
        let registry: Registry
        let threadPool: NIOThreadPool
        let api: ControlAPI
        let commits = NIOLockedValueBox(0)
        /// What the pools report, by `function:version`.
        let pools = NIOLockedValueBox<[String: APIWriteHooks.ProvisionedCounts]>([:])
        /// What the configuration declares (set after the fixture made its functions through the API).
        let declared = NIOLockedValueBox(APIWriteHooks.Declared())

        init() throws {
            directory = try TemporaryDirectory()
            registry = try Registry(dataDirectory: directory.url("data"), account: AccountContext())
            threadPool = NIOThreadPool(numberOfThreads: 1)
            threadPool.start()
            let (commits, pools, declared) = (self.commits, self.pools, self.declared)
            api = ControlAPI(
                registry: registry, threadPool: threadPool, authentication: .none,
                invoke: { _ in throw InvocationError(.serviceError, "not used here") },
                hooks: APIWriteHooks(
                    declared: { declared.withLockedValue { $0 } }, committed: { commits.withLockedValue { $0 += 1 } },
                    accountConcurrency: AccountConcurrency(limit: 1000, minimumUnreserved: 100),
                    provisionedCounts: { function, version in pools.withLockedValue { $0["\(function):\(version)"] } }))
        }

        func send(_ method: String, _ target: String, json: Any? = nil) async -> (ControlAPI.Response, [String: Any]) {
            var body: [UInt8] = []
            if let json { body = [UInt8]((try? JSONSerialization.data(withJSONObject: json)) ?? Data()) }
            let response = await api.respond(
                to: ControlAPI.Request(
                    method: method, target: target, headers: [(name: "Host", value: "h:1")], body: body))
            let parsed = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
            return (response, parsed)
        }

        /// A function `name` with versions 1 and 2 and aliases `live` (→ 1) and `edge` (→ $LATEST).
        func makeFunction(_ name: String) async throws {
            let zip = try ConcurrencyAndLayersTests.zip(["bootstrap": "#!/bin/sh\n"])
            #expect(await send("POST", "/2015-03-31/functions", json: Self.createBody(name, zip: zip)).0.status == 201)
            #expect(await send("POST", "/2015-03-31/functions/\(name)/versions", json: [:]).0.status == 201)
            #expect(
                await send("PUT", "/2015-03-31/functions/\(name)/configuration", json: ["Timeout": 7]).0.status == 200)
            #expect(await send("POST", "/2015-03-31/functions/\(name)/versions", json: [:]).0.status == 201)
            for (alias, version) in [("live", "1"), ("edge", "$LATEST")] {
                let created = await send(
                    "POST", "/2015-03-31/functions/\(name)/aliases", json: ["Name": alias, "FunctionVersion": version])
                #expect(created.0.status == 201)
            }
        }

        static func createBody(_ name: String, zip: Data, extra: [String: Any] = [:]) -> [String: Any] {
            var body: [String: Any] = [
                "FunctionName": name, "Runtime": "provided.al2023", "Role": "arn:aws:iam::123456789012:role/r",
                "Handler": "h", "Code": ["ZipFile": zip.base64EncodedString()],
            ]
            for (key, value) in extra { body[key] = value }
            return body
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

    static func errorType(_ response: ControlAPI.Response) -> String? {
        response.headers.first { $0.name == "x-amzn-ErrorType" }?.value
    }

    static func message(_ json: [String: Any]) -> String {
        (json["message"] as? String) ?? (json["Message"] as? String) ?? ""
    }

    static let arn = "arn:aws:lambda:us-east-1:123456789012:function"

    @Test func reservedConcurrencyPutGetDeleteAndTheAccountsUnreservedMinimum() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        try await fixture.makeFunction("fn")
        try await fixture.makeFunction("other")
        let before = fixture.commits.withLockedValue { $0 }
        let (put, putJSON) = await fixture.send(
            "PUT", "/2017-10-31/functions/fn/concurrency", json: ["ReservedConcurrentExecutions": 600])
        #expect(put.status == 200)
        #expect(putJSON as? [String: Int] == ["ReservedConcurrentExecutions": 600])
        #expect(fixture.commits.withLockedValue { $0 } == before + 1)
        let (got, gotJSON) = await fixture.send("GET", "/2019-09-30/functions/fn/concurrency")
        #expect(got.status == 200)
        #expect(gotJSON as? [String: Int] == ["ReservedConcurrentExecutions": 600])
        let function = await fixture.send("GET", "/2015-03-31/functions/fn").1
        #expect(function["Concurrency"] as? [String: Int] == ["ReservedConcurrentExecutions": 600])
        let settings = await fixture.send("GET", "/2016-08-19/account-settings").1
        let limit = settings["AccountLimit"] as? [String: Any] ?? [:]
        #expect(limit["ConcurrentExecutions"] as? Int == 1000)
        #expect(limit["UnreservedConcurrentExecutions"] as? Int == 400)

        // 600 + 301 leaves 99 unreserved: AWS's refusal, and nothing stored.
        let (over, overJSON) = await fixture.send(
            "PUT", "/2017-10-31/functions/other/concurrency", json: ["ReservedConcurrentExecutions": 301])
        #expect(over.status == 400)
        #expect(Self.errorType(over) == "InvalidParameterValueException")
        #expect(
            Self.message(overJSON)
                == "Specified ReservedConcurrentExecutions for function decreases account's "
                + "UnreservedConcurrentExecution below its minimum value of [100].")
        #expect(await fixture.send("GET", "/2019-09-30/functions/other/concurrency").1.isEmpty)
        #expect(
            await fixture.send(
                "PUT", "/2017-10-31/functions/other/concurrency", json: ["ReservedConcurrentExecutions": 300]
            ).0.status == 200)

        let (qualified, qualifiedJSON) = await fixture.send(
            "PUT", "/2017-10-31/functions/fn:live/concurrency", json: ["ReservedConcurrentExecutions": 1])
        #expect(qualified.status == 400)
        #expect(Self.message(qualifiedJSON).hasPrefix("This operation is permitted on Lambda functions only."))
        let (missing, missingJSON) = await fixture.send(
            "PUT", "/2017-10-31/functions/nope/concurrency", json: ["ReservedConcurrentExecutions": 1])
        #expect(missing.status == 404)
        #expect(Self.message(missingJSON) == "Function not found: \(Self.arn):nope:$LATEST")
        let (negative, negativeJSON) = await fixture.send(
            "PUT", "/2017-10-31/functions/fn/concurrency", json: ["ReservedConcurrentExecutions": -1])
        #expect(Self.errorType(negative) == "ValidationException")
        #expect(Self.message(negativeJSON).contains("at 'reservedConcurrentExecutions'"))

        let (deleted, _) = await fixture.send("DELETE", "/2017-10-31/functions/fn/concurrency")
        #expect(deleted.status == 204)
        #expect(await fixture.send("GET", "/2019-09-30/functions/fn/concurrency").1.isEmpty)
        #expect(await fixture.send("GET", "/2015-03-31/functions/fn").1["Concurrency"] == nil)
    }

    @Test func provisionedConcurrencyFollowsAWSRulesAndReportsThePoolsState() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        try await fixture.makeFunction("fn")
        let path = "/2019-09-30/functions/fn/provisioned-concurrency"
        let (latest, latestJSON) = await fixture.send(
            "PUT", "\(path)?Qualifier=%24LATEST", json: ["ProvisionedConcurrentExecutions": 1])
        #expect(latest.status == 400)
        #expect(
            Self.message(latestJSON)
                == "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        let (overLatest, _) = await fixture.send(
            "PUT", "\(path)?Qualifier=edge", json: ["ProvisionedConcurrentExecutions": 1])
        #expect(overLatest.status == 400)
        let (zero, zeroJSON) = await fixture.send(
            "PUT", "\(path)?Qualifier=1", json: ["ProvisionedConcurrentExecutions": 0])
        #expect(Self.errorType(zero) == "ValidationException")
        #expect(Self.message(zeroJSON).contains("Member must have value greater than or equal to 1"))
        let (noVersion, noVersionJSON) = await fixture.send(
            "PUT", "\(path)?Qualifier=9", json: ["ProvisionedConcurrentExecutions": 1])
        #expect(noVersion.status == 404)
        #expect(Self.message(noVersionJSON) == "Function not found: \(Self.arn):fn:9")
        let (noAlias, noAliasJSON) = await fixture.send(
            "PUT", "\(path)?Qualifier=gone", json: ["ProvisionedConcurrentExecutions": 1])
        #expect(noAlias.status == 404)
        #expect(Self.message(noAliasJSON) == "Cannot find alias arn: \(Self.arn):fn:gone")

        let (put, putJSON) = await fixture.send(
            "PUT", "\(path)?Qualifier=1", json: ["ProvisionedConcurrentExecutions": 2])
        #expect(put.status == 202)
        #expect(putJSON["RequestedProvisionedConcurrentExecutions"] as? Int == 2)
        #expect(putJSON["AllocatedProvisionedConcurrentExecutions"] as? Int == 0)
        #expect(putJSON["Status"] as? String == "IN_PROGRESS")
        let lastModified = putJSON["LastModified"] as? String ?? ""
        #expect(lastModified.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000/) != nil, "\(lastModified)")

        // The alias over the provisioned version, and a second version through the same alias.
        let (aliasOver, aliasOverJSON) = await fixture.send(
            "PUT", "\(path)?Qualifier=live", json: ["ProvisionedConcurrentExecutions": 1])
        #expect(aliasOver.status == 409)
        #expect(
            Self.message(aliasOverJSON)
                == "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")

        // Get: IN_PROGRESS while the pool has fewer ready environments than asked, READY after.
        fixture.pools.withLockedValue { $0["fn:1"] = .init(requested: 2, allocated: 2, available: 1) }
        let (progress, progressJSON) = await fixture.send("GET", "\(path)?Qualifier=1")
        #expect(progress.status == 200)
        #expect(progressJSON["Status"] as? String == "IN_PROGRESS")
        #expect(progressJSON["AvailableProvisionedConcurrentExecutions"] as? Int == 1)
        fixture.pools.withLockedValue { $0["fn:1"] = .init(requested: 2, allocated: 2, available: 2) }
        let ready = await fixture.send("GET", "\(path)?Qualifier=1").1
        #expect(ready["Status"] as? String == "READY")
        #expect(ready["AllocatedProvisionedConcurrentExecutions"] as? Int == 2)
        #expect(ready["LastModified"] as? String == lastModified)

        let (list, listJSON) = await fixture.send("GET", "\(path)?List=ALL")
        #expect(list.status == 200)
        let configs = listJSON["ProvisionedConcurrencyConfigs"] as? [[String: Any]] ?? []
        #expect(configs.map { $0["FunctionArn"] as? String } == ["\(Self.arn):fn:1"])

        // The reservation must hold the provisioned environments, both ways.
        let (small, _) = await fixture.send(
            "PUT", "/2017-10-31/functions/fn/concurrency", json: ["ReservedConcurrentExecutions": 1])
        #expect(small.status == 400)
        #expect(
            await fixture.send(
                "PUT", "/2017-10-31/functions/fn/concurrency", json: ["ReservedConcurrentExecutions": 3]
            ).0.status == 200)
        let (beyond, beyondJSON) = await fixture.send(
            "PUT", "\(path)?Qualifier=2", json: ["ProvisionedConcurrentExecutions": 2])
        #expect(beyond.status == 400)
        #expect(
            Self.message(beyondJSON).hasPrefix(
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution"))

        for qualifier in ["%24LATEST"] {
            let (got, gotJSON) = await fixture.send("GET", "\(path)?Qualifier=\(qualifier)")
            #expect(got.status == 400)
            #expect(
                Self.message(gotJSON) == "The function resource provided must be an alias or a published version.")
        }
        let (none, _) = await fixture.send("GET", "\(path)?Qualifier=live")
        #expect(none.status == 404)
        #expect(Self.errorType(none) == "ProvisionedConcurrencyConfigNotFoundException")
        #expect(await fixture.send("DELETE", "\(path)?Qualifier=1").0.status == 204)
        #expect(await fixture.send("DELETE", "\(path)?Qualifier=1").0.status == 204)
        #expect(await fixture.send("GET", "\(path)?Qualifier=1").0.status == 404)
        // Now the alias can be provisioned; then its version cannot be directly.
        #expect(
            await fixture.send("PUT", "\(path)?Qualifier=live", json: ["ProvisionedConcurrentExecutions": 1]).0
                .status == 202)
        let (pointed, pointedJSON) = await fixture.send(
            "PUT", "\(path)?Qualifier=1", json: ["ProvisionedConcurrentExecutions": 1])
        #expect(pointed.status == 409)
        #expect(Self.message(pointedJSON) == "Version is pointed by a Provisioned Concurrency alias")
        // Deleting the alias takes its configuration with it.
        #expect(await fixture.send("DELETE", "/2015-03-31/functions/fn/aliases/live").0.status == 204)
        #expect(try fixture.registry.storedConcurrency()["fn"]?.provisioned.isEmpty ?? true)
    }

    @Test func declaredSettingsAreTheConfigurationsAndRefusedWith409() async throws {
        let declared = APIWriteHooks.Declared(
            file: "/etc/albatross.yaml", functions: ["fn"], versions: ["fn:1"], aliases: [],
            concurrency: ["fn": FunctionConcurrency(reserved: 5, provisioned: ["1": 2])])
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        try await fixture.makeFunction("fn")
        fixture.declared.withLockedValue { $0 = declared }
        let (put, putJSON) = await fixture.send(
            "PUT", "/2017-10-31/functions/fn/concurrency", json: ["ReservedConcurrentExecutions": 1])
        #expect(put.status == 409)
        #expect(Self.message(putJSON).contains("is declared in /etc/albatross.yaml"))
        #expect(await fixture.send("DELETE", "/2017-10-31/functions/fn/concurrency").0.status == 409)
        #expect(
            await fixture.send("GET", "/2019-09-30/functions/fn/concurrency").1 as? [String: Int] == [
                "ReservedConcurrentExecutions": 5
            ])
        let path = "/2019-09-30/functions/fn/provisioned-concurrency"
        #expect(
            await fixture.send("PUT", "\(path)?Qualifier=1", json: ["ProvisionedConcurrentExecutions": 1]).0.status
                == 409)
        #expect(await fixture.send("DELETE", "\(path)?Qualifier=1").0.status == 409)
        let got = await fixture.send("GET", "\(path)?Qualifier=1").1
        #expect(got["RequestedProvisionedConcurrentExecutions"] as? Int == 2)
        // An alias the file does not declare is the API's (within the file's reservation of 5).
        #expect(
            await fixture.send("PUT", "\(path)?Qualifier=2", json: ["ProvisionedConcurrentExecutions": 3]).0.status
                == 202)
        let (beyond, _) = await fixture.send(
            "PUT", "\(path)?Qualifier=2", json: ["ProvisionedConcurrentExecutions": 4])
        #expect(beyond.status == 400)
        let effective = Registry.effectiveConcurrency(
            stored: try fixture.registry.storedConcurrency(), declared: declared.declaredConcurrency)
        #expect(effective["fn"] == FunctionConcurrency(reserved: 5, provisioned: ["1": 2, "2": 3]))
    }

    @Test func layersPublishGetListDeleteAndUseByArn() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        let layerZip = try Self.zip(["bin/tool": "#!/bin/sh\necho tool\n"])
        let (published, publishedJSON) = await fixture.send(
            "POST", "/2018-10-31/layers/tools/versions",
            json: [
                "Content": ["ZipFile": layerZip.base64EncodedString()], "Description": "first",
                "CompatibleRuntimes": ["python3.12", "provided.al2023"], "CompatibleArchitectures": ["x86_64"],
                "LicenseInfo": "MIT",
            ])
        #expect(published.status == 201)
        let layerArn = "arn:aws:lambda:us-east-1:123456789012:layer:tools"
        #expect(publishedJSON["LayerArn"] as? String == layerArn)
        #expect(publishedJSON["LayerVersionArn"] as? String == "\(layerArn):1")
        #expect(publishedJSON["Version"] as? Int == 1)
        #expect(publishedJSON["LicenseInfo"] as? String == "MIT")
        #expect(publishedJSON["CompatibleArchitectures"] as? [String] == ["x86_64"])
        let content = publishedJSON["Content"] as? [String: Any] ?? [:]
        #expect(content["CodeSize"] as? Int == layerZip.count)
        #expect((content["Location"] as? String)?.hasPrefix("http://h:1/albatross/code/") == true)
        // The same content again is a new version, as on AWS.
        let second = await fixture.send(
            "POST", "/2018-10-31/layers/\(layerArn.replacingOccurrences(of: ":", with: "%3A"))/versions",
            json: ["Content": ["ZipFile": layerZip.base64EncodedString()]])
        #expect(second.0.status == 201)
        #expect(second.1["Version"] as? Int == 2)
        #expect(second.1["CompatibleRuntimes"] as? [String] == [])

        let got = await fixture.send("GET", "/2018-10-31/layers/tools/versions/1")
        #expect(got.0.status == 200)
        #expect(got.1["Description"] as? String == "first")
        let byArn = await fixture.send(
            "GET", "/2018-10-31/layers?find=LayerVersion&Arn=\(layerArn.replacingOccurrences(of: ":", with: "%3A"))%3A2"
        )
        #expect(byArn.0.status == 200)
        #expect(byArn.1["Version"] as? Int == 2)
        let versions = await fixture.send("GET", "/2018-10-31/layers/tools/versions").1
        #expect((versions["LayerVersions"] as? [[String: Any]])?.map { $0["Version"] as? Int } == [2, 1])
        let filtered = await fixture.send("GET", "/2018-10-31/layers/tools/versions?CompatibleRuntime=python3.12").1
        #expect((filtered["LayerVersions"] as? [[String: Any]])?.map { $0["Version"] as? Int } == [1])
        let layers = await fixture.send("GET", "/2018-10-31/layers").1["Layers"] as? [[String: Any]] ?? []
        #expect(layers.map { $0["LayerName"] as? String } == ["tools"])
        #expect((layers.first?["LatestMatchingVersion"] as? [String: Any])?["Version"] as? Int == 2)
        let matching = await fixture.send("GET", "/2018-10-31/layers?CompatibleArchitecture=x86_64").1
        #expect(
            ((matching["Layers"] as? [[String: Any]])?.first?["LatestMatchingVersion"] as? [String: Any])?["Version"]
                as? Int == 1)
        #expect(
            (await fixture.send("GET", "/2018-10-31/layers/nothing/versions").1["LayerVersions"] as? [Any])?.isEmpty
                == true)

        // Errors as AWS's.
        let (zero, zeroJSON) = await fixture.send("GET", "/2018-10-31/layers/tools/versions/0")
        #expect(zero.status == 400)
        #expect(Self.message(zeroJSON) == "Layer Version Cannot be less than 1")
        let (unknown, unknownJSON) = await fixture.send("GET", "/2018-10-31/layers/tools/versions/9")
        #expect(unknown.status == 404)
        #expect(Self.message(unknownJSON) == "The resource you requested does not exist.")
        let (badRuntime, badRuntimeJSON) = await fixture.send(
            "POST", "/2018-10-31/layers/tools/versions",
            json: ["Content": ["ZipFile": layerZip.base64EncodedString()], "CompatibleRuntimes": ["cobol"]])
        #expect(Self.errorType(badRuntime) == "ValidationException")
        #expect(Self.message(badRuntimeJSON).contains("Value '[cobol]' at 'compatibleRuntimes'"))
        let (badArn, _) = await fixture.send("GET", "/2018-10-31/layers?find=LayerVersion&Arn=\(layerArn)")
        #expect(Self.errorType(badArn) == "ValidationException")
        // A hostile zip is refused and nothing is stored.
        let hostile = try await Self.hostileZip()
        let (refused, refusedJSON) = await fixture.send(
            "POST", "/2018-10-31/layers/evil/versions", json: ["Content": ["ZipFile": hostile.base64EncodedString()]])
        #expect(refused.status == 400)
        #expect(Self.message(refusedJSON).hasPrefix("Could not unzip uploaded file."))
        #expect(try fixture.registry.layerVersions(name: "evil").isEmpty)

        // A function uses an API-published layer by its ARN; deleting the version keeps it working for it.
        let zip = try Self.zip(["bootstrap": "#!/bin/sh\n"])
        let (created, createdJSON) = await fixture.send(
            "POST", "/2015-03-31/functions",
            json: Fixture.createBody("uses", zip: zip, extra: ["Layers": ["\(layerArn):1"]]))
        #expect(created.status == 201)
        #expect(
            (createdJSON["Layers"] as? [[String: Any]])?.first?["CodeSize"] as? Int == layerZip.count)
        #expect(await fixture.send("DELETE", "/2018-10-31/layers/tools/versions/1").0.status == 204)
        #expect(await fixture.send("DELETE", "/2018-10-31/layers/tools/versions/1").0.status == 204)
        #expect(await fixture.send("DELETE", "/2018-10-31/layers/none/versions/3").0.status == 204)
        #expect(await fixture.send("GET", "/2018-10-31/layers/tools/versions/1").0.status == 404)
        let after = await fixture.send("GET", "/2018-10-31/layers/tools/versions").1
        #expect((after["LayerVersions"] as? [[String: Any]])?.map { $0["Version"] as? Int } == [2])
        let record = try fixture.registry.version(functionName: "uses", version: "$LATEST")
        #expect(try fixture.registry.layerRoot(for: record.configuration.layers) != nil)
        let (again, againJSON) = await fixture.send(
            "POST", "/2015-03-31/functions",
            json: Fixture.createBody("late", zip: zip, extra: ["Layers": ["\(layerArn):1"]]))
        #expect(again.status == 400)
        #expect(Self.message(againJSON) == "Layer version \(layerArn):1 does not exist.")
        // A new version is 3: numbers are never reused.
        let third = await fixture.send(
            "POST", "/2018-10-31/layers/tools/versions", json: ["Content": ["ZipFile": layerZip.base64EncodedString()]])
        #expect(third.1["Version"] as? Int == 3)
    }

    /// A zip whose one entry climbs out of the directory it is unpacked into.
    static func hostileZip() async throws -> Data {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try dir.write(
            "make.py",
            """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1], "w") as archive:
                archive.writestr("../escape.txt", "out")
            """)
        let result = try await AlbatrossCommand.run(
            executable: "/usr/bin/python3", [dir.url("make.py"), dir.url("evil.zip")])
        #expect(result.status == 0)
        return try Data(contentsOf: URL(fileURLWithPath: dir.url("evil.zip")))
    }

    @Test func deadLetterConfigIsCheckedBeforeAnythingIsStored() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        let zip = try Self.zip(["bootstrap": "#!/bin/sh\n"])
        let cases: [(String, String, String)] = [
            ("queue", "ValidationException", "at 'deadLetterConfig.targetArn'"),
            ("\(Self.arn):x", "InvalidParameterValueException", "is not an SQS queue or SNS topic ARN"),
            // Valid, but this API has no event queue to keep it in.
            ("arn:aws:sqs:us-east-1:123456789012:dlq", "ServiceException", "needs the event queue"),
        ]
        for (arn, type, text) in cases {
            let (response, json) = await fixture.send(
                "POST", "/2015-03-31/functions",
                json: Fixture.createBody("d", zip: zip, extra: ["DeadLetterConfig": ["TargetArn": arn]]))
            #expect(Self.errorType(response) == type, "\(arn)")
            #expect(Self.message(json).contains(text), "\(arn): \(json)")
        }
        #expect(try fixture.registry.functions().isEmpty)
    }
}
