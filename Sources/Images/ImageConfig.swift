/// What an image's config says about running it (OCI image spec, `config` of the image configuration):
/// ENTRYPOINT, CMD, WORKDIR and ENV. `User` is read but not used: every runtime runs as the server's user, as
/// Lambda runs images as its own user whatever the image says.
public struct ImageConfig: Sendable, Hashable {
    public var entryPoint: [String]?
    public var command: [String]?
    /// WORKDIR; nil or empty: `/`.
    public var workingDirectory: String?
    /// ENV as `NAME=value`, in the image's order.
    public var environment: [String]
    public var user: String?

    public init(
        entryPoint: [String]? = nil, command: [String]? = nil, workingDirectory: String? = nil,
        environment: [String] = [], user: String? = nil
    ) {
        self.entryPoint = entryPoint
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.user = user
    }

    /// ENV as pairs (an entry without `=` is a name with an empty value, as Docker reads it).
    public var environmentPairs: [(name: String, value: String)] {
        environment.map { entry in
            guard let equals = entry.firstIndex(of: "=") else { return (entry, "") }
            return (String(entry[..<equals]), String(entry[entry.index(after: equals)...]))
        }
    }
}
