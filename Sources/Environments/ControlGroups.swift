import CAlbatrossSupport
import Foundation
import NIOConcurrencyHelpers

/// The control groups that contain execution environments: one group per environment under one parent group per
/// server instance, so that an environment's whole process tree (even what escaped its process group with
/// `setsid`) can be limited in memory, frozen while idle, measured and killed as one (issues 8 and 12).
///
/// Two kernels' interfaces are supported: cgroup v2 (one unified hierarchy; the memory controller delegated to
/// the server's group, `cgroup.freeze`, `cgroup.kill`) and cgroup v1 (separate `memory` and `freezer`
/// hierarchies; the environment's process is placed in both). ``detect(enabled:)`` picks v2 when it is usable
/// with its memory controller, else v1, else v2 without the memory controller (a unified hierarchy where memory
/// is not delegated to the server: groups freeze and kill the whole tree, memory is limited by an address-space
/// limit, ``limitsMemory`` false), else none (then ``ExecutionEnvironment`` falls back to an address-space limit
/// and SIGSTOP). Groups are made under the server's own group in each hierarchy, never elsewhere.
///
/// The layout and what is written where are pure (``ControlGroup``'s paths and contents, the parsers), unit-tested
/// without a kernel; the I/O functions around them are thin.
public struct ControlGroups: Sendable, Equatable {
    public enum Version: String, Sendable, Equatable {
        case v1
        case v2
    }

    public let version: Version
    /// The server instance's parent group: v2 one directory; v1 the memory one, then the freezer one.
    public let parents: [String]
    /// Whether the groups limit and measure memory: false only for v2 without its memory controller.
    public let limitsMemory: Bool

    init(version: Version, parents: [String], limitsMemory: Bool = true) {
        self.version = version
        self.parents = parents
        self.limitsMemory = version == .v1 || limitsMemory
    }

    /// One line for the start-up log and `/status`.
    public var summary: String {
        switch version {
        case .v2 where !limitsMemory:
            return "cgroup v2 (\(parents[0])) without the memory controller; memory limited by a watch and RLIMIT_AS"
        case .v2: return "cgroup v2 (\(parents[0]))"
        case .v1: return "cgroup v1 (memory \(parents[0]), freezer \(parents[1]))"
        }
    }

    /// The group of one environment, `env-<name>` in every hierarchy.
    func group(named name: String) -> ControlGroup {
        ControlGroup(version: version, directories: parents.map { "\($0)/env-\(name)" }, limitsMemory: limitsMemory)
    }

    /// What the server uses, with the reason when it is none.
    public struct Detection: Sendable {
        public var groups: ControlGroups?
        /// `cgroup v2 (...)`, `cgroup v1 (...)` or `none: <why>; ...`: logged once at start and shown in `/status`.
        public var summary: String
    }

    /// The summary of the fallback without control groups.
    static func noneSummary(_ reason: String) -> String {
        "none: \(reason); memory limited by a watch and RLIMIT_AS, idle environments stopped with SIGSTOP"
    }

    // MARK: pure: names and parsing

    /// `albatross-<server pid>-<server start time>-<sequence>`: unique per application in a process, and enough
    /// for a later server to tell whether the one that made it still runs.
    static func parentName(pid: Int32, startTime: UInt64, sequence: Int) -> String {
        "albatross-\(pid)-\(startTime)-\(sequence)"
    }

    /// The server that made a group named by ``parentName(pid:startTime:sequence:)`` (or the v2 server leaf,
    /// `albatross-<pid>-<start time>-server`); nil for other names.
    static func server(ofGroupNamed name: String) -> (pid: Int32, startTime: UInt64)? {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "albatross", let pid = Int32(parts[1]), let start = UInt64(parts[2])
        else { return nil }
        return (pid, start)
    }

