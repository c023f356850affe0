public import LambdaModel

/// What can be invoked: every function's versions (each with its configuration and prepared task root) and its
/// aliases. An immutable value; the invoker swaps in a new one when versions or aliases change, so an alias
/// change applies to the next request while requests in flight finish on the version they started on.
public struct FunctionCatalog: Sendable {
    /// One runnable version of a function.
    public struct Version: Sendable, Hashable {
        public var configuration: FunctionConfiguration
        /// `$LATEST` or a version number.
        public var version: String
        public var taskRoot: String
        /// The merged layers of `configuration.layers` (what AWS mounts at `/opt`); nil without layers.
        public var layerRoot: String?
        /// What the code in `taskRoot` was when this version was made (``CodePreparer/revision(of:)``): `$LATEST`
        /// runs from the user's directory in place, so an edit there changes this and the invoker retires the pool
        /// instead of letting new environments run new code with the old settings. Nil for published versions,
        /// whose stored code never changes.
        public var codeRevision: String?

        public init(
            configuration: FunctionConfiguration, version: String, taskRoot: String, layerRoot: String? = nil,
            codeRevision: String? = nil
        ) {
            self.configuration = configuration
            self.version = version
            self.taskRoot = taskRoot
            self.layerRoot = layerRoot
            self.codeRevision = codeRevision
        }
    }

    public struct Function: Sendable {
        public var versions: [String: Version]
        public var aliases: [String: AliasRouting]

        public init(versions: [String: Version] = [:], aliases: [String: AliasRouting] = [:]) {
            self.versions = versions
            self.aliases = aliases
        }
    }

    public var functions: [String: Function]

    public init(functions: [String: Function] = [:]) {
        self.functions = functions
    }
}
