import AlbatrossApp
import ArgumentParser
import Logging

/// `albatross serve`: runs every listener of a configuration until SIGINT or SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the listeners of a configuration and serve until interrupted.",
        discussion: """
            On SIGINT or SIGTERM it stops accepting connections, lets requests in flight finish (up to \
            environments.shutdownGraceSeconds), closes the remaining connections, shuts every execution \
            environment down, flushes the logs and exits 0. A second SIGINT or SIGTERM during that exits at once \
            with status 128 + the signal number (130 or 143), killing the runtimes first. SIGHUP reloads the \
            certificates of HTTPS listeners.
            """)

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String

    @Flag(name: .long, help: "Do not copy function logs to standard output (they are always in the data directory).")
    var quiet = false

    @Option(
        name: .long,
        help: "The server's own diagnostics: trace, debug, info, notice, warning, error or critical.",
        transform: Serve.logLevel(named:))
    var logLevel: Logger.Level = .info

    func run() async throws {
        let logger = Logger(label: "albatross") { label in ConsoleLogHandler(label: label, logLevel: logLevel) }
        let application: AlbatrossApplication
        do {
            application = try AlbatrossApplication(
                configurationPath: config,
                options: .init(mirrorLogs: !quiet, handlesSignals: true, logger: logger))
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            throw ExitCode(1)
        }
        var failed = false
        do {
            try await application.startListeners()
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            failed = true
            await application.requestShutdown()
        }
        do {
            try await application.run()
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            failed = true
        }
        if failed { throw ExitCode(1) }
        logger.info("stopped")
    }
}

extension Serve {
    static func logLevel(named name: String) throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            throw ValidationError(
                "unknown log level '\(name)': use trace, debug, info, notice, warning, error or critical")
        }
        return level
    }
}
