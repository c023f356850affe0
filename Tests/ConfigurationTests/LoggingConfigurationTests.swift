import AlbatrossTestKit
import Configuration
import LambdaModel
import Testing

/// `functions[].loggingConfig` (AWS's LoggingConfig plus RetentionInDays), `versions[].loggingConfig` and the
/// top-level `logs:` section: what they parse into, and the exact errors for what AWS would refuse.
struct LoggingConfigurationTests {
    static func parse(_ yaml: String) throws(ConfigurationError) -> AlbatrossConfiguration {
        var result: Result<AlbatrossConfiguration, ConfigurationError>!
        try? TemporaryDirectory.with { directory in
            try directory.makeFunctionCode()
            do throws(ConfigurationError) {
                result = .success(
                    try ConfigurationLoader.parse(yaml: yaml, file: "c.yaml", baseDirectory: directory.path))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    static func function(_ logging: String, versions: String = "") -> String {
        """
        functions:
          - name: echo
            runtime: provided.al2023
            handler: h
            code: ./functions/echo
            loggingConfig: \(logging)
        \(versions)
        """
    }

    @Test func parsesEveryKeyAndDefaults() throws {
        let configuration = try Self.parse(
            Self.function(
                "{LogFormat: JSON, ApplicationLogLevel: DEBUG, SystemLogLevel: WARN, LogGroup: /custom/echo, RetentionInDays: 14}",
                versions: "    versions:\n      - {version: 1}\n      - {version: 2, loggingConfig: {LogFormat: Text}}")
                + "\nlogs: {retentionInDays: 30, maxTotalSizeMB: 64, sweepIntervalSeconds: 60}\n")
        let logging = configuration.functions[0].logging
        #expect(
            logging
                == LoggingConfiguration(
                    logFormat: .json, applicationLogLevel: .debug, systemLogLevel: .warn, logGroup: "/custom/echo",
                    retentionInDays: 14))
        #expect(configuration.functions[0].effectiveLogFormat == .json)
        #expect(logging.logGroupName(functionName: "echo") == "/custom/echo")
        let versions = configuration.declaredVersions["echo"] ?? []
        #expect(versions.map(\.configuration.logging.logFormat) == [.json, .text], "a version inherits or replaces it")
        #expect(configuration.logs.retentionInDays == 30)
        #expect(configuration.logs.maxTotalSizeBytes == 64 * 1_048_576)
        #expect(configuration.logs.sweepIntervalSeconds == 60)

        let plain = try Self.parse(Self.function("{}"))
        #expect(plain.functions[0].logging == LoggingConfiguration())
        #expect(plain.functions[0].logging.logGroupName(functionName: "echo") == "/aws/lambda/echo")
        #expect(plain.logs == LogSettings())
    }

    @Test func theEnvironmentVariableAlsoSelectsJSON() throws {
        let yaml = """
            functions:
              - {name: echo, runtime: provided.al2023, handler: h, code: ./functions/echo,
                 environment: {AWS_LAMBDA_LOG_FORMAT: json}}
            """
        let configuration = try Self.parse(yaml)
        #expect(configuration.functions[0].logging.logFormat == .text)
        #expect(configuration.functions[0].effectiveLogFormat == .json)
    }

    @Test(arguments: [
        (
            "{LogFormat: json}", "functions[0].loggingConfig.LogFormat",
            "\"json\" is not one of Text, JSON; did you mean JSON?"
        ),
        (
            "{ApplicationLogLevel: DEBUG}", "functions[0].loggingConfig.ApplicationLogLevel",
            "ApplicationLogLevel requires LogFormat: JSON (as on AWS)"
        ),
        (
            "{LogFormat: JSON, SystemLogLevel: ERROR}", "functions[0].loggingConfig.SystemLogLevel",
            "\"ERROR\" is not one of DEBUG, INFO, WARN"
        ),
        (
            "{LogGroup: ../escape}", "functions[0].loggingConfig.LogGroup",
            "LogGroup \"../escape\" must not contain . or .. path components"
        ),
        (
            "{LogGroup: \"a b\"}", "functions[0].loggingConfig.LogGroup",
            "LogGroup \"a b\" may contain only letters, digits and . - _ / #"
        ),
        (
            "{RetentionInDays: 2}", "functions[0].loggingConfig.RetentionInDays",
            "RetentionInDays must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, "
                + "1827, 2192, 2557, 2922, 3288, 3653 (CloudWatch Logs' values), got 2"
        ),
        (
            "{Format: JSON}", "functions[0].loggingConfig.Format",
            "unknown key \"Format\"; did you mean \"LogFormat\"?"
        ),
    ])
    func refused(logging: String, keyPath: String, message: String) {
        do throws(ConfigurationError) {
            _ = try Self.parse(Self.function(logging))
            Issue.record("accepted \(logging)")
        } catch {
            #expect(error.keyPath == keyPath)
            #expect(error.message == message)
            #expect(error.line == 6)
        }
    }

    @Test func refusesABadLogsSection() {
        do throws(ConfigurationError) {
            _ = try Self.parse("logs: {retentionInDays: 10}\n")
            Issue.record("accepted retentionInDays: 10")
        } catch {
            #expect(error.keyPath == "logs.retentionInDays")
            #expect(error.message.hasPrefix("RetentionInDays must be one of 1, 3, 5"))
        }
    }
}
