import Foundation
import LambdaModel
import Registry
import Testing

/// Versions: numbering, idempotent publishing, preconditions, RevisionIds, immutability of published versions.
struct PublishTests {
    @Test func publishingNumbersVersionsAndReturnsTheLatestWhenNothingChanged() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        try fixture.putOrders(body: "v1")
        let first = try registry.publishVersion(functionName: "orders")
        #expect(first.version == "1")
        #expect(first.arn == "arn:aws:lambda:eu-west-1:111122223333:function:orders:1")
        #expect(first.unqualifiedArn == "arn:aws:lambda:eu-west-1:111122223333:function:orders")

        // Nothing changed: the same version comes back, nothing is written.
        let again = try registry.publishVersion(functionName: "orders", description: "ignored")
        #expect(again == first)

        try fixture.putOrders(body: "v2")
        let second = try registry.publishVersion(functionName: "orders", description: "second")
        #expect(second.version == "2")
        #expect(second.description == "second")
        #expect(try registry.publishVersion(functionName: "orders").version == "2")

        // A configuration-only change publishes too.
        try fixture.putOrders(body: "v2", memorySize: 256)
        #expect(try registry.publishVersion(functionName: "orders").version == "3")

        // Going back to v1's content still makes a new number: numbers only grow.
        try fixture.putOrders(body: "v1")
        let fourth = try registry.publishVersion(functionName: "orders")
        #expect(fourth.version == "4")
        #expect(fourth.codeSha256 == first.codeSha256)

