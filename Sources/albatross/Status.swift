import AlbatrossApp
import ArgumentParser
import Configuration
import Foundation
import Observability

/// `albatross status`: what a running server serves now, from its admin listener's `GET /status`.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a running server serves: listeners, rules, functions, aliases, environments, counts.",
        discussion: """
            Asks the admin listener of the server started with the same configuration (its `admin:` section) for \
            GET /status. --json prints the document as it is.
            """)

    @Option(name: .shortAndLong, help: "The YAML configuration file the server runs (its admin: section).")
    var config: String?

    @Option(help: "The admin listener to ask instead, as host:port (e.g. 127.0.0.1:9090).")
    var admin: String?

    @Flag(help: "Print the JSON document of GET /status.")
    var json = false

    func validate() throws {
        if config == nil && admin == nil { throw ValidationError("give -c/--config or --admin host:port") }
    }

    func run() throws {
        try reportingFailures {
            let (host, port) = try adminAddress()
            let body = try AdminClient.get(host: host, port: port, path: "/status")
            if json {
                FileHandle.standardOutput.write(Data(body.utf8))
                return
            }
            let report: StatusReport
            do {
                report = try JSONDecoder().decode(StatusReport.self, from: Data(body.utf8))
            } catch {
                throw CommandFailure("the admin listener at \(host):\(port) answered /status with no status document")
            }
            print(StatusText.render(report), terminator: "")
        }
    }

    private func adminAddress() throws -> (String, Int) {
        try AdminClient.address(config: config, admin: admin)
    }
}

/// The human form of a ``StatusReport``: sections of aligned columns.
enum StatusText {
    static func render(_ report: StatusReport) -> String {
        var out = ""
        let server = report.server
        out += "albatross pid \(server.pid), up \(duration(server.uptimeSeconds)) (since \(server.startedAt))\n"
        out += "data directory \(server.dataDirectory)\n"
        if let groups = server.controlGroups { out += "control groups \(groups)\n" }
        out += "\nlisteners\n"
        for listener in report.listeners {
            out += "  \(listener.url ?? "port \(listener.port)") (\(listener.protocol))\n"
            let width = listener.rules.map { String($0.priority).count }.max() ?? 0
            for rule in listener.rules {
                let conditions = rule.conditions.map { condition in
                    let values = condition.values.joined(separator: ",")
                    return condition.headerName.map { "\(condition.field) \($0)=\(values)" }
                        ?? "\(condition.field) \(values)"
                }
                let priority = String(repeating: " ", count: width - String(rule.priority).count) + "\(rule.priority)"
                out += "    \(priority)  \(conditions.joined(separator: " & ")) → \(action(rule.action))\n"
            }
            out += "    default → \(action(listener.defaultAction))\n"
        }
        out += "\ntarget groups\n"
        out += table(
            ["NAME", "TARGET"], report.targetGroups.map { [$0.name, $0.target ?? "(none: 503)"] })
        out += "\nfunctions\n"
        out += table(
            ["FUNCTION", "VERSION", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "MAX CONCURRENCY"],
            report.functions.flatMap { function in
                function.versions.map { version in
                    [
                        function.name, version.version, version.runtime, version.handler, "\(version.memorySize) MB",
                        "\(version.timeout) s", "\(version.maximumConcurrency)",
                    ]
                }
            })
        let aliases = report.functions.flatMap { function in
            function.aliases.map { alias -> [String] in
                let weights = alias.additionalVersionWeights.sorted { $0.key < $1.key }.map { version, weight in
                    "\(version) at \(percent(weight))"
                }
                return [
                    function.name, alias.name, alias.functionVersion,
                    weights.isEmpty ? "-" : weights.joined(separator: ", "), alias.stickiness ?? "-",
                ]
            }
        }
        if !aliases.isEmpty {
            out += "\naliases\n"
            out += table(["FUNCTION", "ALIAS", "VERSION", "ADDITIONAL", "STICKY"], aliases)
        }
        out += "\nenvironments\n"
        if report.environments.isEmpty {
            out += "  (none running)\n"
        } else {
            out += table(
                ["FUNCTION", "VERSION", "STATE", "PID", "AGE", "IDLE", "INVOCATIONS", "LOG STREAM"],
                report.environments.map { environment in
                    [
                        environment.function, environment.version, environment.state,
                        environment.pid.map(String.init) ?? "-", duration(environment.ageSeconds),
                        environment.state == "busy" ? "-" : duration(environment.idleSeconds),
                        "\(environment.invocations)", environment.logStream,
                    ]
                })
        }
        out += "\ninvocations since start\n"
        if report.invocations.isEmpty {
            out += "  (none)\n"
        } else {
            out += table(
                ["FUNCTION", "RESOURCE", "EXECUTED VERSION", "INVOCATIONS", "ERRORS", "THROTTLES", "COLD STARTS"],
                report.invocations.map { totals in
                    [
                        totals.function, totals.resource.isEmpty ? "-" : totals.resource, totals.executedVersion,
                        "\(totals.invocations)", "\(totals.errors)", "\(totals.throttles)", "\(totals.coldStarts)",
                    ]
                })
        }
        return out
    }

