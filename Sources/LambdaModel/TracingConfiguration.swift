/// A function's X-Ray mode, AWS's `TracingConfig`: whether Lambda samples requests itself and records its own
/// segments (`Active`), or only passes the caller's trace context on (`PassThrough`, the default).
public struct TracingConfiguration: Sendable, Hashable, Codable {
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable {
        case active = "Active"
        case passThrough = "PassThrough"
    }

    public var mode: Mode

    public init(mode: Mode = .passThrough) {
        self.mode = mode
    }
}
