public import Environments
import Foundation
import Images
public import LambdaModel

/// Turns a function's code location into a task root directory, and tells when that code has changed.
public enum CodePreparer {
    public struct PreparationError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The task root for `function`: its directory as it is, or its .zip unpacked into
    /// `<data>/code/<function>/<revision>/` (one directory per revision, so that environments still running the
    /// previous package keep their files while a changed one is unpacked beside it). Blocking; call it off event
    /// loops.
    ///
    /// - Parameter revision: the package's ``revision(of:)`` (computed here when nil).
    public static func taskRoot(
        for function: FunctionConfiguration, dataDirectory: String, revision: String? = nil
    ) throws -> String {
        switch function.code {
        case .directory(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw PreparationError(description: "function \(function.name): code directory \(path) does not exist")
            }
            return path
        case .zip(let path):
            return try ZipUnpacker.unpack(
                archive: path, functionName: function.name, revision: revision ?? self.revision(of: function),
                dataDirectory: dataDirectory)
        case .image:
            return try image(for: function, dataDirectory: dataDirectory).rootfs
        }
    }

    /// A container image function's image, unpacked once per digest (``ImageStore``), and how it runs: the
    /// image's ENTRYPOINT, CMD and WORKDIR, each replaced by the function's `ImageConfig` value when it has one
    /// (as on AWS). Blocking; call it off event loops.
    public static func image(for function: FunctionConfiguration, dataDirectory: String) throws -> ImageRun {
        guard case .image(let path) = function.code else {
            throw PreparationError(description: "function \(function.name) does not run a container image")
        }
        let prepared: ImageStore.Prepared
        do {
            prepared = try ImageStore.prepare(image: path, dataDirectory: dataDirectory)
        } catch {
            throw PreparationError(description: "function \(function.name): \(error)")
        }
        let overrides = function.imageConfig
        let entryPoint = overrides.entryPoint ?? prepared.config.entryPoint ?? []
        let command = overrides.command ?? prepared.config.command ?? []
        let arguments = entryPoint + command
        guard !arguments.isEmpty else {
            throw PreparationError(
                description: "function \(function.name): the image \(path) has neither ENTRYPOINT nor CMD; give "
                    + "imageConfig.command")
        }
        let workingDirectory = overrides.workingDirectory ?? prepared.config.workingDirectory ?? ""
        return ImageRun(
            digest: prepared.digest, rootfs: prepared.rootfs, arguments: arguments,
            workingDirectory: workingDirectory.isEmpty ? "/" : workingDirectory,
            environment: prepared.config.environmentPairs.map { EnvironmentVariable(name: $0.name, value: $0.value) },
            handler: command.first ?? "")
    }

    /// A summary of the code `function` runs from, which changes whenever a file in its directory (or its .zip)
    /// is added, removed, written or renamed: 16 hex digits of a hash over every entry's relative path, type,
    /// size and modification time (`__pycache__` directories left out), walked without following symbolic links and bounded to
    /// ``maximumEntries`` entries (beyond that, later changes deep in a huge tree may go unnoticed). An entry
    /// that cannot be read counts as a change of its own. Blocking; call it off event loops.
    public static func revision(of function: FunctionConfiguration) -> String {
        var hash = FNV1a()
        switch function.code {
        case .directory(let path):
            var budget = maximumEntries
            walk(path, relative: "", into: &hash, budget: &budget)
        case .zip(let path):
            add(path: "", at: path, into: &hash)
        case .image(let path):
            // A layout directory's index.json changes with every new image written into it; a tarball is a file.
            add(path: "", at: path, into: &hash)
            add(path: "index.json", at: "\(path)/index.json", into: &hash)
        }
        return hash.hex
    }

    /// How many directory entries ``revision(of:)`` looks at.
    public static let maximumEntries = 50_000

    private static func walk(_ directory: String, relative: String, into hash: inout FNV1a, budget: inout Int) {
        guard let stream = opendir(directory) else {
            hash.add("!\(relative):\(errno)")
            return
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        // readdir's order depends on the file system's history: sort, so equal trees hash equal. Python writes
        // `__pycache__` into the code directory on a function's first import: that is not an edit (counting it
        // would retire the pool right after every first cold start).
        for name in names.sorted() where name != "__pycache__" {
            guard budget > 0 else { return }
            budget -= 1
            let child = relative.isEmpty ? name : "\(relative)/\(name)"
            if add(path: child, at: "\(directory)/\(name)", into: &hash) {
                walk("\(directory)/\(name)", relative: child, into: &hash, budget: &budget)
            }
        }
    }

    /// Adds one entry; true when it is a directory to descend into.
    @discardableResult
    private static func add(path relative: String, at path: String, into hash: inout FNV1a) -> Bool {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            hash.add("!\(relative):\(errno)")
            return false
        }
        let type = status.st_mode & S_IFMT
        hash.add(
            "\(relative)\u{0}\(type)\u{0}\(status.st_mode & 0o7777)\u{0}\(status.st_size)\u{0}"
                + "\(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)\u{0}\(status.st_ino)")
        return type == S_IFDIR
    }
}

/// 64-bit FNV-1a: a change detector for ``CodePreparer/revision(of:)``, not a cryptographic digest.
struct FNV1a {
    private var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ text: String) {
        for byte in text.utf8 {
            value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        value = (value ^ 0xff) &* 0x0000_0100_0000_01b3
    }

    var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
