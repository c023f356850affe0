import CodeStore
import Foundation

/// Unpacks a function's .zip package into `<data>/code/<function>/<revision>/`. The directories of other
/// revisions are removed, except the newest one before this (environments of a retired pool may still run from
/// it). A revision already unpacked (by an earlier start) is used as it is.
enum ZipUnpacker {
    static func unpack(archive: String, functionName: String, revision: String, dataDirectory: String) throws -> String
    {
        let parent = "\(dataDirectory)/code/\(functionName)"
        let root = "\(parent)/\(revision)"
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue {
            removeOld(in: parent, keeping: root)
            return root
        }
        do {
            try fileManager.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw CodePreparer.PreparationError(
                description: "function \(functionName): cannot create \(parent): \(error)")
        }
        let staging = "\(parent)/.unpacking-\(getpid())"
        try? fileManager.removeItem(atPath: staging)
        do {
            try ZipArchive.unpack(archive: archive, into: staging)
        } catch {
            try? fileManager.removeItem(atPath: staging)
            throw CodePreparer.PreparationError(description: "function \(functionName): \(error)")
        }
        guard rename(staging, root) == 0 else {
            let code = errno
            try? fileManager.removeItem(atPath: staging)
            throw CodePreparer.PreparationError(
                description: "function \(functionName): cannot move the unpacked package to \(root) (errno \(code))")
        }
        removeOld(in: parent, keeping: root)
        return root
    }

    /// Keeps `current` and the most recently modified other revision.
    private static func removeOld(in parent: String, keeping current: String) {
        let fileManager = FileManager.default
        guard let names = try? fileManager.contentsOfDirectory(atPath: parent) else { return }
        let others = names.map { "\(parent)/\($0)" }.filter {
            $0 != current && !$0.hasSuffix("/.unpacking-\(getpid())")
        }
        let dated = others.map { path -> (String, Date) in
            let attributes = try? fileManager.attributesOfItem(atPath: path)
            return (path, attributes?[.modificationDate] as? Date ?? .distantPast)
        }
        for (path, _) in dated.sorted(by: { $0.1 > $1.1 }).dropFirst() {
            try? fileManager.removeItem(atPath: path)
        }
    }
}
