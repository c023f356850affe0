import LambdaModel

extension ConfigurationParser {
    /// A function's (or version's) `tracingConfig`: `{Mode: Active|PassThrough}` (CloudFormation's spelling;
    /// `mode` is accepted too). The error names the function, since a key path has only its index.
    func parseTracing(_ node: ConfigNode, function: String) throws(ConfigurationError) -> TracingConfiguration {
        let mapping = try node.mapping(allowed: ["Mode", "mode"])
        guard let value = mapping.optional("Mode") ?? mapping.optional("mode") else {
            throw node.error("tracingConfig of function \"\(function)\" needs Mode: Active or PassThrough")
        }
        let text = try value.string()
        guard let mode = TracingConfiguration.Mode(rawValue: text) else {
            var message =
                "tracingConfig Mode of function \"\(function)\" must be Active or PassThrough, got \"\(text)\""
            if let suggestion = Suggestions.closest(
                to: text, in: TracingConfiguration.Mode.allCases.map(\.rawValue))
            {
                message += "; did you mean \(suggestion)?"
            }
            throw value.error(message)
        }
        return TracingConfiguration(mode: mode)
    }

    /// The top-level `tracing:` section: the embedded X-Ray daemon, sampling and trace retention.
    func parseTracingSettings(_ node: ConfigNode) throws(ConfigurationError) -> TracingSettings {
        let mapping = try node.mapping(allowed: [
            "samplingRate", "reservoirPerSecond", "daemonPort", "maxTraces", "retentionDays",
            "maxDatagramsPerSecond",
        ])
        var settings = TracingSettings()
        if let value = mapping.optional("samplingRate") { settings.samplingRate = try value.double(in: 0...1) }
        if let value = mapping.optional("reservoirPerSecond") {
            settings.reservoirPerSecond = try value.int(in: 0...1_000_000)
        }
        if let value = mapping.optional("daemonPort") { settings.daemonPort = try value.int(in: 0...65535) }
        if let value = mapping.optional("maxTraces") { settings.maxTraces = try value.int(in: 1...10_000_000) }
        if let value = mapping.optional("retentionDays") { settings.retentionDays = try value.int(in: 1...3653) }
        if let value = mapping.optional("maxDatagramsPerSecond") {
            settings.maxDatagramsPerSecond = try value.int(in: 1...10_000_000)
        }
        return settings
    }
}

/// Platform-wide tracing settings (`tracing:`): AWS's sampling rule (1 request a second, then 5 %) unless an
/// experiment overrides it, where the embedded X-Ray daemon listens, and how many traces are kept.
public struct TracingSettings: Sendable, Hashable {
    /// Share of requests sampled beyond the reservoir (AWS: 0.05).
    public var samplingRate: Double = 0.05
    /// Requests sampled each second before the rate applies (AWS: 1).
    public var reservoirPerSecond: Int = 1
    /// UDP port of the embedded daemon on 127.0.0.1; 0 (the default) asks the OS for a free one.
    public var daemonPort: Int = 0
    /// Traces kept at most; the oldest go first (default 10,000).
    public var maxTraces: Int = 10_000
    /// Days a trace is kept (default 7).
    public var retentionDays: Int = 7
    /// Datagrams the daemon accepts per second (a token bucket; the rest are dropped and counted).
    public var maxDatagramsPerSecond: Int = 2_000

    public init() {}
}
