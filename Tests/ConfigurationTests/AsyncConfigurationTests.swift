import AlbatrossTestKit
import Configuration
import LambdaModel
import Testing

/// `functions[].eventInvokeConfig`, `functions[].deadLetterConfig` and the top-level `async:` section.
struct AsyncConfigurationTests {
    static let arn = "arn:aws:lambda:us-east-1:123456789012:function"

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

    @Test func parsesTheSettingsAndTheirDefaults() throws {
        let configuration = try LoggingConfigurationTests.parse(
            Self.function(
                """
                    eventInvokeConfig:
                      MaximumRetryAttempts: 0
                      MaximumEventAgeInSeconds: 60
                      DestinationConfig:
                        OnSuccess: {Destination: '\(Self.arn):other'}
                        OnFailure: {Destination: 'arn:aws:s3:::failures'}
                    deadLetterConfig: {TargetArn: 'arn:aws:sns:us-east-1:123456789012:dlq'}
                """) + "\nasync: {delayScale: 0.01, maximumInFlight: 4}\n")
        #expect(
            configuration.eventInvokeConfigs["echo"]
                == EventInvokeConfig(
                    maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60, onSuccess: "\(Self.arn):other",
                    onFailure: "arn:aws:s3:::failures"))
        #expect(configuration.deadLetterTargets["echo"] == "arn:aws:sns:us-east-1:123456789012:dlq")
        #expect(configuration.asyncInvocation.delayScale == 0.01)
        #expect(configuration.asyncInvocation.maximumInFlight == 4)
        let plain = try LoggingConfigurationTests.parse(Self.function(""))
        #expect(plain.eventInvokeConfigs.isEmpty && plain.deadLetterTargets.isEmpty)
        #expect(plain.asyncInvocation == AsyncSettings())
        #expect(
            EventInvokeConfig().effectiveRetryAttempts == 2 && EventInvokeConfig().effectiveEventAgeSeconds == 21_600)
    }

    @Test(arguments: [
        ("    eventInvokeConfig: {MaximumRetryAttempts: 3}", "must be between 0 and 2, got 3"),
        ("    eventInvokeConfig: {MaximumEventAgeInSeconds: 59}", "must be between 60 and 21600, got 59"),
        ("    eventInvokeConfig: {}", "eventInvokeConfig of function \"echo\" sets nothing"),
        (
            "    eventInvokeConfig: {DestinationConfig: {OnSuccess: {Destination: 'arn:aws:s3:::b'}}}",
            "OnSuccess destination of function \"echo\" must be the ARN of a Lambda function"
        ),
        (
            "    eventInvokeConfig: {DestinationConfig: {OnFailure: {Destination: 'arn:aws:lambda:us-east-1:123456789012:function:echo'}}}",
            "function \"echo\" cannot be its own OnFailure destination"
        ),
        (
            "    deadLetterConfig: {TargetArn: 'arn:aws:lambda:us-east-1:123456789012:function:other'}",
            "deadLetterConfig TargetArn of function \"echo\" must be an SQS queue or SNS topic ARN"
        ),
        ("    eventInvokeConfig: {MaximumRetries: 1}", "unknown key \"MaximumRetries\""),
    ])
    func refusesWhatAWSRefuses(extra: String, message: String) {
        #expect {
            _ = try LoggingConfigurationTests.parse(Self.function(extra))
        } throws: { error in
            (error as? ConfigurationError)?.message.hasPrefix(message) == true
        }
    }

    @Test func refusesADelayScaleOutOfRange() {
        #expect(throws: ConfigurationError.self) {
            _ = try LoggingConfigurationTests.parse(Self.function("") + "\nasync: {delayScale: 2}\n")
        }
    }
}
