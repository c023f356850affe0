import LambdaModel

extension ConfigurationParser {
    /// A function's `eventInvokeConfig`: AWS's FunctionEventInvokeConfig members in CloudFormation's spelling
    /// (`MaximumRetryAttempts` 0–2, `MaximumEventAgeInSeconds` 60–21600, `DestinationConfig` with `OnSuccess` /
    /// `OnFailure` `{Destination: arn}`), for the unqualified function (`$LATEST`).
    func parseEventInvokeConfig(_ node: ConfigNode, function: String) throws(ConfigurationError) -> EventInvokeConfig {
        let mapping = try node.mapping(allowed: [
            "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig",
        ])
        var config = EventInvokeConfig()
        if let value = mapping.optional("MaximumRetryAttempts") {
            config.maximumRetryAttempts = try value.int(in: EventInvokeConfig.retryAttemptsRange)
        }
        if let value = mapping.optional("MaximumEventAgeInSeconds") {
            config.maximumEventAgeInSeconds = try value.int(in: EventInvokeConfig.eventAgeRange)
        }
        if let value = mapping.optional("DestinationConfig") {
            let destinations = try value.mapping(allowed: ["OnSuccess", "OnFailure"])
            for key in ["OnSuccess", "OnFailure"] {
                guard let entry = destinations.optional(key) else { continue }
                let arnNode = try entry.mapping(allowed: ["Destination"]).required("Destination")
                let arn = try arnNode.nonEmptyString()
                guard let target = DestinationTarget.parse(arn, forFailure: key == "OnFailure") else {
                    throw arnNode.error(
                        "\(key) destination of function \"\(function)\" must be the ARN of a Lambda function, an SQS "
                            + "queue, an SNS topic, an EventBridge bus\(key == "OnFailure" ? " or an S3 bucket" : ""), "
                            + "got \"\(arn)\"")
                }
                if case .function(let name, _) = target, name == function {
                    throw arnNode.error("function \"\(function)\" cannot be its own \(key) destination")
                }
                if key == "OnSuccess" { config.onSuccess = arn } else { config.onFailure = arn }
            }
        }
        if config.isEmpty {
            throw node.error(
                "eventInvokeConfig of function \"\(function)\" sets nothing: give MaximumRetryAttempts, "
                    + "MaximumEventAgeInSeconds or DestinationConfig")
        }
        return config
    }

    /// A function's `deadLetterConfig: {TargetArn: <sqs queue or sns topic ARN>}`.
    func parseDeadLetterConfig(_ node: ConfigNode, function: String) throws(ConfigurationError) -> String {
        let arnNode = try node.mapping(allowed: ["TargetArn"]).required("TargetArn")
        let arn = try arnNode.nonEmptyString()
        guard case .outbox(let service, _) = DestinationTarget.parse(arn), service == "sqs" || service == "sns" else {
            throw arnNode.error(
                "deadLetterConfig TargetArn of function \"\(function)\" must be an SQS queue or SNS topic ARN, got "
                    + "\"\(arn)\"")
        }
        return arn
    }

    /// The top-level `async:` section: how the asynchronous-invocation queue runs.
    func parseAsyncSettings(_ node: ConfigNode) throws(ConfigurationError) -> AsyncSettings {
        let mapping = try node.mapping(allowed: ["delayScale", "maximumInFlight"])
        var settings = AsyncSettings()
        if let value = mapping.optional("delayScale") { settings.delayScale = try value.double(in: 0.000_001...1) }
        if let value = mapping.optional("maximumInFlight") { settings.maximumInFlight = try value.int(in: 1...1000) }
        return settings
    }
}
