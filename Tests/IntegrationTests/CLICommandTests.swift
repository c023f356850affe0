import AlbatrossTestKit
import Foundation
import LambdaModel
import Registry
import Testing

/// The store commands of the real `albatross` executable (`functions list`, `versions`, `publish`, `alias set`,
/// `alias list`, `layers publish`, `layers list`), each run as a process against one configuration: what it
/// prints, line by line, and its exit status; and what it changed in the store.
@Suite(.serialized)
struct CLICommandTests {
    static let account = AccountContext()
    static let arn = "arn:aws:lambda:us-east-1:123456789012"

    /// A function whose bootstrap prints its label and the version that runs it.
    static func writeFunction(in dir: TemporaryDirectory, label: String) throws {
        let handler = #"printf '{"statusCode":200,"body":"\#(label) %s"}' "$AWS_LAMBDA_FUNCTION_VERSION""#
        try TestFunctions.writeBash(in: dir, name: "fn", handler: handler)
    }

    static func configuration(in dir: TemporaryDirectory, extra: String = "") throws -> String {
        try dir.write(
            "c.yaml",
            """
            dataDirectory: ./data
            functions:
              - {name: fn, runtime: provided.al2023, handler: fn.handler, code: ./fn, memorySize: 256, timeout: 7}
            \(extra)
            """)
    }

    /// Runs `albatross <arguments> -c <config>`.
    static func albatross(_ arguments: [String], config: String) async throws -> AlbatrossCommand.Result {
        try await AlbatrossCommand.run(arguments + ["-c", config])
    }