        #expect(try registry.versions(functionName: "orders").map(\.version) == ["$LATEST", "1", "2", "3", "4"])
        #expect(
            try registry.versions(functionName: "orders").map(\.arn).first
                == "arn:aws:lambda:eu-west-1:111122223333:function:orders:$LATEST")
        #expect(try registry.functions().map(\.functionName) == ["orders"])
        #expect(try registry.functions().map(\.version) == ["$LATEST"])
    }

    @Test func publishingCopiesLatestAndGivesLatestANewRevision() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        let latest = try fixture.putOrders(environment: ["STAGE": "prod"])
        let version = try registry.publishVersion(functionName: "orders", expectedCodeSha256: latest.codeSha256)
        #expect(version.configuration.environment == [EnvironmentVariable(name: "STAGE", value: "prod")])
        #expect(version.configuration.memorySize == latest.configuration.memorySize)
        #expect(version.codeSha256 == latest.codeSha256)
        #expect(version.codeSize == latest.codeSize)
        #expect(version.revisionId != latest.revisionId)
        let latestAfter = try registry.version(functionName: "orders", version: "$LATEST")
        #expect(latestAfter.revisionId != latest.revisionId)
        #expect(latestAfter.revisionId != version.revisionId)
        // A no-op publish leaves $LATEST's RevisionId alone.
        _ = try registry.publishVersion(functionName: "orders")
        #expect(try registry.version(functionName: "orders", version: "$LATEST").revisionId == latestAfter.revisionId)
    }

    @Test func preconditionsUseAWSMessages() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        let latest = try fixture.putOrders()
        expectRegistryError(
            "InvalidParameterValueException",
            "CodeSHA256 (abc) is different from current CodeSHA256 in $LATEST (\(latest.codeSha256)). "
                + "Please try again with the CodeSHA256 in $LATEST."
        ) { _ = try registry.publishVersion(functionName: "orders", expectedCodeSha256: "abc") }
        expectRegistryError(
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. "
                + "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
        ) { _ = try registry.publishVersion(functionName: "orders", expectedRevisionId: "nope") }
        expectRegistryError(
            "ResourceNotFoundException", "Function not found: arn:aws:lambda:eu-west-1:111122223333:function:missing"
        ) { _ = try registry.publishVersion(functionName: "missing") }
        // Nothing was published by the failed calls.
        #expect(try registry.versions(functionName: "orders").count == 1)
        let published = try registry.publishVersion(
            functionName: "orders", expectedCodeSha256: latest.codeSha256, expectedRevisionId: latest.revisionId)
        #expect(published.version == "1")
        #expect(
            registryError { _ = try registry.publishVersion(functionName: "orders", expectedCodeSha256: "x") }?
                .httpStatus == 400)
    }

    @Test func missingVersionsAreNotFound() throws {
        let fixture = try RegistryFixture()
        try fixture.putOrders()
        for version in ["1", "0", "live", ""] {
            expectRegistryError(
                "ResourceNotFoundException",
                "Function not found: arn:aws:lambda:eu-west-1:111122223333:function:orders:\(version)"
            ) { _ = try fixture.registry.version(functionName: "orders", version: version) }
        }
        expectRegistryError(
            "ResourceNotFoundException", "Function not found: arn:aws:lambda:eu-west-1:111122223333:function:nobody"
        ) { _ = try fixture.registry.versions(functionName: "nobody") }
    }

    @Test func changingLatestNeverChangesAPublishedVersion() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        let code = try fixture.codeDirectory("mutable", ["bootstrap": "#!/bin/sh\necho one\n", "lib/data.txt": "one"])
        try registry.putLatest(fixture.configuration(code: code, environment: ["COLOUR": "blue"]))
        let one = try registry.publishVersion(functionName: "orders")
        let oneRoot = try registry.taskRoot(for: one)
        #expect(try String(contentsOfFile: "\(oneRoot)/lib/data.txt", encoding: .utf8) == "one")

        // Change the very same directory and the configuration, then put $LATEST again.
        try fixture.directory.write("code/mutable/lib/data.txt", "two")
        try fixture.directory.write("code/mutable/new.txt", "new")
        try registry.putLatest(fixture.configuration(code: code, memorySize: 512, environment: ["COLOUR": "red"]))

        let reread = try registry.version(functionName: "orders", version: "1")
        #expect(reread == one)
        #expect(reread.configuration.memorySize == 128)
        #expect(reread.configuration.environment == [EnvironmentVariable(name: "COLOUR", value: "blue")])
        let rereadRoot = try registry.taskRoot(for: reread)
        #expect(try String(contentsOfFile: "\(rereadRoot)/lib/data.txt", encoding: .utf8) == "one")
        #expect(!FileManager.default.fileExists(atPath: "\(rereadRoot)/new.txt"))
        #expect(FileManager.default.isExecutableFile(atPath: "\(rereadRoot)/bootstrap"))

        let latest = try registry.version(functionName: "orders", version: "$LATEST")
        let latestRoot = try registry.taskRoot(for: latest)
        #expect(latestRoot != rereadRoot)
        #expect(try String(contentsOfFile: "\(latestRoot)/lib/data.txt", encoding: .utf8) == "two")
        #expect(latest.configuration.environment == [EnvironmentVariable(name: "COLOUR", value: "red")])
    }

    @Test func revisionIdChangesOnlyOnEffectiveChanges() throws {
        let fixture = try RegistryFixture()
        let first = try fixture.putOrders(body: "same")
        #expect(first.revisionId.count == 36)
        #expect(first.revisionId == first.revisionId.lowercased())
        #expect(Array(first.revisionId)[14] == "4")  // a version 4 UUID
        let same = try fixture.putOrders(body: "same")
        #expect(same.revisionId == first.revisionId)
        #expect(same.lastModified == first.lastModified)
        let changed = try fixture.putOrders(body: "same", memorySize: 1024)
        #expect(changed.revisionId != first.revisionId)
        let described = try fixture.registry.putLatest(changed.configuration, description: "d")
        #expect(described.revisionId != changed.revisionId)
        #expect(described.description == "d")
        #expect(described.codeSha256 == changed.codeSha256)
    }

    @Test func lastModifiedHasAWSFormat() throws {
        let fixture = try RegistryFixture()
        let record = try fixture.putOrders()
        let pattern = #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$/#
        #expect(record.lastModified.wholeMatch(of: pattern) != nil, "\(record.lastModified)")
    }

    @Test func refusesBadConfigurations() throws {
        let fixture = try RegistryFixture()
        let code = try fixture.codeDirectory("x", ["bootstrap": "x"])
        expectRegistryError(
            "InvalidParameterValueException",
            "Lambda was unable to configure your environment variables because the environment variables you have "
                + "provided contains reserved keys that are currently not supported for modification. Reserved keys "
                + "used in this request: AWS_REGION"
        ) { try fixture.registry.putLatest(fixture.configuration(code: code, environment: ["AWS_REGION": "x"])) }
        expectRegistryError(
            "ValidationException",
            "1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: Member must have "
                + "value greater than or equal to 128"
        ) { try fixture.registry.putLatest(fixture.configuration(code: code, memorySize: 64)) }
        let big = fixture.configuration(code: code, environment: ["BIG": String(repeating: "s3cr3t", count: 700)])
        if let error = registryError({ try fixture.registry.putLatest(big) }) {
            #expect(error.message.hasPrefix("Lambda was unable to configure your environment variables because"))
            #expect(error.message.contains("exceeded the 4KB limit"))
            #expect(!error.message.contains("s3cr3t"))
        }
        let notZip = try fixture.directory.write("not.zip", "plain text")
        var configuration = fixture.configuration(code: code)
        configuration.code = .zip(notZip)
        if let error = registryError({ try fixture.registry.putLatest(configuration) }) {
            #expect(error.errorType == "InvalidParameterValueException")
            #expect(error.message.hasPrefix("Could not unzip uploaded file."))
            #expect(error.message.contains(notZip))
        }
        #expect(try fixture.registry.functions().isEmpty)
    }
}