    /// `/proc/self/cgroup`: the path of the process's group per v1 controller, and under `""` its v2 group.
    static func parseProcCgroup(_ text: String) -> [String: String] {
        var groups: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                groups[""] = path
            } else {
                for controller in fields[1].split(separator: ",") { groups[String(controller)] = path }
            }
        }
        return groups
    }

    /// A cgroup file system mount of `/proc/self/mountinfo`.
    struct Mount: Equatable {
        /// The hierarchy's directory that is mounted (field 4).
        var root: String
        var mountPoint: String
        /// `cgroup2`, or `cgroup` with its controllers among the super options.
        var type: String
        var options: [String]
    }

    /// The cgroup and cgroup2 mounts of a `/proc/self/mountinfo` text.
    static func parseMountInfo(_ text: String) -> [Mount] {
        var mounts: [Mount] = []
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3, right[0] == "cgroup" || right[0] == "cgroup2" else { continue }
            mounts.append(
                Mount(
                    root: unescape(String(left[3])), mountPoint: unescape(String(left[4])), type: String(right[0]),
                    options: right[2].split(separator: ",").map(String.init)))
        }
        return mounts
    }

    /// mountinfo's octal escapes (`\040` for a space).
    private static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The directory of the process's own group `path` in the hierarchy mounted as `mount`; nil when the group is
    /// outside what is mounted.
    static func directory(of path: String, in mount: Mount) -> String? {
        let root = mount.root == "/" ? "" : mount.root
        guard path == root || path.hasPrefix(root + "/") || root.isEmpty else { return nil }
        let relative = path.dropFirst(root.count)
        let joined = mount.mountPoint + (relative == "/" ? "" : relative)
        return joined
    }

    /// The number after `key` in a flat keyed file (`memory.events`, `memory.oom_control`, `cgroup.events`).
    static func keyedValue(_ key: String, in text: String) -> UInt64? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == key { return UInt64(fields[1]) }
        }
        return nil
    }

    // MARK: I/O: detection and leftovers

    private static let sequence = LockedCounter()

    /// Finds which kind of control groups this server can use and makes its parent group there. With `enabled`
    /// false (the `environments.controlGroups` key), none is used.
    public static func detect(enabled: Bool = true) -> Detection {
        guard enabled else {
            return Detection(groups: nil, summary: noneSummary("disabled by environments.controlGroups"))
        }
        guard let server = EnvironmentRunRecords.stat(of: getpid()) else {
            return Detection(groups: nil, summary: noneSummary("cannot read /proc/self/stat"))
        }
        let own = parseProcCgroup(readFile("/proc/self/cgroup") ?? "")
        let mounts = parseMountInfo(readFile("/proc/self/mountinfo") ?? "")
        let name = parentName(pid: server.pid, startTime: server.startTime, sequence: sequence.next())
        var reasons: [String] = []
        switch detectV2(own: own, mounts: mounts, name: name, server: server, withMemory: true) {
        case .success(let groups): return Detection(groups: groups, summary: groups.summary)
        case .failure(let reason): reasons.append("v2: \(reason.text)")
        }
        switch detectV1(own: own, mounts: mounts, name: name) {
        case .success(let groups): return Detection(groups: groups, summary: groups.summary)
        case .failure(let reason): reasons.append("v1: \(reason.text)")
        }
        // A unified hierarchy whose memory controller is not ours still freezes and kills the whole tree.
        if case .success(let groups) = detectV2(own: own, mounts: mounts, name: name, server: server, withMemory: false)
        {
            return Detection(groups: groups, summary: groups.summary)
        }
        return Detection(groups: nil, summary: noneSummary(reasons.joined(separator: "; ")))
    }

    struct Unusable: Error {
        var text: String
    }

    /// The v2 parent group; `withMemory`: with the memory controller enabled for it (else only the core
    /// interface: `cgroup.procs`, `cgroup.freeze`, `cgroup.kill`).
    private static func detectV2(
        own: [String: String], mounts: [Mount], name: String, server: EnvironmentRunRecords.ProcessStat,
        withMemory: Bool
    ) -> Result<ControlGroups, Unusable> {
        guard let path = own[""], let mount = mounts.first(where: { $0.type == "cgroup2" }),
            let directory = directory(of: path, in: mount)
        else { return .failure(Unusable(text: "no cgroup2 hierarchy")) }
        guard withMemory else {
            let parent = "\(directory)/\(name)"
            guard mkdir(parent, 0o755) == 0 || errno == EEXIST else {
                return .failure(Unusable(text: "cannot create \(parent): \(errnoText(errno))"))
            }
            guard FileManager.default.fileExists(atPath: "\(parent)/cgroup.freeze") else {
                _ = rmdir(parent)
                return .failure(Unusable(text: "no cgroup.freeze in \(parent)"))
            }
            return .success(ControlGroups(version: .v2, parents: [parent], limitsMemory: false))
        }
        let controllers = (readFile("\(directory)/cgroup.controllers") ?? "").split(whereSeparator: \.isWhitespace)
        guard controllers.contains("memory") else {
            return .failure(Unusable(text: "the memory controller is not delegated to \(directory)"))
        }
        if !enable("memory", in: directory) {
            // "No internal processes": a group with processes cannot hand controllers to its children. Move this
            // server into a leaf of its own and try again.
            let leaf = "\(directory)/albatross-\(server.pid)-\(server.startTime)-server"
            _ = mkdir(leaf, 0o755)
            guard (try? writeFile("\(leaf)/cgroup.procs", "\(getpid())")) != nil, enable("memory", in: directory)
            else {
                return .failure(Unusable(text: "cannot enable the memory controller in \(directory)"))
            }
        }
        let parent = "\(directory)/\(name)"
        guard mkdir(parent, 0o755) == 0 || errno == EEXIST else {
            return .failure(Unusable(text: "cannot create \(parent): \(errnoText(errno))"))
        }
        guard FileManager.default.fileExists(atPath: "\(parent)/cgroup.freeze"), enable("memory", in: parent) else {
            _ = rmdir(parent)
            return .failure(Unusable(text: "no cgroup.freeze or memory controller in \(parent)"))
        }
        return .success(ControlGroups(version: .v2, parents: [parent]))
    }

    private static func enable(_ controller: String, in directory: String) -> Bool {
        let current = readFile("\(directory)/cgroup.subtree_control") ?? ""
        if current.split(whereSeparator: \.isWhitespace).contains(Substring(controller)) { return true }
        return (try? writeFile("\(directory)/cgroup.subtree_control", "+\(controller)")) != nil
    }

    private static func detectV1(
        own: [String: String], mounts: [Mount], name: String
    ) -> Result<ControlGroups, Unusable> {
        var parents: [String] = []
        for controller in ["memory", "freezer"] {
            guard let path = own[controller],
                let mount = mounts.first(where: { $0.type == "cgroup" && $0.options.contains(controller) }),
                let directory = directory(of: path, in: mount)
            else {
                parents.forEach { _ = rmdir($0) }
                return .failure(Unusable(text: "no \(controller) hierarchy"))
            }
            let parent = "\(directory)/\(name)"
            guard mkdir(parent, 0o755) == 0 || errno == EEXIST else {
                let error = errno
                parents.forEach { _ = rmdir($0) }
                return .failure(Unusable(text: "cannot create \(parent): \(errnoText(error))"))
            }
            parents.append(parent)
        }
        // The v1 freezer switches a kernel static key (code patching, ~100 us, milliseconds at worst) whenever
        // the first group on the machine freezes and the last thaws: an empty group kept frozen for the server's
        // life keeps it on, so that an environment's freeze or thaw is one cheap write (~9 us).
        let pilot = "\(parents[1])/\(pilotName)"
        guard mkdir(pilot, 0o755) == 0 || errno == EEXIST,
            (try? writeFile("\(pilot)/freezer.state", "FROZEN")) != nil
        else {
            _ = rmdir(pilot)
            parents.reversed().forEach { _ = rmdir($0) }
            return .failure(Unusable(text: "cannot freeze a group in \(parents[1])"))
        }
        return .success(ControlGroups(version: .v1, parents: parents))
    }

    /// The empty v1 freezer group kept frozen (see ``detectV1(own:mounts:name:)``).
    static let pilotName = "pilot"

    /// Removes the (empty) parent group once every environment has ended. Blocking.
    public func removeParents() {
        // Groups whose removal gave up while their processes were exiting.
        for parent in parents {
            let children = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            for child in children where child.hasPrefix("env-") {
                _ = ControlGroup.killEverything(in: "\(parent)/\(child)")
                _ = ControlGroup.removeDirectory("\(parent)/\(child)", attempts: 50)
            }
        }
        if version == .v1 {
            let pilot = "\(parents[1])/\(Self.pilotName)"
            _ = try? writeFile("\(pilot)/freezer.state", "THAWED")
            _ = ControlGroup.removeDirectory(pilot)
        }
        for parent in parents.reversed() { _ = ControlGroup.removeDirectory(parent) }
    }

    /// SIGKILL to every process in every environment group of this server, frozen ones thawed so that they die;
    /// the groups stay (for the emergency exit, which does not wait; the next start removes them). Blocking.
    public func killEverything() {
        for parent in parents {
            let children = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            for child in children where child.hasPrefix("env-") {
                _ = ControlGroup.killEverything(in: "\(parent)/\(child)")
            }
        }
    }

    /// Records the parent groups in `directory` (`<data>/cgroups`), so that a server started after this one was
    /// killed, on the same data directory, removes them. Blocking.
    public func record(in directory: String) {
        let name = (parents[0] as NSString).lastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? Data(parents.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
    }

    /// Removes the record once the parent groups are gone. Blocking.
    public func forgetRecord(in directory: String) {
        _ = unlink("\(directory)/\((parents[0] as NSString).lastPathComponent)")
    }

    /// Kills what servers that are no longer running left in the groups they recorded in `directory`
    /// (``record(in:)``), thawing frozen processes, which die only then, and removes those groups and records.
    /// Only groups recorded on this data directory: other servers' leftovers are theirs to clean up. Returns the
    /// pids killed. Blocking; run at start-up, after ``EnvironmentRunRecords/cleanUpLeftovers()``.
    public static func removeLeftovers(recordedIn directory: String) -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var killed: [Int32] = []
        for name in names.sorted() {
            guard let server = server(ofGroupNamed: name) else { continue }
            if let running = EnvironmentRunRecords.stat(of: server.pid), running.startTime == server.startTime {
                continue  // its server still runs
            }
            let text = readFile("\(directory)/\(name)") ?? ""
            let parents = text.split(separator: "\n").map(String.init).filter {
                ($0 as NSString).lastPathComponent == name
            }
            // Every group of every hierarchy is killed (and thawed) before any is removed: a process frozen in
            // the freezer hierarchy keeps its memory group busy until then.
            var groups: [String] = []
            for parent in parents {
                let children = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
                groups += children.sorted().filter { $0.hasPrefix("env-") || $0 == pilotName }.map { "\(parent)/\($0)" }
            }
            for group in groups + parents { killed += ControlGroup.killEverything(in: group) }
            for group in groups + parents { _ = ControlGroup.removeDirectory(group) }
            _ = unlink("\(directory)/\(name)")
        }
        return Array(Set(killed)).sorted()
    }

    /// Removes the *empty* groups that servers no longer running left anywhere in this process's own groups (a
    /// server killed and never started again on its data directory, a test process that crashed). Nothing is
    /// killed: groups with processes are left to ``removeLeftovers(recordedIn:)`` of their own data directory.
    /// Blocking; run at start-up after it.
    public static func removeEmptyLeftovers() {
        let own = parseProcCgroup(readFile("/proc/self/cgroup") ?? "")
        let mounts = parseMountInfo(readFile("/proc/self/mountinfo") ?? "")
        var directories: Set<String> = []
        for mount in mounts {
            let keys = mount.type == "cgroup2" ? [""] : mount.options.filter { own[$0] != nil }
            for key in keys {
                if let path = own[key], let directory = directory(of: path, in: mount) { directories.insert(directory) }
            }
        }
        for directory in directories.sorted() {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names.sorted() {
                guard let server = server(ofGroupNamed: name) else { continue }
                if let running = EnvironmentRunRecords.stat(of: server.pid), running.startTime == server.startTime {
                    continue
                }
                let parent = "\(directory)/\(name)"
                let children = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
                for child in children where child.hasPrefix("env-") || child == pilotName {
                    let group = "\(parent)/\(child)"
                    if ControlGroup.processes(in: "\(group)/cgroup.procs").isEmpty { _ = rmdir(group) }
                }
                _ = rmdir(parent)
            }
        }
    }
}

