public import Configuration
public import Logging
public import NIOCore
import Foundation
import NIOPosix

extension AlbatrossApplication {
    /// How much of the application to build and run, so that `serve`, `invoke`, the test kit and later `bench`
    /// share one composition root and differ only in these switches.
    public struct Options: Sendable {
        /// Copies every function log line to standard output (`serve` without `--quiet`).
        public var mirrorLogs = false
        /// Event loop threads (one per core by default).
        public var eventLoopThreads = System.coreCount
        /// Threads for blocking work (spawning runtimes, the store, certificate files).
        public var blockingThreads = 2
        /// Builds the listeners of the configuration (TLS contexts, the load balancer) so that
        /// ``AlbatrossApplication/startListeners()`` can bind them; `invoke` needs none.
        public var listeners = true
        /// Opens the store in the data directory and applies the configuration to it (versions, aliases, layers),
        /// as `serve` and `invoke` do. Without it only each function's `$LATEST` runs, from the configuration
        /// alone: for tests of environments, which need no SQLite.
        public var usesStore = true
        /// Watches the store for versions and aliases changed by another process (every second), and, with
        /// HTTPS listeners, the certificate files (every ``certificateCheckInterval``).
        public var watchesChanges = true
        /// How often the certificate watcher compares the files with what is loaded.
        public var certificateCheckInterval: Duration = .seconds(5)
        /// Traps SIGINT and SIGTERM (graceful shutdown; a second one exits at once) and SIGHUP (reloads the
        /// certificates). Only for a process that is the server (`serve`), never inside a test process.
        public var handlesSignals = false
        /// Overrides `environments.idleTimeoutSeconds` (tests that need idle environments reaped quickly).
        public var idleTimeout: TimeAmount?
        /// Overrides `environments.isolation`. By default the environment variable `ALBATROSS_ISOLATION`
        /// (`process`, `sandbox` or `auto`), so that one run can leave the sandbox out (or insist on it) without
        /// editing the configuration; `scripts/test.sh` sets it for the whole suite.
        public var isolation: EnvironmentSettings.Isolation? = Self.isolationFromEnvironment

        /// `ALBATROSS_ISOLATION`, when it names a mode.
        public static var isolationFromEnvironment: EnvironmentSettings.Isolation? {
            ProcessInfo.processInfo.environment["ALBATROSS_ISOLATION"].flatMap(EnvironmentSettings.Isolation.init)
        }
        /// Where the server's own diagnostics go.
        public var logger: Logger = .silent

        public init(
            mirrorLogs: Bool = false, eventLoopThreads: Int = System.coreCount, usesStore: Bool = true,
            listeners: Bool = true, watchesChanges: Bool = true, handlesSignals: Bool = false,
            idleTimeout: TimeAmount? = nil,
            logger: Logger = .silent
        ) {
            self.mirrorLogs = mirrorLogs
            self.eventLoopThreads = eventLoopThreads
            self.usesStore = usesStore
            self.listeners = listeners
            self.watchesChanges = watchesChanges
            self.handlesSignals = handlesSignals
            self.idleTimeout = idleTimeout
            self.logger = logger
        }
    }
}

/// A start-up failure of the application itself (a data directory that cannot be created); its description is the
/// whole message. Failures of the parts (configuration, store, certificates) are thrown as those parts' errors.
public struct AlbatrossApplicationError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}
