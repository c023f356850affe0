import AlbatrossApp
import ArgumentParser
import Configuration
import Deployment
import Foundation
import LambdaModel
import Registry

/// Opens the store of a configuration's data directory. Works whether `serve` is running or not: the store is
/// SQLite in WAL mode, and a running server notices changes within a second.
func openRegistry(configPath: String) throws -> (AlbatrossConfiguration, Registry) {
    let configuration: AlbatrossConfiguration
    do {
        configuration = try ConfigurationLoader.load(path: configPath)
    } catch {
        throw CommandFailure("\(error)")
    }
    do {
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        return (configuration, try Registry(dataDirectory: configuration.dataDirectory, account: configuration.account))
    } catch {
        throw CommandFailure("\(error)")
    }
}

/// Runs a command body, turning failures into a message on standard error and exit status 1.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let failure as CommandFailure {
        ConsoleOutput.error("albatross: \(failure)")
        throw ExitCode(1)
    } catch let error as RegistryError {
        ConsoleOutput.error("albatross: \(error.errorType): \(error.message)")
        throw ExitCode(1)
    } catch let error as ConfigurationError {
        ConsoleOutput.error("albatross: \(error)")
        throw ExitCode(1)
    }
}

/// A plain-text table with aligned columns.
func table(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows {
        for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in
            i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

func routingText(_ routing: AliasRouting) -> String {
    var text = routing.primaryVersion
    if let additional = routing.additionalVersion {
        let primaryShare = Int(((1 - routing.additionalWeight) * 1000).rounded())
        let share = Int((routing.additionalWeight * 1000).rounded())
        text = "\(routing.primaryVersion) (\(Double(primaryShare) / 10)%), \(additional) (\(Double(share) / 10)%)"
    }
    if let sticky = routing.stickiness { text += ", sticky by \(sticky)" }
    return text
}

struct Functions: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Functions in the store.", subcommands: [List.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every function with its versions and aliases.")
        @Option(name: .shortAndLong, help: "The YAML configuration file (its data directory holds the store).")
        var config: String

        func run() throws {
            try reportingFailures {
                let (_, registry) = try openRegistry(configPath: config)
                var rows: [[String]] = []
                for latest in try registry.functions() {
                    let versions = try registry.versions(functionName: latest.functionName).compactMap(\.number)
                    let aliases = try registry.aliases(functionName: latest.functionName).map(\.name)
                    rows.append([
                        latest.functionName, latest.configuration.runtime.identifier,
                        versions.isEmpty ? "-" : versions.map(String.init).joined(separator: ","),
                        aliases.isEmpty ? "-" : aliases.joined(separator: ","), latest.codeSha256, latest.lastModified,
                    ])
                }
                ConsoleOutput.line(
                    table(["FUNCTION", "RUNTIME", "VERSIONS", "ALIASES", "$LATEST CODE SHA256", "LAST MODIFIED"], rows))
            }
        }
    }
}

struct Versions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a function's versions and its aliases.")
    @Argument(help: "The function name.") var name: String
    @Option(name: .shortAndLong, help: "The YAML configuration file.") var config: String

    func run() throws {
        try reportingFailures {
            let (_, registry) = try openRegistry(configPath: config)
            let rows = try registry.versions(functionName: name).map { v in
                [
                    v.version, v.codeSha256, String(v.codeSize), v.configuration.runtime.identifier,
                    v.configuration.handler, "\(v.configuration.memorySize) MB", "\(v.configuration.timeout) s",
                    v.lastModified, v.description,
                ]
            }
            ConsoleOutput.line(
                table(
                    [
                        "VERSION", "CODE SHA256", "SIZE", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "LAST MODIFIED",
                        "DESCRIPTION",
                    ], rows))
            let aliases = try registry.aliases(functionName: name)
            if !aliases.isEmpty {
                ConsoleOutput.line("")
                ConsoleOutput.line(table(["ALIAS", "ROUTES TO"], aliases.map { [$0.name, routingText($0.routing)] }))
            }
        }
    }
}

