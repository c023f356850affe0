import AlbatrossTestKit
import Foundation
import Testing

@testable import Images

/// Reading, verifying and unpacking images written by Tests/Python/oci_image.py: the three on-disk forms, whiteouts
/// across layers, and hostile layers that must be refused without writing anything outside the rootfs.
struct ImageStoreTests {
    typealias Entry = TestImages.Entry

    static let lower: [Entry] = [
        Entry("./etc/", type: "dir"),
        Entry("./etc/name", content: "lower"),
        Entry("./etc/gone", content: "whited out"),
        Entry("./var/cache/", type: "dir"),
        Entry("./var/cache/old", content: "opaque removes it"),
        Entry("./var/cache/keep/deep", content: "opaque removes it too"),
        Entry("./bin/", type: "dir"),
        Entry("./bin/tool", content: "#!/bin/sh\n", mode: 0o4755),
        Entry("./bin/alias", type: "symlink", linkName: "tool"),
        Entry("./bin/hard", type: "link", linkName: "./bin/tool"),
        Entry("./usr/share/" + String(repeating: "long-directory-name/", count: 8) + "file", content: "long"),
    ]
    static let upper: [Entry] = [
        Entry("etc/name", content: "upper"),
        Entry("etc/.wh.gone"),
        Entry("var/cache/new", content: "written with the opaque marker"),
        Entry("var/cache/.wh..wh..opq"),
        Entry("readonly/", type: "dir", mode: 0o555),
        Entry("readonly/inside", content: "x"),
    ]
    nonisolated(unsafe) static let config: [String: Any] = [
        "Entrypoint": ["/bin/tool"], "Cmd": ["handler.main"], "WorkingDir": "/srv", "Env": ["A=1", "PATH=/bin"],
        "User": "nobody",
    ]

    static func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test(arguments: [
        ("oci", true, "pax"), ("oci", false, "gnu"), ("oci", false, "ustar"), ("docker", false, "gnu"),
        ("docker-oci", true, "pax"),
    ])
    func unpacksLayersWithWhiteoutsInEveryForm(format: String, gzip: Bool, tarFormat: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = dir.url(format == "oci" ? "image" : "image.tar")
        try TestImages.write(
            format: format, output: image, layers: [Self.lower, Self.upper], config: Self.config, gzip: gzip,
            tarFormat: tarFormat)
        let prepared = try ImageStore.prepare(image: image, dataDirectory: dir.url("data"))
        let root = prepared.rootfs
        #expect(root == dir.url("data/images/\(prepared.digest.dropFirst(7))/rootfs"))
        #expect(Self.contents("\(root)/etc/name") == "upper")
        #expect(!FileManager.default.fileExists(atPath: "\(root)/etc/gone"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/etc/.wh.gone"))
        #expect(Self.contents("\(root)/var/cache/new") == "written with the opaque marker")
        #expect(!FileManager.default.fileExists(atPath: "\(root)/var/cache/old"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/var/cache/keep"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/var/cache/.wh..wh..opq"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/bin/alias") == "tool")
        var tool = stat()
        var hard = stat()
        #expect(lstat("\(root)/bin/tool", &tool) == 0 && lstat("\(root)/bin/hard", &hard) == 0)
        #expect(tool.st_ino == hard.st_ino)
        // Permission bits kept, setuid dropped.
        #expect(tool.st_mode & 0o7777 == 0o755)
        var readonly = stat()
        #expect(stat("\(root)/readonly", &readonly) == 0 && readonly.st_mode & 0o777 == 0o555)
        #expect(Self.contents("\(root)/readonly/inside") == "x")
        let long = "\(root)/usr/share/" + String(repeating: "long-directory-name/", count: 8) + "file"
        #expect(Self.contents(long) == "long")
        for mountPoint in ["proc", "dev", "tmp"] {
            var info = stat()
            #expect(lstat("\(root)/\(mountPoint)", &info) == 0 && info.st_mode & S_IFMT == S_IFDIR)
        }
        #expect(prepared.config.entryPoint == ["/bin/tool"])
        #expect(prepared.config.command == ["handler.main"])
        #expect(prepared.config.workingDirectory == "/srv")
        #expect(prepared.config.environment == ["A=1", "PATH=/bin"])
        #expect(prepared.config.user == "nobody")
        #expect(LayerUnpacker.names(in: dir.url("data/images/\(prepared.digest.dropFirst(7))")) == ["rootfs"])
    }