    static func action(_ action: StatusReport.Action) -> String {
        switch action.type {
        case "forward":
            let groups = action.targetGroups ?? []
            if groups.count == 1 { return "forward \(groups[0].name)" }
            return "forward " + groups.map { "\($0.name) (weight \($0.weight))" }.joined(separator: ", ")
        case "redirect":
            return "redirect \(action.statusCode.map(String.init) ?? "") \(action.location ?? "")"
        default:
            return "fixed-response \(action.statusCode.map(String.init) ?? "")"
        }
    }

    static func percent(_ weight: Double) -> String {
        let value = weight * 100
        return value == value.rounded() ? "\(Int(value)) %" : "\(value) %"
    }

    /// `42 s`, `5m 3s`, `2h 10m`, `3d 4h`.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds)
        if whole < 60 { return seconds < 10 ? String(format: "%.1f s", seconds) : "\(whole) s" }
        if whole < 3600 { return "\(whole / 60)m \(whole % 60)s" }
        if whole < 86400 { return "\(whole / 3600)h \(whole % 3600 / 60)m" }
        return "\(whole / 86400)d \(whole % 86400 / 3600)h"
    }

    /// Left-aligned columns, two spaces apart, indented by two.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        var widths = Array(repeating: 0, count: header.count)
        for row in all {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return all.map { row in
            "  "
                + row.enumerated().map { index, cell in
                    index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

/// One blocking request to the admin listener (which answers one request per connection and closes), with a
/// 5-second timeout by default on connecting, sending and every read, and a 16 MiB bound on the answer.
enum AdminClient {
    /// The admin listener to ask: `--admin host:port`, or the `admin:` section of the configuration file.
    static func address(config: String?, admin: String?) throws -> (String, Int) {
        if let admin {
            guard let colon = admin.lastIndex(of: ":"), let port = Int(admin[admin.index(after: colon)...]),
                (1...65535).contains(port)
            else {
                throw CommandFailure("--admin must be host:port, got \"\(admin)\"")
            }
            let host = String(admin[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            return (host, port)
        }
        let path = config ?? ""
        let configuration: AlbatrossConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: path)
        } catch {
            throw CommandFailure("\(error)")
        }
        guard let settings = configuration.admin else {
            throw CommandFailure(
                "\(path) has no admin: section, so the server has no admin listener to ask; add `admin: {port: 9090}`")
        }
        guard settings.port != 0 else {
            throw CommandFailure("\(path) binds the admin listener to port 0 (any free port): use --admin host:port")
        }
        // A wildcard bind is reached on loopback.
        let host = settings.address == "0.0.0.0" ? "127.0.0.1" : settings.address == "::" ? "::1" : settings.address
        return (host, settings.port)
    }

    /// `GET path`; anything but 200 is a failure.
    static func get(host: String, port: Int, path: String) throws -> String {
        let (status, body) = try request(host: host, port: port, method: "GET", path: path)
        guard status == 200 else {
            throw CommandFailure("the admin listener \(host):\(port) answered \(path) with HTTP \(status)")
        }
        return body
    }

    /// One request; returns the status code and the body.
    static func request(
        host: String, port: Int, method: String, path: String, body: String = "", timeoutSeconds: Int = 5
    ) throws -> (Int, String) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            throw CommandFailure("cannot resolve the admin listener's address \(host)")
        }
        defer { freeaddrinfo(found) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard descriptor >= 0 else { throw CommandFailure("cannot make a socket (errno \(errno))") }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let shown = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        guard connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw CommandFailure(
                "no server answers on the admin listener \(shown) (\(String(cString: strerror(errno)))); is "
                    + "`albatross serve` running with this configuration?")
        }
        let length = body.utf8.count
        let request = Array(
            "\(method) \(path) HTTP/1.1\r\nHost: \(shown)\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\n\r\n\(body)"
                .utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, 0) }) == request.count else {
            throw CommandFailure("cannot send the request to \(shown)")
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while answer.count < 16 << 20 {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            guard count > 0 else {
                throw CommandFailure("the admin listener \(shown) did not answer within \(timeoutSeconds) s")
            }
            answer.append(contentsOf: chunk[0..<count])
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else {
            throw CommandFailure("the admin listener \(shown) sent an incomplete answer")
        }
        let statusLine = text[..<split.lowerBound].prefix { $0 != "\r" }
        let code = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        guard statusLine.hasPrefix("HTTP/1.1 "), let code else {
            throw CommandFailure("the admin listener \(shown) answered \(path) with \(statusLine)")
        }
        return (code, String(text[split.upperBound...]))
    }
}
