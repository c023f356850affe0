internal import Foundation

/// Path arithmetic for configuration values: relative paths resolve against the configuration file's
/// directory and are stored absolute and normalised, so later stages never depend on the working directory.
enum FilePaths {
    static func absolute(_ path: String, relativeTo base: String) -> String {
        let expanded = path.hasPrefix("~/") ? NSString(string: path).expandingTildeInPath : path
        let joined = expanded.hasPrefix("/") ? expanded : base + "/" + expanded
        return normalise(joined)
    }

    /// Removes `.` and empty components and folds `..` lexically (symbolic links are left alone).
    static func normalise(_ path: String) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }

    enum Kind { case missing, directory, file }

    static func kind(_ path: String) -> Kind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .missing }
        return isDirectory.boolValue ? .directory : .file
    }

    static func isExecutableFile(_ path: String) -> Bool {
        kind(path) == .file && FileManager.default.isExecutableFile(atPath: path)
    }

    static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileReadNoSuchFileError {
            return "no such file"
        }
        return nsError.localizedDescription
    }
}