    /// Expects exit status 1, nothing on standard output and exactly `message` (one line) on standard error.
    static func expectFailure(
        _ result: AlbatrossCommand.Result, _ message: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status == 1 && result.exited, "\(result)", sourceLocation: sourceLocation)
        #expect(result.stdout == "", "\(result)", sourceLocation: sourceLocation)
        #expect(result.stderr == message + "\n", "\(result)", sourceLocation: sourceLocation)
    }

    @Test func publishVersionsAliasesAndFunctionsListPrintExactlyWhatTheStoreHolds() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeFunction(in: dir, label: "one")
        let config = try Self.configuration(in: dir)

        // A fresh data directory: an empty list, and no such function yet.
        let empty = try await Self.albatross(["functions", "list"], config: config)
        #expect(empty.status == 0 && empty.stderr == "", "\(empty)")
        #expect(empty.stdout == "FUNCTION  RUNTIME  VERSIONS  ALIASES  $LATEST CODE SHA256  LAST MODIFIED\n")
        Self.expectFailure(
            try await Self.albatross(["versions", "fn"], config: config),
            "albatross: ResourceNotFoundException: Function not found: \(Self.arn):function:fn")

        // Publishing: version 1, then the same again (nothing changed), then new code as version 2.
        let first = try await Self.albatross(["publish", "fn"], config: config)
        #expect(first.status == 0 && first.stderr == "", "\(first)")
        let published = try #require(Self.publishedLines(first, function: "fn", version: 1, note: ""))
        let again = try await Self.albatross(["publish", "fn"], config: config)
        #expect(again.status == 0, "\(again)")
        let republished = Self.publishedLines(
            again, function: "fn", version: 1, note: " (nothing changed since it was published)")
        #expect(republished?.sha == published.sha && republished?.revision == published.revision, "\(again)")
        try Self.writeFunction(in: dir, label: "two")
        let second = try await Self.albatross(["publish", "fn", "--description", "second cut"], config: config)
        let secondLines = try #require(Self.publishedLines(second, function: "fn", version: 2, note: ""))
        #expect(secondLines.sha != published.sha, "new code, new CodeSha256")

        let registry = try Registry(dataDirectory: dir.url("data"), account: Self.account)
        let records = try registry.versions(functionName: "fn")
        #expect(records.map(\.version) == ["$LATEST", "1", "2"])
        #expect(records.map(\.codeSha256) == [secondLines.sha, published.sha, secondLines.sha])
        #expect(records[2].description == "second cut")

        // `versions`: one aligned row per version, the store's values; no alias section yet.
        let versions = try await Self.albatross(["versions", "fn"], config: config)
        #expect(versions.status == 0 && versions.stderr == "", "\(versions)")
        let table = try #require(TextTable(versions.lines))
        #expect(
            table.header == [
                "VERSION", "CODE SHA256", "SIZE", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "LAST MODIFIED",
                "DESCRIPTION",
            ])
        #expect(
            table.rows
                == records.map {
                    [
                        $0.version, $0.codeSha256, String($0.codeSize), "provided.al2023", "fn.handler", "256 MB",
                        "7 s",
                        $0.lastModified, $0.description,
                    ]
                }, "\(versions)")
        #expect(table.isAligned, "\(versions)")
        #expect(records.allSatisfy { Self.isTimestamp($0.lastModified) })

        // `alias set` with a weighted, sticky split; the header name is stored in lower case.
        let set = try await Self.albatross(
            ["alias", "set", "fn", "live", "--version", "1", "--weight", "2=0.25", "--sticky", "header:X-User"],
            config: config)
        #expect(set.status == 0 && set.stderr == "", "\(set)")
        var alias = try registry.alias(functionName: "fn", name: "live")
        #expect(
            alias.routing
                == AliasRouting(
                    primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.25, stickiness: .header("x-user")))
        #expect(
            set.stdout
                == "\(Self.arn):function:fn:live → 1 (75.0%), 2 (25.0%), sticky by header:x-user  "
                + "(RevisionId \(alias.revisionId))\n")
        let list = try await Self.albatross(["alias", "list", "fn"], config: config)
        #expect(list.status == 0 && list.stderr == "", "\(list)")
        let aliases = try #require(TextTable(list.lines))
        #expect(aliases.header == ["ALIAS", "ROUTES TO", "REVISION ID", "DESCRIPTION"])
        #expect(aliases.rows == [["live", "1 (75.0%), 2 (25.0%), sticky by header:x-user", alias.revisionId, ""]])
        #expect(aliases.isAligned, "\(list)")

        // `versions` now ends with the aliases, after an empty line.
        let withAliases = try await Self.albatross(["versions", "fn"], config: config)
        let lines = withAliases.lines
        #expect(lines.count == 1 + records.count + 3, "\(withAliases)")
        #expect(Array(lines.prefix(1 + records.count)) == versions.lines)
        #expect(
            Array(lines.suffix(3)) == [
                "", "ALIAS  ROUTES TO", "live   1 (75.0%), 2 (25.0%), sticky by header:x-user",
            ], "\(withAliases)")

        // Shares are printed to a tenth of a percent; client-address stickiness.
        let third = try await Self.albatross(
            ["alias", "set", "fn", "canary", "--version", "2", "--weight", "1=0.333", "--sticky", "client-address"],
            config: config)
        #expect(third.status == 0, "\(third)")
        #expect(third.stdout.contains("fn:canary → 2 (66.7%), 1 (33.3%), sticky by client-address  (RevisionId "))

        // Setting again without --weight/--sticky replaces the routing (a new RevisionId); '' also clears weights.
        let cleared = try await Self.albatross(
            ["alias", "set", "fn", "live", "--version", "2", "--weight", "", "--description", "all on two"],
            config: config)
        let before = alias.revisionId
        alias = try registry.alias(functionName: "fn", name: "live")
        #expect(alias.routing == AliasRouting(primaryVersion: "2") && alias.description == "all on two")
        #expect(alias.revisionId != before)
        #expect(cleared.stdout == "\(Self.arn):function:fn:live → 2  (RevisionId \(alias.revisionId))\n", "\(cleared)")

        // `functions list`: one row per function, with its versions, aliases and $LATEST's code.
        let functions = try await Self.albatross(["functions", "list"], config: config)
        #expect(functions.status == 0 && functions.stderr == "", "\(functions)")
        let functionTable = try #require(TextTable(functions.lines))
        #expect(
            functionTable.header == [
                "FUNCTION", "RUNTIME", "VERSIONS", "ALIASES", "$LATEST CODE SHA256", "LAST MODIFIED",
            ])
        let latest = try registry.versions(functionName: "fn")[0]
        #expect(
            functionTable.rows == [
                ["fn", "provided.al2023", "1,2", "canary,live", secondLines.sha, latest.lastModified]
            ], "\(functions)")
        #expect(functionTable.isAligned, "\(functions)")
    }

    @Test func refusedAliasesAndUnknownNamesAreClearErrorsThatChangeNothing() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeFunction(in: dir, label: "one")
        let config = try Self.configuration(in: dir)
        #expect(try await Self.albatross(["publish", "fn"], config: config).status == 0)
        try Self.writeFunction(in: dir, label: "two")
        #expect(try await Self.albatross(["publish", "fn"], config: config).status == 0)
        #expect(try await Self.albatross(["alias", "set", "fn", "live", "--version", "1"], config: config).status == 0)
        let registry = try Registry(dataDirectory: dir.url("data"), account: Self.account)
        let stored = try registry.alias(functionName: "fn", name: "live")

        func aliasSet(_ arguments: [String]) async throws -> AlbatrossCommand.Result {
            try await Self.albatross(["alias", "set", "fn", "live"] + arguments, config: config)
        }
        Self.expectFailure(
            try await aliasSet(["--version", "1", "--weight", "2"]),
            "albatross: --weight must be VERSION=WEIGHT, e.g. 2=0.1, got 2")
        Self.expectFailure(
            try await aliasSet(["--version", "1", "--weight", "2=lots"]),
            "albatross: --weight must be VERSION=WEIGHT, e.g. 2=0.1, got 2=lots")
        Self.expectFailure(
            try await aliasSet(["--version", "1", "--weight", "2=1.5"]),
            "albatross: ValidationException: 1 validation error detected: Value '{2=1.5}' at "
                + "'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy "
                + "constraint: [Member must have value less than or equal to 1.0, Member must have value greater "
                + "than or equal to 0.0, Member must not be null]")
        Self.expectFailure(
            try await aliasSet(["--version", "1", "--weight", "1=0.5"]),
            "albatross: InvalidParameterValueException: Invalid function version 1. Function version 1 is already "
                + "included in routing configuration.")
        Self.expectFailure(
            try await aliasSet(["--version", "$LATEST", "--weight", "2=0.5"]),
            "albatross: InvalidParameterValueException: $LATEST is not supported for an alias pointing to more "
                + "than 1 version")
        Self.expectFailure(
            try await aliasSet(["--version", "1", "--sticky", "session"]),
            "albatross: --sticky must be header:<name>, cookie:<name> or client-address")
        Self.expectFailure(
            try await aliasSet(["--version", "9"]),
            "albatross: ResourceNotFoundException: Function not found: \(Self.arn):function:fn:9")
        Self.expectFailure(
            try await Self.albatross(["alias", "set", "fn", "123", "--version", "1"], config: config),
            "albatross: ValidationException: 1 validation error detected: Value '123' at 'name' failed to satisfy "
                + "constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")
        #expect(try registry.alias(functionName: "fn", name: "live") == stored, "no failed command changed the alias")
        #expect(try registry.aliases(functionName: "fn").map(\.name) == ["live"])

        // Argument errors are ArgumentParser's: exit status 64 with the usage.
        let missing = try await aliasSet([])
        #expect(missing.status == 64 && missing.stdout == "", "\(missing)")
        #expect(missing.stderr.hasPrefix("Error: Missing expected argument '--version <version>'\n"), "\(missing)")
        #expect(missing.stderr.contains("Usage: albatross alias set <name> <alias> --version <version>"))

        // Unknown names, a configuration that does not exist.
        Self.expectFailure(
            try await Self.albatross(["publish", "nosuch"], config: config),
            "albatross: function nosuch is not in \(config) (functions: fn)")
        Self.expectFailure(
            try await Self.albatross(["versions", "nosuch"], config: config),
            "albatross: ResourceNotFoundException: Function not found: \(Self.arn):function:nosuch")
        Self.expectFailure(
            try await Self.albatross(["alias", "list", "nosuch"], config: config),
            "albatross: ResourceNotFoundException: Function not found: \(Self.arn):function:nosuch")
        let absent = dir.url("absent.yaml")
        Self.expectFailure(
            try await Self.albatross(["functions", "list"], config: absent),
            "albatross: \(absent): cannot read the configuration file: no such file")
        #expect(try registry.versions(functionName: "fn").map(\.version) == ["$LATEST", "1", "2"])
    }

    @Test func layersPublishAndListPrintEachVersion() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeFunction(in: dir, label: "one")
        let config = try Self.configuration(in: dir)
        try dir.write("layer/bin/tool", "#!/bin/sh\necho tool\n", executable: true)
        try dir.write("layer/lib/data.txt", "data\n")
        try dir.write("not-a-zip.txt", "text\n")
        let zipped = try await AlbatrossCommand.run(
            executable: "/usr/bin/env",
            [
                "python3", "-c",
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w'); z.writestr('python/m.py', 'X = 1\\n')",
                dir.url("layer.zip"),
            ])
        #expect(zipped.status == 0, "\(zipped)")

        let empty = try await Self.albatross(["layers", "list"], config: config)
        #expect(empty.status == 0 && empty.stderr == "", "\(empty)")
        #expect(empty.stdout == "LAYER  LATEST  CODE SHA256  SIZE  RUNTIMES  CREATED  DESCRIPTION\n")

        let arguments = [
            "layers", "publish", "common", "--code", dir.url("layer"), "--description", "shared tools",
            "--compatible-runtimes", "python3.11", "provided.al2023",
        ]
        let first = try await Self.albatross(arguments, config: config)
        #expect(first.status == 0 && first.stderr == "", "\(first)")
        let registry = try Registry(dataDirectory: dir.url("data"), account: Self.account)
        let v1 = try #require(try registry.layerVersions(name: "common").first)
        #expect(
            first.lines == [
                "common: version 1", "  CodeSha256 \(v1.codeSha256)  \(v1.codeSize) bytes",
                "  \(Self.arn):layer:common:1",
            ], "\(first)")
        #expect(v1.compatibleRuntimes == ["python3.11", "provided.al2023"] && v1.description == "shared tools")
        let same = try await Self.albatross(arguments, config: config)
        #expect(same.lines.first == "common: version 1 (nothing changed since it was published)", "\(same)")
        // The same content with another description is a new version.
        let relabelled = try await Self.albatross(
            ["layers", "publish", "common", "--code", dir.url("layer")], config: config)
        #expect(relabelled.lines.first == "common: version 2", "\(relabelled)")
        let fromZip = try await Self.albatross(
            ["layers", "publish", "pylib", "--code", dir.url("layer.zip")], config: config)
        #expect(fromZip.status == 0 && fromZip.lines.first == "pylib: version 1", "\(fromZip)")

        let all = try await Self.albatross(["layers", "list"], config: config)
        #expect(all.status == 0 && all.stderr == "", "\(all)")
        let latest = try #require(TextTable(all.lines))
        #expect(latest.header == ["LAYER", "LATEST", "CODE SHA256", "SIZE", "RUNTIMES", "CREATED", "DESCRIPTION"])
        #expect(latest.rows == (try registry.latestLayerVersions()).map(Self.row), "\(all)")
        #expect(latest.rows.map { $0[0] + ":" + $0[1] } == ["common:2", "pylib:1"], "\(all)")
        #expect(latest.isAligned, "\(all)")

        let common = try await Self.albatross(["layers", "list", "common"], config: config)
        let versions = try #require(TextTable(common.lines))
        #expect(versions.header[1] == "VERSION")
        #expect(versions.rows == (try registry.layerVersions(name: "common")).map(Self.row), "\(common)")
        #expect(versions.rows.map { $0[1] } == ["2", "1"], "newest first")
        #expect(versions.rows[1][4] == "python3.11,provided.al2023" && versions.rows[0][4] == "-")
        #expect(versions.isAligned, "\(common)")

        Self.expectFailure(
            try await Self.albatross(["layers", "list", "nosuch"], config: config),
            "albatross: layer nosuch has no published version")
        Self.expectFailure(
            try await Self.albatross(["layers", "publish", "other", "--code", dir.url("nope")], config: config),
            "albatross: --code \(dir.url("nope")) does not exist")
        Self.expectFailure(
            try await Self.albatross(
                ["layers", "publish", "other", "--code", dir.url("not-a-zip.txt")], config: config),
            "albatross: --code must be a directory or a .zip file, got \(dir.url("not-a-zip.txt"))")
        Self.expectFailure(
            try await Self.albatross(["layers", "publish", "bad name", "--code", dir.url("layer")], config: config),
            "albatross: InvalidParameterValueException: layer name may contain only letters, digits, hyphens (-) "
                + "and underscores (_): 'bad name'")
        #expect(try registry.latestLayerVersions().map(\.arn) == [v1.layerArn + ":2", "\(Self.arn):layer:pylib:1"])
    }

    @Test func publishWhileServingIsPickedUpByTheRunningServer() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeFunction(in: dir, label: "one")
        let config = try Self.configuration(
            in: dir,
            extra: """
                targetGroups:
                  - {name: latest, function: fn}
                  - {name: v1, function: "fn:1"}
                  - {name: v2, function: "fn:2"}
                listeners:
                  - port: 0
                    defaultAction: {forward: latest}
                    rules:
                      - {priority: 1, conditions: [{pathPattern: ["/v1"]}], action: {forward: v1}}
                      - {priority: 2, conditions: [{pathPattern: ["/v2"]}], action: {forward: v2}}
                """)
        let server = try await ServeProcess.start(configPath: config)
        defer { server.cleanUp() }
        func get(_ path: String) -> RawHTTPClient.Response? {
            try? RawHTTPClient(port: server.port, timeout: 10).request("GET", path)
        }
        #expect(get("/")?.text == "one $LATEST")
        let unpublished = get("/v1")
        #expect(unpublished?.status == 502 && unpublished?.text.contains("502 Bad Gateway") == true)

        let first = try await Self.albatross(["publish", "fn"], config: config)
        #expect(first.lines.first == "fn: version 1", "\(first)")
        #expect(
            await eventually(seconds: 10) { get("/v1")?.text == "one 1" },
            "the running server serves version 1 soon after it was published: \(server.output)")
        #expect(server.output.contains("albatross: versions or aliases changed in the store; now serving them"))

        // New code published as version 2 while version 1 keeps its own.
        try Self.writeFunction(in: dir, label: "two")
        let second = try await Self.albatross(["publish", "fn"], config: config)
        #expect(second.lines.first == "fn: version 2", "\(second)")
        #expect(await eventually(seconds: 10) { get("/v2")?.text == "two 2" }, "\(server.output)")
        #expect(get("/v1")?.text == "one 1")

        let stopped = await server.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }

    // MARK: helpers

    static func isTimestamp(_ text: String) -> Bool {
        text.wholeMatch(of: #/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000/#) != nil
    }

    static func row(_ record: LayerVersionRecord) -> [String] {
        [
            record.name, String(record.version), record.codeSha256, String(record.codeSize),
            record.compatibleRuntimes.isEmpty ? "-" : record.compatibleRuntimes.joined(separator: ","),
            record.createdDate, record.description,
        ]
    }

    /// The three lines `publish` prints; nil when they do not have that shape.
    static func publishedLines(
        _ result: AlbatrossCommand.Result, function: String, version: Int, note: String
    ) -> (sha: String, revision: String)? {
        let lines = result.lines
        guard result.status == 0, lines.count == 3, lines[0] == "\(function): version \(version)\(note)",
            lines[2] == "  \(arn):function:\(function):\(version)",
            let match = lines[1].wholeMatch(of: #/  CodeSha256 ([A-Za-z0-9+/]{43}=)  RevisionId ([0-9a-f-]{36})/#)
        else { return nil }
        return (String(match.1), String(match.2))
    }
}

/// A table as the CLI prints it: cells separated by two or more spaces (an empty last cell leaves the line
/// ending in spaces), every column starting at the same offset on every line.
struct TextTable {
    var header: [String]
    var rows: [[String]]
    private var offsets: [[Int]]

    init?(_ lines: [String]) {
        guard !lines.isEmpty else { return nil }
        let parsed = lines.map(Self.split)
        header = parsed[0].cells
        rows = parsed.dropFirst().map(\.cells)
        offsets = parsed.map(\.offsets)
    }

    /// Every non-empty cell of every row starts where its column's header does.
    var isAligned: Bool {
        offsets.dropFirst().allSatisfy { row in row.count <= offsets[0].count && zip(row, offsets[0]).allSatisfy(==) }
    }

    private static func split(_ line: String) -> (cells: [String], offsets: [Int]) {
        let characters = Array(line)
        var cells: [String] = []
        var offsets: [Int] = []
        var index = 0
        while index < characters.count {
            let start = index
            // A cell ends at two spaces in a row, or at a space that ends the line.
            while index < characters.count
                && !(characters[index] == " " && (index + 1 == characters.count || characters[index + 1] == " "))
            {
                index += 1
            }
            cells.append(String(characters[start..<index]))
            offsets.append(start)
            let gap = index
            while index < characters.count && characters[index] == " " { index += 1 }
            if index == characters.count && index > gap { cells.append("") }
        }
        return (cells, offsets)
    }
}