/// Thaws the server's environments once the server is gone, however it ended (SIGKILL included): a frozen process
/// dies of its parent-death signal only once thawed. A shell outside every environment group and without a
/// parent-death signal waits for the end of a pipe whose only write end the server holds, then thaws each
/// environment group. Its own process, because nothing can run in a server that was killed; detached (the shell
/// started exits at once, leaving the guard to init), so that the server's children stay its runtimes.
public final class ControlGroupGuard: Sendable {
    private let writeEnd: Int32

    /// The script: `$@` are the parent groups. An asynchronous list starts with /dev/null as its standard
    /// input, hence the pipe through descriptor 3.
    static let script = """
        exec 3<&0 >/dev/null 2>&1
        (
          exec 0<&3 3<&-
          cat
          for parent in "$@"; do
            for group in "$parent"/env-*; do
              if [ -e "$group/freezer.state" ]; then echo THAWED > "$group/freezer.state"; fi
              if [ -e "$group/cgroup.freeze" ]; then echo 0 > "$group/cgroup.freeze"; fi
            done
          done
        ) &
        """

    private init(writeEnd: Int32) {
        self.writeEnd = writeEnd
    }

    /// Starts the guard of `groups`; nil when it cannot be started (then a server killed while environments
    /// are frozen leaves them frozen until the next start removes them). Blocking (fork and exec).
    public static func start(for groups: ControlGroups) -> ControlGroupGuard? {
        var pipe: [Int32] = [-1, -1]
        guard pipe.withUnsafeMutableBufferPointer({ albatross_pipe_cloexec($0.baseAddress!) }) == 0 else { return nil }
        defer { close(pipe[0]) }
        let freezers = groups.version == .v2 ? groups.parents : [groups.parents[1]]
        guard
            let process = try? ProcessLauncher.launch(
                executable: "/bin/sh", arguments: ["-c", script, "albatross-guard"] + freezers,
                environment: ["PATH=/usr/bin:/bin"], workingDirectory: "/", standardInput: pipe[0],
                outlivesParent: true)
        else {
            close(pipe[1])
            return nil
        }
        close(process.outputFD)
        // The shell exits as soon as it has started the guard.
        var status: Int32 = 0
        while waitpid(process.pid, &status, 0) < 0 && errno == EINTR {}
        return ControlGroupGuard(writeEnd: pipe[1])
    }

