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
            "maxDatagramsPerSecond", "otlpPort", "otlpMaxConnections", "export",
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
        if let value = mapping.optional("otlpPort") { settings.otlpPort = try value.int(in: 0...65535) }
        if let value = mapping.optional("otlpMaxConnections") {
            settings.otlpMaxConnections = try value.int(in: 1...100_000)
        }
        if let value = mapping.optional("export") { settings.export = try parseTraceExport(value) }
        return settings
    }

    /// `tracing.export`: `{url: http://host:port/v1/traces, queueSize: 10000}`, the collector every stored
    /// segment is sent to as OTLP/HTTP protobuf. Only `http://` (no TLS here); the URL is used as it is, as
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` would be.
    func parseTraceExport(_ node: ConfigNode) throws(ConfigurationError) -> TraceExportSettings {
        let mapping = try node.mapping(allowed: ["url", "queueSize"])
        let urlNode = try mapping.required("url")
        let url = try urlNode.string()
        guard TraceExportSettings.parse(url) != nil else {
            throw urlNode.error(
                "tracing.export.url must be http://host[:port][/path] (no TLS; the path defaults to /v1/traces), got \"\(url)\""
            )
        }
        var settings = TraceExportSettings(url: url)
        if let value = mapping.optional("queueSize") { settings.queueSize = try value.int(in: 1...10_000_000) }
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
    /// TCP port of the OTLP/HTTP receiver on 127.0.0.1 (`OTEL_EXPORTER_OTLP_ENDPOINT`); 0 (the default): a free one.
    public var otlpPort: Int = 0
    /// Connections the OTLP receiver keeps open at once; more are closed at once and counted (default 64).
    public var otlpMaxConnections: Int = 64
    /// The collector every stored trace is exported to; nil (the default): none.
    public var export: TraceExportSettings?

    public init() {}
}

/// `tracing.export`: where the OTLP exporter sends every stored segment (a Jaeger or Tempo collector's
/// OTLP/HTTP endpoint), and how many spans may wait for it.
public struct TraceExportSettings: Sendable, Hashable {
    /// `http://host[:port][/path]`; the path defaults to `/v1/traces`, the port to 80.
    public var url: String
    /// Spans waiting to be sent at most; beyond it new ones are dropped and counted.
    public var queueSize: Int = 10_000

    public init(url: String, queueSize: Int = 10_000) {
        self.url = url
        self.queueSize = queueSize
    }

    /// Host, port and path of an `http://` URL; nil for anything else.
    public static func parse(_ url: String) -> (host: String, port: Int, path: String)? {
        guard url.lowercased().hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var path = String(rest.dropFirst(authority.count))
        if path.isEmpty || path == "/" { path = "/v1/traces" }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host = String(authority)
        var port = 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()), (1...65535).contains(value) else {
                    return nil
                }
                port = value
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let value = Int(authority[authority.index(after: colon)...]), (1...65535).contains(value) else {
                return nil
            }
            port = value
        }
        guard !host.isEmpty else { return nil }
        return (host, port, path)
    }
}
