import AlbatrossCrypto
import Foundation
import LambdaModel

extension Registry {
    /// The directory that stands for AWS's `/opt` for a function with these layers: every listed layer version
    /// unpacked in order into one tree, a file in a later layer replacing the same path from an earlier one
    /// (runtime-api.md §3.3). nil when `arns` is empty.
    ///
    /// The tree is `<data>/opt/<hex of SHA-256 of the layers' CodeSha256s joined by newlines>/`, built once in a
    /// staging directory and renamed into place, then reused by every version with the same layers. Each package
    /// is checked against its CodeSha256 before it is unpacked. A missing layer version is
    /// `Layer version <arn> does not exist.`.
    public func layerRoot(for arns: [String]) throws(RegistryError) -> String? {
        guard !arns.isEmpty else { return nil }
        var records: [LayerVersionRecord] = []
        for arn in arns {
            do throws(RegistryError) {
                records.append(try layerVersion(arn: arn, includingDeleted: true))
            } catch {
                guard error.httpStatus == 404 else { throw error }
                throw RegistryError(.invalidParameterValue, "Layer version \(arn) does not exist.")
            }
        }
        let key = records.map(\.codeSha256).joined(separator: "\n")
        let hex = SHA256.hex(SHA256.digest(Data(key.utf8)))
        let target = "\(layersDirectory)/\(hex)"
        if Self.isDirectory(target) { return target }

        let staging = "\(layersDirectory)/.staging-\(hex)-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try FileStore.createDirectory(staging)
        for (index, record) in records.enumerated() {
            let layerDirectory = "\(staging).layer\(index)"
            defer { try? FileManager.default.removeItem(atPath: layerDirectory) }
            try unpackVerified(
                codeSha256: record.codeSha256, what: "layer \(record.name):\(record.version)", into: layerDirectory)
            try Self.merge(layerDirectory, into: staging)
        }
        try Self.moveIntoPlace(staging, target)
        return target
    }

    /// Moves every entry of `source` into `destination`: directories are merged, anything else replaces what is
    /// at the same path (a later layer wins, even a file over a directory or the reverse).
    static func merge(_ source: String, into destination: String) throws(RegistryError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: source).sorted()
        } catch {
            throw .store("cannot list \(source): \(error)")
        }
        for name in names {
            let from = "\(source)/\(name)"
            let to = "\(destination)/\(name)"
            var fromInfo = stat()
            var toInfo = stat()
            guard lstat(from, &fromInfo) == 0 else { throw .store("cannot inspect \(from) (errno \(errno))") }
            let fromIsDirectory = fromInfo.st_mode & S_IFMT == S_IFDIR
            let existing = lstat(to, &toInfo) == 0
            let toIsDirectory = existing && toInfo.st_mode & S_IFMT == S_IFDIR
            if fromIsDirectory && toIsDirectory {
                try merge(from, into: to)
                continue
            }
            if existing {
                do {
                    try FileManager.default.removeItem(atPath: to)
                } catch {
                    throw .store("cannot replace \(to): \(error)")
                }
            }
            guard rename(from, to) == 0 else { throw .store("cannot move \(from) to \(to) (errno \(errno))") }
        }
    }
}
