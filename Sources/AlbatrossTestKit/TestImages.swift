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
}
