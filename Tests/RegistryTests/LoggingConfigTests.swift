import LambdaModel
import Registry
import Testing

/// A version's LoggingConfiguration is stored with it (migration v3): it survives a reopen, is snapshotted by
/// publishing, and a change of it alone is something to publish.
struct LoggingConfigTests {
    @Test func loggingConfigIsStoredAndPublished() throws {
        let fixture = try RegistryFixture()
        let code = try fixture.codeDirectory("orders", ["bootstrap": "#!/bin/sh\n"])
        var configuration = fixture.configuration(code: code)
        try fixture.registry.putLatest(configuration)
        #expect(
            try fixture.registry.version(functionName: "orders", version: "$LATEST").configuration.logging == .init())
        let first = try fixture.registry.publishVersion(functionName: "orders")
        #expect(first.version == "1")

        let json = LoggingConfiguration(
            logFormat: .json, applicationLogLevel: .error, systemLogLevel: .debug, logGroup: "/team/orders",
            retentionInDays: 30)
        configuration.logging = json
        try fixture.registry.putLatest(configuration)
        let second = try fixture.registry.publishVersion(functionName: "orders")
        #expect(second.version == "2", "a new loggingConfig alone is a change to publish")
        let reopened = try fixture.reopen()
        #expect(try reopened.version(functionName: "orders", version: "2").configuration.logging == json)
        #expect(try reopened.version(functionName: "orders", version: "$LATEST").configuration.logging == json)
        #expect(try reopened.version(functionName: "orders", version: "1").configuration.logging == .init())
    }
}