    /// The server ends normally: the guard finds nothing to thaw and exits.
    public func stop() {
        close(writeEnd)
    }
}

/// One environment's group (a directory per hierarchy): where its process is placed before exec, what limits
/// its memory, freezes it, tells its peak memory and OOM kills, and what kills everything in it.
struct ControlGroup: Sendable, Equatable {
    var version: ControlGroups.Version
    /// v2: one; v1: memory, then freezer.
    var directories: [String]
    /// False for v2 without the memory controller: no limit is written, no peak or OOM kill is read.
    var limitsMemory = true

    /// The `cgroup.procs` files the child writes "0" to before exec.
    var joinFiles: [String] { directories.map { "\($0)/cgroup.procs" } }

    /// `cgroup.freeze` (v2) or `freezer.state` (v1).
    var freezeFile: String {
        version == .v2 ? "\(directories[0])/cgroup.freeze" : "\(directories[1])/freezer.state"
    }

    static func freezeContent(_ version: ControlGroups.Version, frozen: Bool) -> String {
        switch version {
        case .v2: return frozen ? "1" : "0"
        case .v1: return frozen ? "FROZEN" : "THAWED"
        }
    }

    /// The memory limit: (file, content, whether the file must exist). v2 also makes an OOM kill end the whole
    /// group at once (`memory.oom.group`) and allows no swap; v1 sets the swap-inclusive limit when the kernel
    /// accounts swap.
    func memoryLimitWrites(bytes: UInt64) -> [(file: String, content: String, required: Bool)] {
        let memory = directories[0]
        guard limitsMemory else { return [] }
        switch version {
        case .v2:
            return [
                ("\(memory)/memory.max", "\(bytes)", true), ("\(memory)/memory.swap.max", "0", false),
                ("\(memory)/memory.oom.group", "1", false),
            ]
        case .v1:
            return [
                ("\(memory)/memory.limit_in_bytes", "\(bytes)", true),
                ("\(memory)/memory.memsw.limit_in_bytes", "\(bytes)", false),
            ]
        }
    }

