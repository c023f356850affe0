import AlbatrossTestKit
import Configuration
import LambdaModel
import Testing

/// `functions[].tracingConfig` (AWS's TracingConfig), `versions[].tracingConfig` and the top-level `tracing:`
/// section: what they parse into, and errors that name the function.
struct TracingConfigurationTests {
    static func function(_ tracing: String, versions: String = "") -> String {
        """
        functions:
          - name: echo
            runtime: provided.al2023
            handler: h
            code: ./functions/echo
            tracingConfig: \(tracing)
        \(versions)
        """
    }

    @Test func parsesModesSettingsAndDefaults() throws {
        let configuration = try LoggingConfigurationTests.parse(
            Self.function(
                "{Mode: Active}",
                versions:
                    "    versions:\n      - {version: 1}\n      - {version: 2, tracingConfig: {mode: PassThrough}}")
                + "\ntracing: {samplingRate: 1.0, reservoirPerSecond: 0, daemonPort: 0, maxTraces: 50, retentionDays: 2, maxDatagramsPerSecond: 10}\n"
        )
        #expect(configuration.functions[0].tracing.mode == .active)
        let versions = configuration.declaredVersions["echo"] ?? []
        #expect(versions.map(\.configuration.tracing.mode) == [.active, .passThrough], "inherited or replaced")
        var settings = TracingSettings()
        settings.samplingRate = 1.0
        settings.reservoirPerSecond = 0
        settings.maxTraces = 50
        settings.retentionDays = 2
        settings.maxDatagramsPerSecond = 10
        #expect(configuration.tracing == settings)
        #expect(configuration.tracesEnabled)

        let plain = try LoggingConfigurationTests.parse(Self.function("{Mode: PassThrough}"))
        #expect(plain.functions[0].tracing == TracingConfiguration() && plain.tracing == nil)
        #expect(!plain.tracesEnabled, "nothing Active and no tracing: section: no daemon")
        #expect(TracingSettings().samplingRate == 0.05 && TracingSettings().reservoirPerSecond == 1, "AWS's rule")
    }

    @Test(arguments: [
        (
            "{Mode: active}", "functions[0].tracingConfig.Mode",
            "tracingConfig Mode of function \"echo\" must be Active or PassThrough, got \"active\"; did you mean Active?"
        ),
        ("{}", "functions[0].tracingConfig", "tracingConfig of function \"echo\" needs Mode: Active or PassThrough"),
        ("{Mode: Active, Sampling: 1}", "functions[0].tracingConfig.Sampling", "unknown key \"Sampling\""),
    ])
    func refusesWithTheFunctionNamed(tracing: String, keyPath: String, message: String) {
        #expect {
            _ = try LoggingConfigurationTests.parse(Self.function(tracing))
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.keyPath == keyPath && error.message.hasPrefix(message)
        }
    }

    @Test func aVersionsErrorNamesTheVersion() {
        #expect {
            _ = try LoggingConfigurationTests.parse(
                Self.function(
                    "{Mode: Active}", versions: "    versions:\n      - {version: 1, tracingConfig: {Mode: On}}"))
        } throws: { error in
            (error as? ConfigurationError)?.message.hasPrefix(
                "tracingConfig Mode of function \"echo:1\" must be Active or PassThrough, got \"On\"") == true
        }
    }

    @Test func refusesASamplingRateOutsideZeroToOne() {
        #expect(throws: ConfigurationError.self) {
            _ = try LoggingConfigurationTests.parse(
                Self.function("{Mode: Active}") + "\ntracing: {samplingRate: 1.5}\n")
        }
    }
}

/// `tracing.otlpPort` and `tracing.export` (the OTLP receiver's port and the collector traces are exported to).
struct TraceExportConfigurationTests {
    @Test func parsesThePortAndTheExport() throws {
        let configuration = try LoggingConfigurationTests.parse(
            TracingConfigurationTests.function("{Mode: PassThrough}")
                + "\ntracing: {otlpPort: 4318, export: {url: \"http://jaeger:4318\", queueSize: 50}}\n")
        #expect(configuration.tracing?.otlpPort == 4318)
        #expect(configuration.tracing?.export == TraceExportSettings(url: "http://jaeger:4318", queueSize: 50))
        #expect(configuration.tracesEnabled)
    }

    @Test func urlsOfTheCollector() {
        #expect(TraceExportSettings.parse("http://jaeger:4318")! == ("jaeger", 4318, "/v1/traces"))
        #expect(TraceExportSettings.parse("http://127.0.0.1")! == ("127.0.0.1", 80, "/v1/traces"))
        #expect(TraceExportSettings.parse("HTTP://tempo:4318/otlp/v1/traces")! == ("tempo", 4318, "/otlp/v1/traces"))
        #expect(TraceExportSettings.parse("http://[::1]:4318/")! == ("::1", 4318, "/v1/traces"))
        for bad in [
            "https://jaeger:4318", "jaeger:4318", "http://", "http://jaeger:0", "http://jaeger:x", "http://u@h",
        ] {
            #expect(TraceExportSettings.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func refusesAnExportWithoutHTTPURL() {
        #expect {
            try LoggingConfigurationTests.parse(
                TracingConfigurationTests.function("{Mode: Active}")
                    + "\ntracing: {export: {url: \"https://collector:4318\"}}\n")
        } throws: { error in
            (error as? ConfigurationError)?.message.hasPrefix("tracing.export.url must be http://") == true
        }
    }
}
