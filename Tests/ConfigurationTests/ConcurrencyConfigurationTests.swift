import AlbatrossTestKit
import Configuration
import LambdaModel
import Testing

/// `reservedConcurrentExecutions`, `provisionedConcurrentExecutions` and the account's concurrency settings, with
/// AWS's checks and messages.
struct ConcurrencyConfigurationTests {
    static func parse(_ yaml: String) throws -> AlbatrossConfiguration {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.makeFunctionCode()
        return try ConfigurationLoader.parse(yaml: yaml, file: "c.yaml", baseDirectory: directory.path)
    }

    static func refusal(_ yaml: String) -> String {
        do {
            _ = try parse(yaml)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    static func function(_ extra: String) -> String {
        """
        functions:
          - name: echo
            runtime: provided.al2023
            handler: h
            code: ./functions/echo
        \(extra)
        """
    }

    @Test func keysAreParsedIntoTheConcurrencyModel() throws {
        let configuration = try Self.parse(
            """
            environments:
              concurrentExecutions: 200
              initTimeoutSeconds: 2.5
              maximumLifetimeSeconds: 3600
            """ + "\n"
                + Self.function(
                    """
                        reservedConcurrentExecutions: 30
                        versions:
                          - {version: 1, provisionedConcurrentExecutions: 3}
                          - {version: 2}
                        aliases:
                          - {name: live, version: "2", provisionedConcurrentExecutions: 4}
                    """))
        let environments = configuration.environments
        #expect(environments.accountConcurrency == AccountConcurrency(limit: 200, minimumUnreserved: 20))
        #expect(environments.initTimeoutSeconds == 2.5)
        #expect(environments.maximumLifetimeSeconds == 3600)
        #expect(
            configuration.concurrency["echo"] == FunctionConcurrency(reserved: 30, provisioned: ["1": 3, "live": 4]))
        let defaults = try Self.parse(Self.function(""))
        #expect(defaults.environments.accountConcurrency == AccountConcurrency(limit: 1000, minimumUnreserved: 100))
        #expect(defaults.environments.initTimeoutSeconds == 10)
        #expect(defaults.environments.maximumLifetimeSeconds == nil)
        #expect(defaults.concurrency.isEmpty)
    }

    @Test func isolationAndEphemeralStorageAreParsedAndChecked() throws {
        let configuration = try Self.parse(
            "environments:\n  isolation: sandbox\n  ephemeralStorageMB: 1024\n" + Self.function(""))
        #expect(configuration.environments.isolation == .sandbox)
        #expect(configuration.environments.ephemeralStorageMB == 1024)
        let defaults = try Self.parse(Self.function(""))
        #expect(defaults.environments.isolation == .auto && defaults.environments.ephemeralStorageMB == 512)
        #expect(
            Self.refusal("environments:\n  isolation: chroot\n" + Self.function(""))
                .contains("isolation must be process, sandbox or auto, got \"chroot\""))
        #expect(
            Self.refusal("environments:\n  ephemeralStorageMB: 0\n" + Self.function("")).contains("ephemeralStorageMB"))
    }

    @Test func theSandboxUserIsLambdasUnlessTheServersIsAsked() throws {
        #expect(try Self.parse(Self.function("")).environments.sandboxUser == .lambda)
        let server = try Self.parse("environments:\n  sandboxUser: server\n" + Self.function(""))
        #expect(server.environments.sandboxUser == .server)
        #expect(
            Self.refusal("environments:\n  sandboxUser: root\n" + Self.function(""))
                .contains("sandboxUser must be lambda or server, got \"root\""))
    }

    @Test func runtimeSchedulingAndFreezeDelayAreParsedAndChecked() throws {
        let batch = try Self.parse("environments:\n  runtimeScheduling: batch\n" + Self.function(""))
        #expect(batch.environments.runtimeScheduling == .batch)
        #expect(try Self.parse(Self.function("")).environments.runtimeScheduling == .normal)
        #expect(try Self.parse(Self.function("")).environments.freezeDelayMs == 0)
        #expect(
            try Self.parse("environments:\n  freezeDelayMs: 20\n" + Self.function("")).environments.freezeDelayMs == 20)
        #expect(Self.refusal("environments:\n  freezeDelayMs: -1\n" + Self.function("")).contains("freezeDelayMs"))
        #expect(
            Self.refusal("environments:\n  runtimeScheduling: fifo\n" + Self.function(""))
                .contains("runtimeScheduling must be normal or batch, got \"fifo\""))
    }

    @Test func awsRulesAreCheckedWithAWSMessages() {
        #expect(
            Self.refusal(
                Self.function(
                    """
                        reservedConcurrentExecutions: 2
                        versions:
                          - {version: 1, provisionedConcurrentExecutions: 3}
                    """)
            ).contains("Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution"))
        #expect(
            Self.refusal(
                Self.function(
                    """
                        versions:
                          - {version: 1, provisionedConcurrentExecutions: 1}
                        aliases:
                          - {name: live, version: "1", provisionedConcurrentExecutions: 1}
                    """)
            ).contains(
                "aliases[0].provisionedConcurrentExecutions: Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
            ))
        #expect(
            Self.refusal(
                Self.function(
                    """
                        aliases:
                          - {name: dev, version: "$LATEST", provisionedConcurrentExecutions: 1}
                    """)
            ).contains("cannot be applied to unpublished function versions"))
        #expect(
            Self.refusal(
                Self.function(
                    """
                        versions:
                          - {version: 1, reservedConcurrentExecutions: 1}
                    """)
            ).contains("unknown key \"reservedConcurrentExecutions\""))
        #expect(
            Self.refusal(
                Self.function(
                    """
                        versions:
                          - {version: 1, provisionedConcurrentExecutions: 0}
                    """)
            ).contains("provisionedConcurrentExecutions"))
        #expect(
            Self.refusal(
                "environments: {concurrentExecutions: 50}\n" + Self.function("    reservedConcurrentExecutions: 46")
            ).contains("below its minimum value of [5]"))
    }
}