    @Test func reusesAnUnpackedRootfs() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = dir.url("image")
        try TestImages.write(format: "oci", output: image, layers: [Self.lower])
        let first = try ImageStore.prepare(image: image, dataDirectory: dir.url("data"))
        var before = stat()
        #expect(stat(first.rootfs, &before) == 0)
        let second = try ImageStore.prepare(image: image, dataDirectory: dir.url("data"))
        var after = stat()
        #expect(stat(second.rootfs, &after) == 0)
        #expect(first == second)
        #expect(before.st_ino == after.st_ino)
        #expect(before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec)
    }

    /// Hostile layers: each is refused naming the entry and the layer; nothing appears outside the rootfs.
    @Test(arguments: [
        ([Entry("../escaped", content: "x")], "../escaped", "climbs out with '..'"),
        ([Entry("./a/../../escaped", content: "x")], "./a/../../escaped", "climbs out with '..'"),
        ([Entry("/escaped", content: "x")], "/escaped", "absolute path"),
        (
            [Entry("up", type: "symlink", linkName: ".."), Entry("up/escaped", content: "x")], "up/escaped",
            "lies below a symbolic link"
        ),
        (
            [Entry("out", type: "symlink", linkName: "/tmp"), Entry("out/escaped", content: "x")], "out/escaped",
            "lies below a symbolic link"
        ),
        ([Entry("escaped", type: "link", linkName: "../../etc/passwd")], "escaped", "climbs out with '..'"),
        ([Entry("escaped", type: "link", linkName: "/etc/passwd")], "escaped", "absolute hard link target"),
        ([Entry("escaped", type: "link", linkName: "missing")], "escaped", "not in the image before it"),
        ([Entry("dev/null", type: "chr")], "dev/null", "device file"),
        ([Entry("pipe", type: "fifo")], "pipe", "fifo"),
        ([Entry("etc/.wh...")], "etc/.wh...", "whiteout of no valid name"),
    ])
    func refusesHostileEntries(layer: [Entry], entry: String, problem: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = dir.url("image")
        try TestImages.write(format: "oci", output: image, layers: [[Entry("ok", content: "fine")], layer])
        let error = #expect(throws: ImageError.self) {
            try ImageStore.prepare(image: image, dataDirectory: dir.url("data/nested"))
        }
        #expect(error?.image == image)
        #expect(error?.entry == entry)
        #expect(error?.layer?.hasPrefix("sha256:") == true)
        #expect(error?.problem.contains(problem) == true, "\(String(describing: error))")
        #expect(error?.description.contains(entry) == true)
        for outside in [dir.url("escaped"), dir.url("data/escaped"), dir.url("data/nested/escaped"), "/tmp/escaped"] {
            #expect(!FileManager.default.fileExists(atPath: outside), "\(outside)")
        }
        // The staging directory went with the failure; no rootfs was made.
        let images = dir.url("data/nested/images")
        for name in LayerUnpacker.names(in: images) {
            #expect(LayerUnpacker.names(in: "\(images)/\(name)").isEmpty)
        }
    }

    /// A symbolic link of a lower layer is as much a way out as one of the same layer.
    @Test func refusesAnEntryBelowALowerLayersLink() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = dir.url("image.tar")
        try TestImages.write(
            format: "docker", output: image,
            layers: [
                [Entry("lib", type: "symlink", linkName: dir.url("outside"))], [Entry("lib/escaped", content: "x")],
            ])
        try FileManager.default.createDirectory(atPath: dir.url("outside"), withIntermediateDirectories: true)
        let error = #expect(throws: ImageError.self) {
            try ImageStore.prepare(image: image, dataDirectory: dir.url("d"))
        }
        #expect(error?.entry == "lib/escaped")
        #expect(error?.problem.contains("lies below a symbolic link") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.url("outside/escaped")))
    }

    @Test func refusesOversizedImages() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = dir.url("image")
        try TestImages.write(
            format: "oci", output: image,
            layers: [[Entry("a", content: String(repeating: "x", count: 600))], [Entry("b", content: "yy")]])
        let bytes = #expect(throws: ImageError.self) {
            try ImageStore.prepare(
                image: image, dataDirectory: dir.url("data"), limits: TarLimits(maximumUnpackedBytes: 601))
        }
        #expect(bytes?.entry == "b")
        #expect(bytes?.problem.contains("limit of 601 bytes") == true)
        let entries = #expect(throws: ImageError.self) {
            try ImageStore.prepare(image: image, dataDirectory: dir.url("data"), limits: TarLimits(maximumEntries: 1))
        }
        #expect(entries?.problem.contains("limit of 1 entries") == true)
        let path = #expect(throws: ImageError.self) {
            try ImageStore.prepare(
                image: image, dataDirectory: dir.url("data"), limits: TarLimits(maximumPathLength: 0))
        }
        #expect(path?.problem.contains("longer than 0 bytes") == true)
    }

    @Test func refusesABlobThatFailsItsDigest() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = dir.url("image")
        try TestImages.write(format: "oci", output: image, layers: [Self.lower], corrupt: "layer")
        let error = #expect(throws: ImageError.self) {
            try ImageStore.prepare(image: image, dataDirectory: dir.url("data"))
        }
        #expect(error?.problem.contains("fails its digest check") == true)
        #expect(error?.layer?.hasPrefix("sha256:") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.url("data/images")))
    }

    @Test func refusesZstdLayersNamingTheMediaType() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = dir.url("image")
        try TestImages.write(
            format: "oci", output: image, layers: [Self.lower],
            layerMediaType: "application/vnd.oci.image.layer.v1.tar+zstd")
        let error = #expect(throws: ImageError.self) {
            try ImageStore.prepare(image: image, dataDirectory: dir.url("data"))
        }
        #expect(error?.problem.contains("application/vnd.oci.image.layer.v1.tar+zstd") == true)
        #expect(error?.problem.contains("zstd layers are not supported") == true)
    }

    @Test func refusesWhatIsNotAnImage() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.url("empty"), withIntermediateDirectories: true)
        let empty = #expect(throws: ImageError.self) {
            try ImageStore.prepare(image: dir.url("empty"), dataDirectory: dir.url("data"))
        }
        #expect(empty?.problem.contains("not an OCI image layout") == true)
        let file = try dir.write("junk.tar", String(repeating: "not a tar header ", count: 64))
        let junk = #expect(throws: ImageError.self) {
            try ImageStore.prepare(image: file, dataDirectory: dir.url("data"))
        }
        #expect(junk?.problem.contains("corrupt header") == true)
    }
}
