import LambdaModel
import Registry
import Testing

/// A version's TracingConfig mode is stored with it (migration v4): it survives a reopen, is snapshotted by
/// publishing, and a change of it alone is something to publish.
struct TracingConfigTests {
    @Test func tracingModeIsStoredAndPublished() throws {
        let fixture = try RegistryFixture()
        let code = try fixture.codeDirectory("orders", ["bootstrap": "#!/bin/sh\n"])
        var configuration = fixture.configuration(code: code)
        try fixture.registry.putLatest(configuration)
        #expect(
            try fixture.registry.version(functionName: "orders", version: "$LATEST").configuration.tracing.mode
                == .passThrough)
        #expect(try fixture.registry.publishVersion(functionName: "orders").version == "1")
        configuration.tracing = TracingConfiguration(mode: .active)
        try fixture.registry.putLatest(configuration)
        #expect(try fixture.registry.publishVersion(functionName: "orders").version == "2", "a change to publish")
        let reopened = try fixture.reopen()
        #expect(try reopened.version(functionName: "orders", version: "2").configuration.tracing.mode == .active)
        #expect(try reopened.version(functionName: "orders", version: "1").configuration.tracing.mode == .passThrough)
    }
}
