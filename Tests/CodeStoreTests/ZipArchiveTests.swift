import AlbatrossTestKit
import CodeStore
import Foundation
import Testing

/// Unpacking real archives written by Python's zipfile module, including hostile ones.
struct ZipArchiveTests {
    /// Builds an archive with Python's zipfile. `entries`: (name, content, unix mode, is symlink).
    static func makeZip(
        at path: String, entries: [(String, String, Int, Bool)], compression: String = "ZIP_DEFLATED"
    ) throws {
        var script = "import zipfile, stat\nz = zipfile.ZipFile(\(pythonString(path)), 'w', zipfile.\(compression))\n"
        for (name, content, mode, link) in entries {
            let type = link ? "stat.S_IFLNK" : (name.hasSuffix("/") ? "stat.S_IFDIR" : "stat.S_IFREG")
            script += "i = zipfile.ZipInfo(\(pythonString(name)))\n"
            script += "i.create_system = 3\ni.external_attr = ((\(type) | \(mode)) << 16)\n"
            script += "i.compress_type = zipfile.\(compression)\n"
            script += "z.writestr(i, \(pythonString(content)))\n"
        }
        script += "z.close()\n"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    static func pythonString(_ text: String) -> String {
        "'"
            + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\0", with: "\\x00") + "'"
    }

    @Test(arguments: ["ZIP_DEFLATED", "ZIP_STORED"])
    func unpacksFilesDirectoriesModesAndInnerLinks(compression: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let archive = dir.url("code.zip")
        try Self.makeZip(
            at: archive,
            entries: [
                ("bootstrap", "#!/bin/bash\necho hi\n", 0o755, false),
                ("lib/", "", 0o755, false),
                ("lib/data.txt", String(repeating: "albatross ", count: 1000), 0o644, false),
                ("link-to-data", "lib/data.txt", 0o777, true),
            ], compression: compression)
        try ZipArchive.unpack(archive: archive, into: dir.url("out"))
        #expect(FileManager.default.isExecutableFile(atPath: dir.url("out/bootstrap")))
        #expect(!FileManager.default.isExecutableFile(atPath: dir.url("out/lib/data.txt")))
        #expect(try String(contentsOfFile: dir.url("out/lib/data.txt"), encoding: .utf8).count == 10_000)
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: dir.url("out/link-to-data")) == "lib/data.txt")
    }

    @Test(arguments: [
        ("../escape.txt", "x", false, "escapes the package with '..'"),
        ("a/../../escape.txt", "x", false, "escapes the package with '..'"),
        ("/etc/evil", "x", false, "has an absolute or unsafe path"),
        ("out-link", "/etc/passwd", true, "is a symbolic link to the absolute path /etc/passwd"),
        ("sub/out-link", "../../secret", true, "is a symbolic link pointing outside the package (../../secret)"),
    ])
    func refusesEntriesThatEscape(name: String, content: String, link: Bool, message: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let archive = dir.url("evil.zip")
        try Self.makeZip(at: archive, entries: [("ok.txt", "fine", 0o644, false), (name, content, 0o777, link)])
        #expect(throws: ZipArchiveError(archive: archive, entry: name, message)) {
            try ZipArchive.unpack(archive: archive, into: dir.url("out"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.url("escape.txt")))
    }

    /// Found by bench/fuzz (FuzzZipArchive): each link checked alone stays inside, but `up` → `dot/..` climbs
    /// from wherever `dot` points, and `dot` → `.` is the package itself, so `up` was the package's parent.
    @Test(arguments: [[0, 1], [1, 0]])
    func refusesALinkWhoseDotDotFollowsAnotherLink(order: [Int]) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let archive = dir.url("evil.zip")
        let links = [("dot", ".", 0o777, true), ("up", "dot/..", 0o777, true)]
        try Self.makeZip(at: archive, entries: order.map { links[$0] }, compression: "ZIP_STORED")
        #expect(
            throws: ZipArchiveError(
                archive: archive, entry: "up",
                "is a symbolic link with '..' after a name (dot/..), which could leave the package")
        ) {
            try ZipArchive.unpack(archive: archive, into: dir.url("out"))
        }
        let up = dir.url("out/up")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: up)) == nil, "no link was left behind")
    }

    /// A NUL in a link's target: the check read `..<NUL>` as a name, symlink(2) made a link to `..`.
    @Test func refusesALinkTargetWithNUL() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let archive = dir.url("evil.zip")
        try Self.makeZip(at: archive, entries: [("parent", "..\0", 0o777, true)], compression: "ZIP_STORED")
        #expect(
            throws: ZipArchiveError(
                archive: archive, entry: "parent", "is a symbolic link whose target contains NUL")
        ) {
            try ZipArchive.unpack(archive: archive, into: dir.url("out"))
        }
    }

    @Test func keepsLinksThatClimbFirstAndThenDescend() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let archive = dir.url("fine.zip")
        try Self.makeZip(
            at: archive,
            entries: [
                ("lib/", "", 0o755, false), ("lib/a.txt", "a", 0o644, false), ("bin/", "", 0o755, false),
                ("bin/a", "./../lib/./a.txt", 0o777, true),
            ])
        try ZipArchive.unpack(archive: archive, into: dir.url("out"))
        #expect(try String(contentsOfFile: dir.url("out/bin/a"), encoding: .utf8) == "a")
    }

    @Test func refusesWritingThroughALinkUnpackedEarlier() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let archive = dir.url("evil.zip")
        try Self.makeZip(
            at: archive,
            entries: [("dir/", "", 0o755, false), ("alias", "dir", 0o777, true), ("alias/file", "x", 0o644, false)])
        #expect(throws: ZipArchiveError(archive: archive, entry: "alias/file", "lies below a symbolic link")) {
            try ZipArchive.unpack(archive: archive, into: dir.url("out"))
        }
    }

    @Test func refusesThingsThatAreNotZipArchives() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("not.zip", "just text, not an archive")
        #expect(throws: ZipArchiveError(archive: path, "is not a zip archive (no end of central directory record)")) {
            try ZipArchive.unpack(archive: path, into: dir.url("out"))
        }
    }
}