    /// The group's peak memory use in bytes: `memory.peak` (v2, Linux 5.19+) or `memory.max_usage_in_bytes`.
    /// Nil without the memory controller.
    var peakFile: String? {
        guard limitsMemory else { return nil }
        return version == .v2 ? "\(directories[0])/memory.peak" : "\(directories[0])/memory.max_usage_in_bytes"
    }

    /// The file that counts OOM kills in the group (`oom_kill N`); nil without the memory controller.
    var oomFile: String? {
        guard limitsMemory else { return nil }
        return version == .v2 ? "\(directories[0])/memory.events" : "\(directories[0])/memory.oom_control"
    }

    /// The file that lists every process of the group, all of which are in the freezer's.
    var processesFile: String { "\(directories[directories.count - 1])/cgroup.procs" }

    // MARK: I/O

    /// Makes the group's directories and sets its memory limit. Blocking.
    func create(memoryBytes: UInt64) throws(ControlGroupError) {
        for directory in directories {
            guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
                let error = errno
                remove()
                throw ControlGroupError(
                    description: "cannot create the control group \(directory): \(errnoText(error))")
            }
        }
        for write in memoryLimitWrites(bytes: memoryBytes) {
            do {
                try writeFile(write.file, write.content)
            } catch {
                if !write.required && (error.code == ENOENT || error.code == EACCES) { continue }
                remove()
                throw ControlGroupError(description: "cannot write \(write.content) to \(write.file): \(error)")
            }
        }
    }

    /// Freezes or thaws every process of the group. One write to a kernel file (no disk, no wait for the
    /// processes), cheap enough for an event loop; false when it failed.
    @discardableResult
    func setFrozen(_ frozen: Bool) -> Bool {
        (try? writeFile(freezeFile, Self.freezeContent(version, frozen: frozen))) != nil
    }

    /// Whether the kernel reports the group frozen (v1 `FROZEN`, not `FREEZING`; v2 `frozen 1`).
    func isFrozen() -> Bool {
        switch version {
        case .v2:
            let events = readFile("\(directories[0])/cgroup.events") ?? ""
            return ControlGroups.keyedValue("frozen", in: events) == 1
        case .v1:
            return readFile(freezeFile)?.trimmingCharacters(in: .whitespacesAndNewlines) == "FROZEN"
        }
    }

    /// OOM kills in the group so far.
    func outOfMemoryKills() -> UInt64 {
        oomFile.flatMap(readFile).flatMap { ControlGroups.keyedValue("oom_kill", in: $0) } ?? 0
    }

    /// The group's peak memory use in bytes, or nil when the kernel has no such counter.
    func peakBytes() -> UInt64? {
        peakFile.flatMap(readFile).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// SIGKILL to every process of the group (v2 `cgroup.kill`; else frozen, killed one by one, thawed, so none
    /// can fork meanwhile), then removes the group. Blocking (up to about 2 s while the processes exit).
    func killAndRemove() {
        if version == .v2, (try? writeFile("\(directories[0])/cgroup.kill", "1")) != nil {
            // done: the kernel kills every process, and those forked meanwhile
        } else {
            if setFrozen(true) {
                for _ in 0..<100 where !isFrozen() { usleep(1000) }
            }
            for pid in Self.processes(in: processesFile) { _ = kill(pid, SIGKILL) }
            setFrozen(false)
        }
        remove()
    }

    /// Removes the group's directories (each once it is empty), waiting at most about 200 ms for the killed
    /// processes to exit, so that a thread of the server's small pool is not held: a group still busy then is
    /// removed with the parent when the server stops (``ControlGroups/removeParents()``), or by the next start.
    func remove() {
        for directory in directories.reversed() { _ = Self.removeDirectory(directory, attempts: 20) }
    }

    static func processes(in file: String) -> [Int32] {
        (readFile(file) ?? "").split(whereSeparator: \.isNewline).compactMap { Int32($0) }
    }

    /// For a group of unknown kind (a leftover): thaw where it is a freezer group, kill every listed process,
    /// thaw again. Returns the pids killed.
    static func killEverything(in directory: String) -> [Int32] {
        let thaw: (() -> Void)? =
            if FileManager.default.fileExists(atPath: "\(directory)/freezer.state") {
                { _ = try? writeFile("\(directory)/freezer.state", "THAWED") }
            } else if FileManager.default.fileExists(atPath: "\(directory)/cgroup.freeze") {
                { _ = try? writeFile("\(directory)/cgroup.freeze", "0") }
            } else { nil }
        let pids = processes(in: "\(directory)/cgroup.procs")
        for pid in pids { _ = kill(pid, SIGKILL) }
        thaw?()
        return pids
    }

    /// rmdir, retried every 10 ms while the group still has processes that are exiting (EBUSY), `attempts`
    /// times (200: about 2 s).
    static func removeDirectory(_ directory: String, attempts: Int = 200) -> Bool {
        for _ in 0..<attempts {
            if rmdir(directory) == 0 || errno == ENOENT { return true }
            guard errno == EBUSY else { return false }
            usleep(10_000)
        }
        return false
    }
}

struct ControlGroupError: Error, CustomStringConvertible {
    var description: String
}

struct FileWriteError: Error, CustomStringConvertible {
    var code: Int32
    var description: String { errnoText(code) }
}

/// A kernel file's text (small: one read of up to 64 KiB).
func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 65536)
    var total = 0
    while total < bytes.count {
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        total += count
    }
    return String(decoding: bytes[..<total], as: UTF8.self)
}

/// One write(2) of `content` to a kernel file (control files take a value per write).
func writeFile(_ path: String, _ content: String) throws(FileWriteError) {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileWriteError(code: errno) }
    defer { close(fd) }
    let bytes = Array(content.utf8)
    while true {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written == bytes.count { return }
        if written < 0 && errno == EINTR { continue }
        throw FileWriteError(code: written < 0 ? errno : EIO)
    }
}

/// A process-wide counter (one parent group name per application in a process).
final class LockedCounter: Sendable {
    private let value = NIOLockedValueBox(0)

    func next() -> Int {
        value.withLockedValue { value in
            defer { value += 1 }
            return value
        }
    }
}
