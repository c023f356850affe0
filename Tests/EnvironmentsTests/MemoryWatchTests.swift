import AlbatrossTestKit
import Foundation
import Glibc
import InvocationModel
import NIOConcurrencyHelpers
import Testing

@testable import Environments

/// ``MemoryWatch`` on real processes (the end-to-end case, a runtime killed for it, is in ControlGroupsTests): what
/// it reads, that it tells an environment over its limit once, that it leaves frozen ones alone, and that its
/// thread ends when nothing is watched.
@Suite(.serialized)
struct MemoryWatchTests {
    /// A process holding `megabytes` of written memory until stopped, once it holds them.
    static func holder(megabytes: Int) async throws -> BackgroundProcess {
        let process = try BackgroundProcess(
            "/usr/bin/python3",
            ["-c", "import time; b = bytearray(\(megabytes) << 20); print('held', flush=True); time.sleep(60)"])
        guard await process.waitForOutput("held") else {
            process.cleanUp()
            throw ChildProcessError("the holder did not start: \(process.output)")
        }
        return process
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")))
    func readsTheTreeAndTellsAnEnvironmentOverItsLimitOnce() async throws {
        let process = try await Self.holder(megabytes: 64)
        defer { process.cleanUp() }
        let pid = process.pid
        let resident = try #require(ProcessTreeMemory.unreclaimableResidentKB(root: pid))
        #expect(resident >= 64 * 1024, "the bytearray is resident and anonymous: \(resident) kB")

        let watch = MemoryWatch(interval: .milliseconds(10))
        let told = NIOLockedValueBox<[MemoryWatch.Exceeded]>([])
        // Under its limit: never told.
        let roomy = watch.watch(limitBytes: 512 << 20) { _ in Issue.record("told under the limit") }
        watch.add(root: pid, to: roomy)
        // Over it, but frozen: not read.
        let frozen = watch.watch(limitBytes: 32 << 20) { _ in Issue.record("a frozen environment was read") }
        watch.add(root: pid, to: frozen)
        watch.setActive(false, frozen)
        try await Task.sleep(for: .milliseconds(200))
        // Over it and active: told once, then no longer watched.
        let tight = watch.watch(limitBytes: 32 << 20) { exceeded in told.withLockedValue { $0.append(exceeded) } }
        watch.add(root: pid, to: tight)
        #expect(await eventually(seconds: 5) { told.withLockedValue { $0.count } == 1 })
        try await Task.sleep(for: .milliseconds(100))
        let reports = told.withLockedValue { $0 }
        #expect(reports.count == 1, "told once")
        #expect(reports.first.map { $0.residentKB >= 64 * 1024 && $0.peakMB >= 64 } == true, "\(reports)")
        #expect(watch.watchedCount == 2)
        watch.end(roomy)
        watch.end(frozen)
        #expect(watch.watchedCount == 0)
    }

    @Test func itsThreadRunsOnlyWhileSomethingIsWatched() async throws {
        let watch = MemoryWatch(interval: .milliseconds(10))
        #expect(!watch.isRunning)
        let token = watch.watch(limitBytes: 1 << 30) { _ in }
        watch.add(root: getpid(), to: token)
        #expect(watch.isRunning, "a thread while watching")
        watch.end(token)
        #expect(await eventually(seconds: 5) { !watch.isRunning }, "none after")
        // And again.
        let again = watch.watch(limitBytes: 1 << 30) { _ in }
        #expect(watch.isRunning)
        watch.end(again)
        #expect(await eventually(seconds: 5) { !watch.isRunning })
    }
}
