import Foundation

/// Container images the tests build themselves, written by Tests/Python/oci_image.py (OCI layouts and `docker
/// save` tarballs, hostile ones too), since the machine has no registry and no image builder.
public enum TestImages {
    /// One tar entry of a layer: `type` is file, dir, symlink, link, chr or fifo; `source` a host file whose bytes
    /// are the content.
    public struct Entry: Sendable {
        public var name: String
        public var type: String
        public var content: String
        public var linkName: String
        public var mode: Int?
        public var source: String?

        public init(
            _ name: String, type: String = "file", content: String = "", linkName: String = "", mode: Int? = nil,
            source: String? = nil
        ) {
            self.name = name
            self.type = type
            self.content = content
            self.linkName = linkName
            self.mode = mode
            self.source = source
        }
    }

    /// Writes the image at `output` in `format` (`oci`, `docker`, `docker-oci`); returns the script's output (the
    /// manifest digest for the OCI forms).
    @discardableResult
    public static func write(
        format: String, output: String, layers: [[Entry]], config: [String: Any] = [:], gzip: Bool = false,
        tarFormat: String = "pax", corrupt: String? = nil, layerMediaType: String? = nil
    ) throws -> String {
        var spec: [String: Any] = [
            "format": format, "output": output, "gzip": gzip, "config": config, "tarFormat": tarFormat,
            "layers": layers.map { layer in
                layer.map { entry -> [String: Any] in
                    var item: [String: Any] = [
                        "name": entry.name, "type": entry.type, "content": entry.content, "linkname": entry.linkName,
                    ]
                    if let mode = entry.mode { item["mode"] = mode }
                    if let source = entry.source { item["source"] = source }
                    return item
                }
            },
        ]
        if let corrupt { spec["corrupt"] = corrupt }
        if let layerMediaType { spec["layerMediaType"] = layerMediaType }
        let input = Pipe()
        let output = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "\(PackagePaths.root)/Tests/Python/oci_image.py"]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: spec))
        try input.fileHandleForWriting.close()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "oci_image.py failed"])
        }
        return String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A shared library `ldd` names: the host file, and whether it is the dynamic loader (which a program names by
    /// its path, so that an image must hold it there; the others are found through the search path).
    public struct Library: Sendable, Hashable {
        public var path: String
        public var isLoader: Bool
    }

    /// The shared libraries of `binaries` (executables and extension modules), each once, in the order one `ldd`
    /// names them: what a rootfs of host binaries needs beside them.
    public static func sharedLibraries(of binaries: [String]) throws -> [Library] {
        let text = try output(of: "/usr/bin/ldd", binaries)
        var libraries: [Library] = []
        var seen: Set<String> = []
        for line in text.split(separator: "\n") {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`;
            // with several binaries, each one's list follows a `/path/of/it:` line.
            let words = line.split(separator: " ").map { $0.trimmingCharacters(in: .whitespaces) }
            if words.count == 1 && words[0].hasSuffix(":") { continue }
            guard let path = words.first(where: { $0.hasPrefix("/") }), seen.insert(path).inserted else { continue }
            libraries.append(Library(path: path, isLoader: !words.contains("=>")))
        }
        return libraries
    }

    /// A Python interpreter's files, as Tests/Python/host_python.py finds them: what an image needs to run it
    /// without the host's file system.
    public struct HostPython: Sendable {
        /// Files under `root`: paths relative to it with their permission bits.
        public struct Files: Sendable {
            public var root: String
            public var files: [(path: String, mode: Int)]
        }

        /// `3.11`.
        public var version: String
        /// The real binary (not a venv's link to it).
        public var executable: String
        /// The standard library without the test suite, IDLE, tkinter, C headers and caches.
        public var standardLibrary: Files
        /// The extension modules (`lib-dynload`), without the test suite's.
        public var extensionModules: Files
        /// The installed files of the distributions asked for and of everything they require, from site-packages.
        public var packages: Files
    }

    /// Describes `interpreter` (the project venv's by default) and the installed `distributions`.
    public static func hostPython(
        _ interpreter: String = PackagePaths.venvPython, distributions: [String]
    ) throws -> HostPython {
        let text = try output(of: interpreter, ["\(PackagePaths.root)/Tests/Python/host_python.py"] + distributions)
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let version = object["version"] as? String, let executable = object["executable"] as? String
        else { throw ChildProcessError("host_python.py printed \(text.prefix(200))") }
        func files(_ key: String) throws -> HostPython.Files {
            guard let part = object[key] as? [String: Any], let root = part["root"] as? String,
                let list = part["files"] as? [[Any]]
            else { throw ChildProcessError("host_python.py printed no \(key)") }
            return HostPython.Files(
                root: root,
                files: list.compactMap { item in
                    guard item.count == 2, let path = item[0] as? String, let mode = item[1] as? Int else { return nil }
                    return (path, mode)
                })
        }
        return HostPython(
            version: version, executable: executable, standardLibrary: try files("stdlib"),
            extensionModules: try files("dynload"), packages: try files("packages"))
    }

    /// What `executable` printed on its standard output, run by
    /// ``AlbatrossCommand/runBlocking(executable:_:environment:timeout:)`` for at most a minute; throws when it fails.
    static func output(of executable: String, _ arguments: [String]) throws -> String {
        let result = try AlbatrossCommand.runBlocking(executable: executable, arguments, timeout: 60)
        guard result.exited && result.status == 0 else {
            throw ChildProcessError("\(executable) \(arguments.joined(separator: " ")) failed: \(result)")
        }
        return result.stdout
    }
}
