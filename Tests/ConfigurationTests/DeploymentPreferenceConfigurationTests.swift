import AlbatrossTestKit
import Configuration
import LambdaModel
import Testing

/// `aliases[].deploymentPreference`: SAM's keys and messages.
struct DeploymentPreferenceConfigurationTests {
    static func parse(_ preference: String, version: String = "\"1\"") throws -> AlbatrossConfiguration {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.makeFunctionCode()
        let yaml = """
            functions:
              - name: echo
                runtime: provided.al2023
                handler: h
                code: ./functions/echo
                versions:
                  - {version: 1}
                aliases:
                  - name: live
                    version: \(version)
                    deploymentPreference:
            \(preference)
            """
        return try ConfigurationLoader.parse(yaml: yaml, file: "c.yaml", baseDirectory: directory.path)
    }

    static func refusal(_ preference: String, version: String = "\"1\"") -> String {
        do {
            _ = try parse(preference, version: version)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func samKeysAreParsed() throws {
        let configuration = try Self.parse(
            """
                      Type: Linear10PercentEvery1Minute
                      Alarms: ["errors>1%/1m/min20", "p99>500ms"]
                      Hooks: {PreTraffic: CodeDeployHook_pre, PostTraffic: CodeDeployHook_post}
                      TriggerConfigurations:
                        - {TriggerName: T, TriggerEvents: [DeploymentSuccess, DeploymentFailure], TriggerTargetArn: arn:aws:sns:us-east-1:123456789012:t}
                      Role: arn:aws:iam::123456789012:role/cd
                      TimeScale: 60
            """)
        let preference = try #require(configuration.declaredAliases["echo"]?.first?.deploymentPreference)
        #expect(preference.type == "Linear10PercentEvery1Minute" && preference.enabled)
        #expect(preference.alarms == ["errors>1%/1m/min20", "p99>500ms"])
        #expect(
            preference.preTrafficHook == "CodeDeployHook_pre" && preference.postTrafficHook == "CodeDeployHook_post")
        #expect(
            preference.triggers == [
                DeploymentTrigger(
                    name: "T", events: ["DeploymentSuccess", "DeploymentFailure"],
                    targetArn: "arn:aws:sns:us-east-1:123456789012:t")
            ])
        #expect(preference.timeScale == 60)
        let disabled = try Self.parse("              Type: AllAtOnce\n              Enabled: \"false\"")
        #expect(disabled.declaredAliases["echo"]?.first?.deploymentPreference?.enabled == false)
    }

    @Test func samsRefusals() {
        #expect(Self.refusal("              Alarms: []").contains("missing required Property 'Type'"))
        #expect(
            Self.refusal("              Type: AllAtOnce\n              Alarms: x").contains("Alarms must be a list"))
        #expect(Self.refusal("              Type: AllAtOnce\n              Hooks: [a]").contains("Hooks must be a map"))
        #expect(
            Self.refusal("              Type: AllAtOnce\n              Hooks: {Pre: a}").contains("unknown key \"Pre\"")
        )
        #expect(Self.refusal("              Type: AllAtOnce\n              Typo: 1").contains("unknown key \"Typo\""))
        #expect(
            Self.refusal("              Type: AllAtOnce", version: "$LATEST").contains(
                "must point at one published version"))
    }
}
