import NIOCore
import Testing

@testable import Environments

/// The extension rules of the lifecycle (runtime-api.md §1.9, §2), on the pure machine with a test clock: INIT waits
/// for every extension, an invoke is over only once its extensions asked again, SHUTDOWN reaches the subscribed ones.
struct ExtensionStateMachineTests {
    @Test func theRuntimeStartsOnceEveryExternalExtensionRegisteredAndInitWaitsForTheirNext() {
        let env = Env()
        #expect(env.machine.extensionsLaunched(names: ["logger", "metrics"]) == false, "the runtime waits")
        #expect(env.register("logger", [.invoke, .shutdown]) == "registered")
        #expect(env.register("metrics", [.invoke]) == "registered, startRuntime", "the last one starts the runtime")
        let runtime = Waiter("runtime")
        #expect(env.next(runtime, at: 100) == "hold", "the runtime is ready, the extensions are not")
        #expect(env.extensionNext("logger", at: 120) == "park")
        #expect(env.state == "initializing(A)")
        #expect(env.extensionNext("metrics", at: 180) == "initDone(deliver(A, initDone), runtime)")
        _ = env.delivered("a", at: 180)
        // INIT ran until the last of them asked: 180 ms.
        #expect(env.post("a", at: 200).hasPrefix("accept(A, 20.0, init 180.0"))
    }

    /// An external extension can register (for SHUTDOWN, which internal ones may not) before the platform has
    /// learnt that it started it: it is external all the same, and is not waited for again.
    @Test func anExtensionThatRegistersBeforeItsLaunchIsReportedIsExternal() {
        let env = Env()
        env.machine.extensionsLaunching()
        #expect(env.register("fast", [.invoke, .shutdown]) == "registered", "external: SHUTDOWN allowed")
        #expect(env.machine.extensionsLaunched(names: ["fast", "slow"]) == false, "slow has not registered")
        #expect(env.register("slow", [.invoke]) == "registered, startRuntime")
        let other = Env()
        other.machine.extensionsLaunching()
        #expect(other.register("only", [.shutdown]) == "registered")
        #expect(other.machine.extensionsLaunched(names: ["only"]) == true, "every one registered: the runtime starts")
        // Once they are known, a name that is not one of them is internal (a thread of the runtime).
        #expect(other.register("GoLangEnableSIGTERM", [.shutdown]).contains("shutdownNotAllowed"))
    }

    @Test func noExtensionsChangeNothing() {
        let env = Env()
        #expect(env.machine.extensionsLaunched(names: []) == true)
        #expect(env.next(at: 100) == "deliver(A, initDone)")
    }

    @Test func theInvokeIsOverOnlyWhenItsExtensionsAskAgainAndItsDurationCoversThem() {
        let env = Env.withExtension("logger", [.invoke])
        let invoked = env.machine.invokeExtensions(event: "INVOKE a")
        #expect(invoked.map(\.name) == ["ext-logger"], "the parked extension gets INVOKE at once")
        // The caller gets the result at 300 ms; the environment is not free yet.
        #expect(env.post("a", at: 300) == "accept(A, 200.0, init 100.0, -)")
        #expect(env.machine.extensionsFinishing)
        #expect(env.next(at: 310) == "park", "the runtime asked again; the extension still works")
        #expect(env.invoke("B") == "refuse(B)", "not free before the extension asked again")
        #expect(env.extensionNext("logger", at: 450) == "invokeOver(350.0, pool, runtimeParked)")
        #expect(!env.machine.extensionsFinishing)
        // A second invoke whose extension was done before the result: the environment is free at the post.
        #expect(env.invoke("B") == "deliver(to: w)")
        _ = env.delivered("b", at: 500)
        _ = env.machine.invokeExtensions(event: "INVOKE b")
        #expect(env.extensionNext("logger", at: 520) == "park")
        #expect(env.post("b", at: 540) == "accept(B, 40.0, init -, pool)")
    }

    @Test func anExtensionThatAsksAgainBeforeTheRuntimeComesBackHandsThePoolTheEnvironment() {
        let env = Env.withExtension("logger", [.invoke])
        _ = env.machine.invokeExtensions(event: "INVOKE a")
        _ = env.post("a", at: 300)
        #expect(env.extensionNext("logger", at: 400) == "invokeOver(300.0, pool, -)")
        #expect(env.invoke("B") == "queued", "queued for the runtime's next /next, as without extensions")
    }

    @Test func anExtensionThatOverrunsTheFunctionTimeoutResetsTheEnvironment() {
        let env = Env.withExtension("slow", [.invoke])
        _ = env.machine.invokeExtensions(event: "INVOKE a")
        _ = env.post("a", at: 300)
        _ = env.next(Waiter("runtime"), at: 310)
        #expect(env.invokeTimer("a", at: 3100) == "resetAfterResponse")
        #expect(env.exited(at: 3150) == "none, releasing runtime", "the parked runtime is released")
    }

    @Test func anEventForAnExtensionThatIsNotParkedWaitsForItsNextCall() {
        let env = Env.withExtension("logger", [.invoke, .shutdown])
        let slot = env.machine.extensions.slots[0]
        _ = env.machine.waiterGone(env.parkedWaiter("logger"))
        #expect(env.machine.invokeExtensions(event: "INVOKE a").isEmpty)
        #expect(env.extensionNext("logger", at: 200) == "deliver(INVOKE a)")
        #expect(env.machine.extensions.slot(id: slot.id) != nil)
        _ = env.post("a", at: 300)
        #expect(env.extensionNext("logger", at: 320) == "invokeOver(220.0, pool, -)")
    }

