import AlbatrossApp
import ArgumentParser
import Foundation
import LambdaModel
import Registry

/// `albatross layers publish|list`: layer versions in the store of a configuration's data directory, so that
/// functions can name them in `layers:`.
struct Layers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish and list layer versions.", subcommands: [Publish.self, List.self])

    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a directory or .zip as the next version of a layer.",
            discussion: """
                Publishing the same content with the same description again returns the latest version, as \
                function publishing does. A directory is packed deterministically.
                Example: albatross layers publish common --code ./layers/common -c config.yaml
                """)
        @Argument(help: "The layer name.") var name: String
        @Option(name: .long, help: "A directory or a .zip file.") var code: String
        @Option(name: .long, help: "The version's description.") var description: String = ""
        @Option(name: .long, parsing: .upToNextOption, help: "Compatible runtimes (informational).")
        var compatibleRuntimes: [String] = []
        @Option(name: .shortAndLong, help: "The YAML configuration file.") var config: String

        func run() throws {
            try reportingFailures {
                let (_, registry) = try openRegistry(configPath: config)
                let path = code.hasPrefix("/") ? code : FileManager.default.currentDirectoryPath + "/" + code
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw CommandFailure("--code \(code) does not exist")
                }
                guard isDirectory.boolValue || path.lowercased().hasSuffix(".zip") else {
                    throw CommandFailure("--code must be a directory or a .zip file, got \(code)")
                }
                let before = try registry.layerVersions(name: name).first?.version
                let record = try registry.publishLayerVersion(
                    name: name, content: isDirectory.boolValue ? .directory(path) : .zip(path),
                    description: description, compatibleRuntimes: compatibleRuntimes)
                let note = record.version == before ? " (nothing changed since it was published)" : ""
                ConsoleOutput.line("\(name): version \(record.version)\(note)")
                ConsoleOutput.line("  CodeSha256 \(record.codeSha256)  \(record.codeSize) bytes")
                ConsoleOutput.line("  \(record.arn)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every layer with its latest version, or every version of one layer (newest first).")
        @Argument(help: "A layer name; without it, every layer.") var name: String?
        @Option(name: .shortAndLong, help: "The YAML configuration file.") var config: String

        func run() throws {
            try reportingFailures {
                let (_, registry) = try openRegistry(configPath: config)
                let records = try name.map { try registry.layerVersions(name: $0) } ?? registry.latestLayerVersions()
                if let name, records.isEmpty {
                    throw CommandFailure("layer \(name) has no published version")
                }
                let rows = records.map { r in
                    [
                        r.name, String(r.version), r.codeSha256, String(r.codeSize),
                        r.compatibleRuntimes.isEmpty ? "-" : r.compatibleRuntimes.joined(separator: ","),
                        r.createdDate, r.description,
                    ]
                }
                ConsoleOutput.line(
                    table(
                        [
                            "LAYER", name == nil ? "LATEST" : "VERSION", "CODE SHA256", "SIZE", "RUNTIMES", "CREATED",
                            "DESCRIPTION",
                        ], rows))
            }
        }
    }
}