struct Publish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a function's $LATEST (as the configuration describes it now) as a new version.",
        discussion: "Publishing with nothing changed since the last version returns that version, as AWS does.")
    @Argument(help: "The function name.") var name: String
    @Option(name: .shortAndLong, help: "The YAML configuration file.") var config: String
    @Option(name: .long, help: "The version's description.") var description: String?

    func run() throws {
        try reportingFailures {
            let (configuration, registry) = try openRegistry(configPath: config)
            guard configuration.functions.contains(where: { $0.name == name }) else {
                throw CommandFailure(
                    "function \(name) is not in \(config) (functions: "
                        + configuration.functions.map(\.name).joined(separator: ", ") + ")")
            }
            // Nil when the store does not know the function yet (a first publish before any `serve`).
            let before = (try? registry.versions(functionName: name))?.compactMap(\.number).max()
            // The same function as the control API's PublishVersion.
            let version = try ConfigurationApplier.publish(
                name, declaredIn: configuration, registry: registry, description: description)
            let note = version.number == before ? " (nothing changed since it was published)" : ""
            ConsoleOutput.line("\(name): version \(version.version)\(note)")
            ConsoleOutput.line("  CodeSha256 \(version.codeSha256)  RevisionId \(version.revisionId)")
            ConsoleOutput.line("  \(version.arn)")
        }
    }
}

struct Alias: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or change aliases.", subcommands: [Set.self, List.self])

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point an alias at a version, optionally sending a share of traffic to a second one.",
            discussion: """
                Examples:
                  albatross alias set checkout live --version 1 -c config.yaml
                  albatross alias set checkout live --version 1 --weight 2=0.1 --sticky header:x-user -c config.yaml
                A running server applies the change to the next request. --weight with an empty value (--weight '') \
                removes the split. Sticky keys: header:<name>, cookie:<name>, client-address.
                """)
        @Argument(help: "The function name.") var name: String
        @Argument(help: "The alias name.") var alias: String
        @Option(name: .long, help: "The primary version ($LATEST or a number).") var version: String
        @Option(name: .long, help: "VERSION=WEIGHT: the additional version and its share (0.0–1.0).") var weight:
            String?
        @Option(name: .long, help: "Keep callers on one version: header:<name>, cookie:<name> or client-address.")
        var sticky: String?
        @Option(name: .long, help: "The alias description.") var description: String?
        @Option(name: .shortAndLong, help: "The YAML configuration file.") var config: String

        func run() throws {
            try reportingFailures {
                let (_, registry) = try openRegistry(configPath: config)
                var routing = AliasRouting(primaryVersion: version)
                if let weight, !weight.isEmpty {
                    let parts = weight.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, let share = Double(parts[1]) else {
                        throw CommandFailure("--weight must be VERSION=WEIGHT, e.g. 2=0.1, got \(weight)")
                    }
                    routing.additionalVersion = parts[0]
                    routing.additionalWeight = share
                }
                if let sticky {
                    guard let stickiness = Stickiness(sticky) else {
                        throw CommandFailure("--sticky must be header:<name>, cookie:<name> or client-address")
                    }
                    routing.stickiness = stickiness
                }
                let exists = try registry.aliases(functionName: name).contains { $0.name == alias }
                let record =
                    exists
                    ? try registry.updateAlias(
                        functionName: name, name: alias, routing: routing, description: description)
                    : try registry.createAlias(
                        functionName: name, name: alias, routing: routing, description: description ?? "")
                ConsoleOutput.line("\(record.arn) → \(routingText(record.routing))  (RevisionId \(record.revisionId))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a function's aliases.")
        @Argument(help: "The function name.") var name: String
        @Option(name: .shortAndLong, help: "The YAML configuration file.") var config: String

        func run() throws {
            try reportingFailures {
                let (_, registry) = try openRegistry(configPath: config)
                let rows = try registry.aliases(functionName: name).map {
                    [$0.name, routingText($0.routing), $0.revisionId, $0.description]
                }
                ConsoleOutput.line(table(["ALIAS", "ROUTES TO", "REVISION ID", "DESCRIPTION"], rows))
            }
        }
    }
}