    @Test func shutdownGoesToTheSubscribedExtensionsOnce() {
        let env = Env(pending: nil)
        _ = env.machine.extensionsLaunched(names: ["a", "b", "c"])
        _ = env.register("a", [.invoke, .shutdown])
        _ = env.register("b", [.invoke])
        _ = env.register("c", [.shutdown])
        _ = env.extensionNext("a", at: 10)
        _ = env.extensionNext("b", at: 10)
        _ = env.extensionNext("c", at: 10)
        #expect(env.next(Waiter("runtime"), at: 20) == "park(becameReady, initDone)")
        _ = env.machine.waiterGone(env.parkedWaiter("c"))
        #expect(env.stop(at: 100) == "terminate(2100, runtime)")
        let now = env.machine.shutdownExtensions(event: "SHUTDOWN")
        #expect(now.map(\.name) == ["ext-a"], "b did not subscribe; c is not parked and gets it when it asks")
        #expect(env.extensionNext("c", at: 150) == "deliver(SHUTDOWN)")
        #expect(env.machine.shutdownExtensions(event: "SHUTDOWN").isEmpty, "only once")
    }

    @Test func internalExtensionsRegisterFromTheRuntimeWithoutShutdownAndOnlyDuringInit() {
        let env = Env()
        _ = env.machine.extensionsLaunched(names: [])
        #expect(env.register("GoLangEnableSIGTERM", [.shutdown]) == "refused(shutdownNotAllowed)")
        #expect(env.register("GoLangEnableSIGTERM", []) == "registered")
        #expect(env.machine.extensions.slots[0].isInternal)
        #expect(env.register("GoLangEnableSIGTERM", []) == "refused(duplicate)")
        let runtime = Waiter("runtime")
        #expect(env.next(runtime, at: 50) == "hold", "INIT waits for the internal extension's /event/next")
        #expect(env.extensionNext("GoLangEnableSIGTERM", at: 60) == "initDone(deliver(A, initDone), runtime)")
        _ = env.delivered("a", at: 60)
        #expect(env.machine.invokeExtensions(event: "INVOKE").isEmpty, "it asked for no events: never answered")
        #expect(env.post("a", at: 100) == "accept(A, 40.0, init 60.0, pool)", "and it never holds an invoke")
        #expect(env.register("late", []) == "invalidState")
        // The runtime's exit takes its internal extensions.
        _ = env.exited(at: 200)
        #expect(env.machine.extensions.isEmpty)
    }

    @Test func atMostTenExtensions() {
        let env = Env()
        for index in 0..<10 { #expect(env.register("e\(index)", []) == "registered") }
        #expect(env.register("e10", []) == "refused(tooMany)")
    }

    @Test func anExtensionThatExitsDuringInitFailsItAndLaterResetsTheEnvironment() {
        let env = Env()
        _ = env.machine.extensionsLaunched(names: ["x"])
        #expect(env.machine.extensionExited(name: "x") == .initFailed)
        let (accepted, pending, _, rerun) = env.machine.initErrorPosted(now: Env.at(50), rerunnable: false)
        #expect(accepted && pending == "A" && !rerun, "an extension's INIT failure is not re-run here")
        let served = Env.withExtension("y", [.invoke])
        #expect(served.machine.extensionInitErrorAllowed(id: served.machine.extensions.slots[0].id) == false)
        #expect(served.machine.extensionExited(name: "y") == .reset)
        #expect(served.machine.extensions.isEmpty)
    }
}

extension Env {
    /// Registers `name` (an id derived from it) and returns the result as text.
    func register(_ name: String, _ events: Set<ExtensionRegistry<Waiter>.EventType>) -> String {
        switch machine.extensionRegistered(name: name, events: events, id: "id-\(name)") {
        case .registered(let start): return start ? "registered, startRuntime" : "registered"
        case .refused(let why): return "refused(\(why))"
        case .invalidState: return "invalidState"
        }
    }

    /// The waiter the extension `name` is parked on.
    func parkedWaiter(_ name: String) -> Waiter {
        for slot in machine.extensions.slots where slot.name == name {
            if case .parked(let waiter) = slot.phase { return waiter }
        }
        return Waiter("none")
    }

    func extensionNext(_ name: String, at time: Int64) -> String {
        let waiter = Waiter("ext-\(name)")
        switch machine.extensionNextRequested(id: "id-\(name)", by: waiter, now: Env.at(time)) {
        case .unknownIdentifier: return "unknown"
        case .deliver(let event): return "deliver(\(event))"
        case .park: return "park"
        case .initDone(let action, let runtime):
            switch action {
            case .deliver(let pending, let initDone):
                return "initDone(deliver(\(pending), \(initDone ? "initDone" : "-")), \(runtime.name))"
            case .park(let ready, _): return "initDone(park(\(ready ? "becameReady" : "-")), \(runtime.name))"
            default: return "initDone(other)"
            }
        case .invokeOver(let duration, let pool, let parked, let stop):
            return "invokeOver(\(duration), \(pool ? "pool" : "-"), \(parked ? "runtimeParked" : "-")"
                + (stop ? ", stop" : "") + ")"
        }
    }

    /// INIT done at 100 ms with one external extension `name` parked (subscribed to `events`); "A" delivered as
    /// "a" at 100 ms on the runtime's connection `w`.
    static func withExtension(_ name: String, _ events: Set<ExtensionRegistry<Waiter>.EventType>) -> Env {
        let env = Env()
        _ = env.machine.extensionsLaunched(names: [name])
        _ = env.register(name, events)
        _ = env.extensionNext(name, at: 50)
        _ = env.next(Waiter("w"), at: 100)
        _ = env.delivered("a", at: 100)
        return env
    }
}
