public import Environments
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
        /// A container image function's rootfs (also `taskRoot`) and how it runs; nil for code packages.
        public var image: ImageRun?

        public init(
            configuration: FunctionConfiguration, version: String, taskRoot: String, layerRoot: String? = nil,
            codeRevision: String? = nil, image: ImageRun? = nil
        ) {
            self.configuration = configuration
            self.version = version
            self.taskRoot = taskRoot
            self.layerRoot = layerRoot
            self.codeRevision = codeRevision
            self.image = image
        }
    }

    public struct Function: Sendable {
        public var versions: [String: Version]
        public var aliases: [String: AliasRouting]
        /// Reserved concurrency and provisioned concurrency by qualifier. Changing it restarts nothing: the
        /// invoker applies it to the pools it keeps.
        public var concurrency: FunctionConcurrency

        public init(
            versions: [String: Version] = [:], aliases: [String: AliasRouting] = [:],
            concurrency: FunctionConcurrency = FunctionConcurrency()
        ) {
            self.versions = versions
            self.aliases = aliases
            self.concurrency = concurrency
        }

        /// How many provisioned environments each version keeps: its own configuration plus its aliases', an
        /// alias with a weighted second version splitting its count by the weight (AWS spreads it the same way).
        /// `$LATEST` never gets any (AWS refuses it).
        public var provisionedByVersion: [String: Int] {
            var result: [String: Int] = [:]
            for (qualifier, count) in concurrency.provisioned where count > 0 {
                if versions[qualifier] != nil {
                    result[qualifier, default: 0] += count
                } else if let routing = aliases[qualifier] {
                    var extra = 0
                    if let version = routing.additionalVersion {
                        extra = Int((Double(count) * routing.additionalWeight).rounded())
                        result[version, default: 0] += extra
                    }
                    result[routing.primaryVersion, default: 0] += count - extra
                }
            }
            result["$LATEST"] = nil
            return result.filter { $0.value > 0 }
        }
    }

    /// Sets each function's concurrency controls (functions not named keep none).
    public mutating func applyConcurrency(_ concurrency: [String: FunctionConcurrency]) {
        for name in functions.keys { functions[name]?.concurrency = concurrency[name] ?? FunctionConcurrency() }
    }

    public var functions: [String: Function]

    public init(functions: [String: Function] = [:]) {
        self.functions = functions
    }
}
