extension ListenerRouter {
    /// Renders a redirect action into its status and `Location` for one request.
    ///
    /// Components left nil keep the request's value; `#{protocol}`, `#{host}`, `#{port}`, `#{path}` (without its
    /// leading `/`) and `#{query}` are replaced by the request's values. The protocol is written in lower case.
    /// The port is always written, even when it is the scheme's default: a real ALB answers an HTTP→HTTPS
    /// redirect with `Location: https://host:443/` (see docs/configuration.md, "Redirects"). An empty query
    /// leaves out the `?`.
    ///
    /// - Parameters:
    ///   - host: the request's host without its port (the Host header, or the listener address without one).
    ///   - port: the listener port the request arrived on.
    ///   - path: the raw request path, starting with `/`.
    ///   - query: the raw query without `?`; nil when the request had none.
    public func renderRedirect(
        _ action: RedirectAction,
        protocol listenerProtocol: ListenerProtocol,
        host: String,
        port: Int,
        path: String,
        query: String?
    ) -> (status: Int, location: String) {
        Self.renderRedirect(action, protocol: listenerProtocol, host: host, port: port, path: path, query: query)
    }

    /// ``renderRedirect(_:protocol:host:port:path:query:)`` without a router.
    public static func renderRedirect(
        _ action: RedirectAction,
        protocol listenerProtocol: ListenerProtocol,
        host: String,
        port: Int,
        path: String,
        query: String?
    ) -> (status: Int, location: String) {
        let values = RedirectPlaceholderValues(
            protocol: listenerProtocol.lowercased,
            host: host,
            port: String(port),
            path: path.hasPrefix("/") ? String(path.dropFirst()) : path,
            query: query ?? ""
        )
        let scheme = RoutingText.asciiLowercased(action.protocol.map { values.substitute($0) } ?? values.protocol)
        let newHost = action.host.map { values.substitute($0) } ?? host
        let newPort = action.port.map { values.substitute($0) } ?? values.port
        var newPath = action.path.map { values.substitute($0) } ?? path
        if !newPath.hasPrefix("/") { newPath = "/" + newPath }
        let newQuery = action.query.map { values.substitute($0) } ?? (query ?? "")
        var location = scheme + "://" + newHost + ":" + newPort + newPath
        if !newQuery.isEmpty { location += "?" + newQuery }
        return (action.statusCode, location)
    }
}

/// The request's values for the `#{...}` placeholders of a redirect.
struct RedirectPlaceholderValues {
    var `protocol`: String
    var host: String
    var port: String
    var path: String
    var query: String

    /// Replaces every known placeholder in `template`; unknown `#{...}` text is kept as written.
    func substitute(_ template: String) -> String {
        guard template.contains("#{") else { return template }
        var output = ""
        var rest = Substring(template)
        while let start = rest.firstRange(of: "#{") {
            output += rest[..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            guard let close = afterOpen.firstIndex(of: "}") else {
                rest = rest[start.lowerBound...]
                break
            }
            let name = afterOpen[..<close]
            switch name {
            case "protocol": output += `protocol`
            case "host": output += host
            case "port": output += port
            case "path": output += path
            case "query": output += query
            default: output += rest[start.lowerBound...close]
            }
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        output += rest
        return output
    }
}
