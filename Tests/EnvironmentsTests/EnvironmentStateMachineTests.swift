import NIOCore
import Testing

@testable import Environments

/// The lifecycle rules, without processes or sockets, driven by a test clock: every event carries an explicit
/// `NIODeadline` (`at:` milliseconds after the machine was created), so every duration and deadline the machine
/// computes is checked exactly.
struct EnvironmentStateMachineTests {
    // MARK: the rules of the old suite, on the new API

    @Test func coldStartDeliversThePendingInvokeOnTheFirstNext() {
        let env = Env()
        #expect(env.next(at: 250) == "deliver(A, initDone)")
        #expect(env.delivered("a", at: 250) == 3250)
        // Duration: delivery → result; INIT (creation → first /next) is reported with this first invoke.
        #expect(env.post("a", at: 290) == "accept(A, 40.0, init 250.0, pool)")
        #expect(env.next(at: 300) == "park", "a park after a response: the pool already has the environment")
    }

    @Test func prewarmedEnvironmentBecomesReadyAtTheFirstNext() {
        let env = Env(pending: nil)
        #expect(env.next(Waiter("parked"), at: 80) == "park(becameReady, initDone)")
        #expect(env.invoke("B") == "deliver(to: parked)", "delivery to the parked waiter")
    }

    @Test func postsForOtherIdsOrInOtherStatesAreRejected() {
        let env = Env()
        #expect(env.post("a", at: 10) == "invalidState", "a post during INIT is an invalid state transition")
        _ = env.next(at: 100)
        _ = env.delivered("a", at: 100)
        #expect(env.post(.error, "zzz", at: 200) == "invalidRequestID", "wrong id")
        #expect(env.post(.error, "a", at: 200) == "accept(A, 100.0, init 100.0, pool)")
        #expect(env.post("a", at: 210) == "invalidRequestID", "a second result for the same invoke")
        #expect(env.initError(at: 220) == "refused", "init/error after INIT")
        _ = env.next(at: 230)
        #expect(env.post("a", at: 240) == "invalidRequestID", "a result while ready")
    }

    @Test func invokeQueuedAfterAResponseIsDeliveredAtNextOrRefusedOnExit() {
        let env = Env.responded()
        #expect(env.invoke("B") == "queued")
        #expect(env.invoke("C") == "refuse(C)", "only one invoke may wait")
        let crashed = env.copy()
        #expect(
            crashed.exited(at: 700) == "refuse(B)", "a queued invoke never reached the runtime and may run elsewhere")
        #expect(env.next(at: 700) == "deliver(B, -)")
        #expect(env.delivered("b", at: 700) == 3700)
        #expect(
            env.post("b", at: 900) == "accept(B, 200.0, init -, pool)", "INIT is reported with the first invoke only")
    }

    @Test func nextDuringAnInvokeRedeliversItAndTimeoutsOnlyHitTheCurrentInvoke() {
        let runtime = Waiter("runtime")
        let env = Env.invoking(on: runtime)
        #expect(env.next(runtime, at: 200) == "redeliver(A)", "RIE redelivers the outstanding invoke")
        #expect(env.invokeTimer("other", at: 3100) == "none")
        #expect(env.invokeTimer("a", at: 3100) == "timeout(A, 3000.0)")
        #expect(env.state == "stopping(-, refuse)", "the pending invoke was handed back once")
        #expect(env.next(runtime, at: 3150) == "reject", "nothing after a timeout")
        #expect(env.exited(at: 3200) == "none", "the timed-out invoke is not failed twice")
        #expect(env.machine.isTerminated)
        #expect(env.next(at: 3300) == "reject", "nothing after termination")
    }

    @Test func initErrorOrExitDuringInitRunsInitAgainInsideThePendingInvoke() {
        let env = Env()
        #expect(env.initError(at: 300) == "accepted(-, 300.0, rerun)", "A is kept for INIT's re-run")
        #expect(env.state == "stopping(A, rerun)")
        #expect(env.exited(at: 310) == "rerun")
        #expect(env.rerunStarted(at: 320) == 3320, "the re-run has the function timeout")
        #expect(env.state == "initializing(A)")
        #expect(env.machine.suppressedInit)
        let other = Env(pending: "B")
        #expect(other.exited(at: 50) == "rerun", "an exit during INIT re-runs it too")
        _ = other.rerunStarted(at: 60)
        #expect(other.exited(at: 90) == "fail(B, duringInit, 30.0)", "the re-run's failure fails B, once")
        var noRerun = Env.limits
        noRerun.rerunsInit = false
        let plain = Env(pending: "C", limits: noRerun)
        #expect(plain.initError(at: 300) == "accepted(C, 300.0)")
    }

    @Test func aFailedReRunFailsItsInvokeWithTheReRunsDuration() {
        let env = Env()
        _ = env.initError(at: 300)
        _ = env.exited(at: 310)
        _ = env.rerunStarted(at: 400)
        #expect(env.initError(at: 650) == "accepted(A, 250.0)", "no second re-run: A fails with the error")
        #expect(env.exited(at: 660) == "none")
    }

    @Test func aStopWhileINITIsAboutToRunAgainFailsTheInvokeInstead() {
        let env = Env()
        _ = env.initError(at: 300)
        #expect(env.stop(at: 305) == "terminate(2305, -)")
        #expect(env.exited(at: 310) == "fail(A, duringInit, 0.0)")
    }

    @Test func aClosedParkedNextMakesTheEnvironmentWaitForTheNextOne() {
        let waiter = Waiter()
        let env = Env.ready(waiter)
        #expect(env.waiterGone(Waiter()) == false, "a stranger")
        #expect(env.waiterGone(waiter))
        #expect(env.waiterGone(waiter) == false, "only once")
        #expect(env.invoke("B") == "queued", "the invoke waits for the runtime to reconnect")
        #expect(env.next(at: 500) == "deliver(B, -)")
    }

    // MARK: INIT: deadline, suppressed init, timeout under the function timeout

    @Test func initDeadlineIsCreationPlusTheInitLimit() {
        #expect(Env().initDeadline == 10_000)
        var limits = Env.limits
        limits.initTimeout = .milliseconds(1500)
        #expect(Env(limits: limits).initDeadline == 1500)
    }

    @Test func initOverrunIsRunAgainThenTimesOutUnderTheFunctionTimeout() {
        let env = Env()
        #expect(env.initTimer(at: 10_040) == "initTimedOut(10040.0, rerun)", "the runtime is stopped")
        #expect(env.state == "stopping(A, rerun)", "the invoke is still pending")
        #expect(env.next(at: 10_041) == "reject", "the old runtime's INIT cannot end now")
        #expect(env.exited(at: 10_050) == "rerun")
        #expect(env.rerunStarted(at: 10_050) == 13_050, "INIT again, under the function timeout")
        #expect(env.machine.suppressedInit)
        #expect(env.state == "initializing(A)")
        #expect(env.initTimer(at: 13_050) == "timeout(A, 3000.0)")
        #expect(env.state == "stopping(-, refuse)")
        #expect(env.next(at: 13_001) == "reject")
        #expect(env.initError(at: 13_002) == "refused")
        #expect(env.invoke("B") == "refuse(B)")
        #expect(env.release() == false, "the process is still there")
        #expect(env.exited(at: 13_060) == "none", "A was already failed with the timeout")
        #expect(env.release())
        #expect(env.release() == false)
    }

    @Test func anInitOverrunWithoutAWaitingInvokeEndsTheEnvironment() {
        let env = Env(pending: nil)
        #expect(env.initTimer(at: 10_000) == "initTimedOut(10000.0, -)")
        #expect(env.state == "stopping(-, refuse)")
        #expect(env.exited(at: 10_010) == "none")
    }

    @Test func suppressedInitLeavesTheRestOfTheFunctionTimeoutToTheFirstInvoke() {
        let env = Env.rerunning(at: 10_000)
        #expect(env.next(at: 11_500) == "deliver(A, initDone)")
        // INIT overran its 10 s limit by 1.5 s: 1.5 s of the 3 s timeout are left.
        #expect(env.delivered("a", at: 11_500) == 13_000)
        #expect(env.remaining(until: 13_000, at: 11_500) == 1500)
        // No Init Duration after a suppressed init; the init time past the limit is inside Duration
        // (runtime-api.md §2.2), as it is when the invoke times out.
        #expect(env.post("a", at: 12_000) == "accept(A, 2000.0, init -, pool)")
        // Only the first invoke pays for INIT: the next one has the whole timeout again.
        _ = env.next(at: 12_100)
        _ = env.invoke("B")
        #expect(env.delivered("b", at: 12_200) == 15_200)
        #expect(env.post("b", at: 12_300) == "accept(B, 100.0, init -, pool)")
    }

    @Test func aSuppressedInitThatEndsAfterItsBudgetTimesOutAtOnce() {
        let env = Env.rerunning(at: 10_000)
        // The /next raced with the (late) suppressed-INIT timer and won.
        _ = env.next(at: 13_400)
        #expect(env.delivered("a", at: 13_400) == 13_400, "never a deadline in the past")
        #expect(env.remaining(until: 13_400, at: 13_400) == 0)
        #expect(env.remaining(until: 1, at: 13_400) == 0, "never negative")
        #expect(env.invokeTimer("a", at: 13_400) == "timeout(A, 3400.0)")
    }

    @Test func aTimeoutAfterASuppressedInitCountsFromTheReRunsStart() {
        let env = Env.rerunning(at: 10_000)
        _ = env.next(at: 11_000)
        #expect(env.delivered("a", at: 11_000) == 13_000)
        #expect(env.invokeTimer("a", at: 13_000) == "timeout(A, 3000.0)", "the 3 s the message says")
    }

    @Test func aStaleInitTimerAfterINITIsHarmless() {
        let env = Env.invoking()
        #expect(env.initTimer(at: 10_000) == "none")
        #expect(env.state == "invoking(A, a)")
        let ready = Env.ready(Waiter())
        #expect(ready.initTimer(at: 10_000) == "none")
        #expect(ready.state == "ready")
    }

    @Test func initErrorDuringINITStopsTheEnvironmentAndNothingElseIsAccepted() {
        var noRerun = Env.limits
        noRerun.rerunsInit = false
        let env = Env(limits: noRerun)
        #expect(env.initError(at: 420) == "accepted(A, 420.0)")
        #expect(env.state == "stopping(-, refuse)", "A was handed to the owner to fail")
        #expect(env.initError(at: 430) == "refused", "only once")
        #expect(env.next(at: 440) == "reject")
        #expect(env.invoke("B") == "refuse(B)")
        #expect(env.initTimer(at: 10_000) == "none")
        #expect(env.stop(at: 450) == "none", "already stopping")
        #expect(env.exited(at: 460) == "none", "A is not failed twice")
        #expect(env.release())
    }

    @Test func initErrorOfAnEnvironmentWithoutPendingInvoke() {
        #expect(Env(pending: nil).initError(at: 50) == "accepted(-, 50.0)")
    }

    @Test func initErrorAfterTheExitIsRefused() {
        var noRerun = Env.limits
        noRerun.rerunsInit = false
        let env = Env(limits: noRerun)
        #expect(env.exited(at: 200) == "fail(A, duringInit, 0.0)")
        #expect(env.initError(at: 201) == "refused", "A failed once, with the exit")
        #expect(env.release())
        #expect(env.release() == false)
    }

    // MARK: exits

    @Test func exitDuringTheInvokeFailsItWithItsDuration() {
        let env = Env.invoking()
        #expect(env.exited(at: 400) == "fail(A, -, 300.0)")
        #expect(env.post("a", at: 401) == "invalidState")
        #expect(env.invokeTimer("a", at: 3100) == "none")
        #expect(env.stop(at: 402) == "none")
        #expect(env.retire() == false)
    }

    @Test func exitDuringINITWithoutPendingInvokeFailsNothing() {
        let env = Env(pending: nil)
        #expect(env.exited(at: 30) == "none")
        #expect(env.machine.isTerminated)
    }

    @Test func exitWhileReadyReleasesTheParkedNext() {
        let env = Env.ready(Waiter("parked"))
        #expect(env.exited(at: 900) == "none, releasing parked")
        #expect(env.invoke("B") == "refuse(B)")
    }

    @Test func exitAfterTheResultFailsNothing() {
        #expect(Env.responded().exited(at: 700) == "none")
    }

    // MARK: timeout at the same moment as the response

    @Test func aResultPostedAfterTheTimerFiredIsRefused() {
        let env = Env.invoking()
        #expect(env.invokeTimer("a", at: 3100) == "timeout(A, 3000.0)")
        #expect(env.post("a", at: 3100) == "invalidState", "A already failed with Sandbox.Timedout")
        #expect(env.post(.error, "a", at: 3100) == "invalidState")
        #expect(env.exited(at: 3120) == "none")
    }

    @Test func theTimerFiringAfterTheResultResetsTheEnvironmentButKeepsTheResult() {
        let env = Env.invoking()
        #expect(env.post("a", at: 3100) == "accept(A, 3000.0, init 100.0, pool)")
        // The runtime did not ask for the next event before the timer fired: noNextAfterResponse.
        #expect(env.invokeTimer("a", at: 3100) == "resetAfterResponse")
        #expect(env.state == "stopping(-, refuse)")
        #expect(env.next(at: 3101) == "reject")
        #expect(env.invoke("B") == "refuse(B)")
        #expect(env.exited(at: 3110) == "none", "A was answered already")
    }

    @Test func noNextAfterResponseRefusesTheQueuedInvokeWhenTheProcessExits() {
        let env = Env.responded()
        #expect(env.invoke("B") == "queued")
        #expect(env.invokeTimer("a", at: 3100) == "resetAfterResponse")
        #expect(env.state == "stopping(B, refuse)")
        #expect(env.exited(at: 3110) == "refuse(B)", "B never reached the runtime")
    }

    @Test func anInvokeTimerOfAFinishedInvokeIsIgnoredOnceTheRuntimeAskedAgain() {
        let env = Env.responded()
        _ = env.next(at: 700)
        #expect(env.invokeTimer("a", at: 3100) == "none")
        #expect(env.state == "ready")
    }

    // MARK: stop in each state

    @Test func stopDuringINITFailsThePendingInvokeWhenTheProcessExits() {
        let env = Env()
        #expect(env.stop(at: 500) == "terminate(2500, -)")
        #expect(env.state == "stopping(A, fail(duringInit))")
        #expect(env.next(at: 600) == "reject", "INIT cannot end now")
        #expect(env.initError(at: 610) == "refused")
        #expect(env.initTimer(at: 10_000) == "none", "no second failure of A")
        #expect(env.stop(at: 700) == "none")
        #expect(env.exited(at: 800) == "fail(A, duringInit, 0.0)")
    }

    @Test func stopDuringINITWithoutPendingInvoke() {
        let env = Env(pending: nil)
        #expect(env.stop(at: 500) == "terminate(2500, -)")
        #expect(env.exited(at: 800) == "none")
    }

    @Test func stopWhileReadyReleasesTheParkedNext() {
        let env = Env.ready(Waiter("parked"))
        #expect(env.stop(at: 1000) == "terminate(3000, parked)")
        #expect(env.invoke("B") == "refuse(B)")
        #expect(env.exited(at: 1100) == "none", "the waiter is not released twice")
    }

    @Test func stopDuringTheInvokeFailsItWhenTheProcessExits() {
        let env = Env.invoking()
        #expect(env.stop(at: 400) == "terminate(2400, -)")
        #expect(env.state == "stopping(A, fail(-))")
        #expect(
            env.post("a", at: 450) == "invalidState",
            "a result during the termination grace is refused; A fails with the exit")
        #expect(env.invokeTimer("a", at: 3100) == "none")
        #expect(env.exited(at: 600) == "fail(A, -, 500.0)")
    }

    @Test func stopAfterTheResultRefusesTheQueuedInvoke() {
        let plain = Env.responded()
        #expect(plain.stop(at: 700) == "terminate(2700, -)")
        #expect(plain.exited(at: 800) == "none")

        let queued = Env.responded()
        _ = queued.invoke("B")
        #expect(queued.stop(at: 700) == "terminate(2700, -)")
        #expect(queued.state == "stopping(B, refuse)")
        #expect(queued.next(at: 710) == "reject", "B is not delivered")
        #expect(queued.exited(at: 800) == "refuse(B)", "B runs elsewhere")
    }

    @Test func stopWhenStoppingOrGoneDoesNothing() {
        let stopping = Env.invoking()
        _ = stopping.stop(at: 400)
        #expect(stopping.stop(at: 500) == "none")
        let gone = Env.invoking()
        _ = gone.exited(at: 400)
        #expect(gone.stop(at: 500) == "none")
    }

    // MARK: retire in each state

    @Test func retireStopsAnIdleEnvironmentAtOnce() {
        let ready = Env.ready(Waiter())
        #expect(ready.retire(), "ready: stop now")
        #expect(ready.invoke("B") == "refuse(B)")

        let responded = Env.responded()
        #expect(responded.retire(), "result in, nothing queued: stop now")
        #expect(responded.invoke("B") == "refuse(B)")

        #expect(Env(pending: nil).retire(), "INIT without an invoke: stop now")
    }

    @Test func retireDuringTheInvokeStopsAfterIt() {
        let env = Env.invoking()
        #expect(env.retire() == false, "busy: it finishes its invoke")
        #expect(env.machine.retiring)
        #expect(env.invoke("B") == "refuse(B)", "new invokes go elsewhere")
        #expect(
            env.post("a", at: 600) == "accept(A, 500.0, init 100.0, -)",
            "the result counts; the environment is not offered to the pool again")
        #expect(env.invoke("C") == "refuse(C)")
        #expect(env.next(at: 650) == "rejectAndStop")
        #expect(env.stop(at: 650) == "terminate(2650, -)")
        #expect(env.exited(at: 700) == "none")
    }

    @Test func retireDuringINITRunsThePendingInvokeThenStops() {
        let env = Env()
        #expect(env.retire() == false)
        #expect(env.invoke("B") == "refuse(B)")
        #expect(env.next(at: 100) == "deliver(A, initDone)")
        _ = env.delivered("a", at: 100)
        #expect(env.post("a", at: 200) == "accept(A, 100.0, init 100.0, -)")
        #expect(env.next(at: 250) == "rejectAndStop")
    }

    @Test func retireWithAQueuedInvokeRunsItBeforeStopping() {
        // B was handed to this environment before the retirement: it is in flight and runs on the version it was
        // resolved to (drain, never kill). Refused, it would go back to the retired pool, which fails it.
        let env = Env.responded()
        #expect(env.invoke("B") == "queued")
        #expect(env.retire() == false)
        #expect(env.invoke("C") == "refuse(C)")
        #expect(env.next(at: 700) == "deliver(B, -)")
        _ = env.delivered("b", at: 700)
        #expect(env.post("b", at: 900) == "accept(B, 200.0, init -, -)")
        #expect(env.next(at: 950) == "rejectAndStop")
    }

    @Test func retireWhenStoppingOrGoneDoesNothing() {
        let stopping = Env.invoking()
        _ = stopping.stop(at: 400)
        #expect(stopping.retire() == false)
        #expect(stopping.state == "stopping(A, fail(-))", "a stop in progress is unchanged")
        let gone = Env()
        _ = gone.exited(at: 10)
        #expect(gone.retire() == false)
    }

    @Test func aRetiredEnvironmentThatNeverAsksAgainIsResetByItsTimer() {
        let env = Env.invoking()
        _ = env.retire()
        _ = env.post("a", at: 600)
        #expect(env.invokeTimer("a", at: 3100) == "resetAfterResponse")
    }

    // MARK: Runtime API edge cases, launch, clean-up

    // MARK: concurrent /next (issue 8, item 9)

    @Test func aSecondConcurrentNextIsHeldNotRejectedAndTheFirstStaysParked() {
        let first = Waiter("first")
        let second = Waiter("second")
        let env = Env.ready(first)
        #expect(env.next(second, at: 200) == "hold", "no 403: the environment still serves")
        #expect(env.invoke("B") == "deliver(to: first)", "one event, to one poller")
        _ = env.delivered("b", at: 200)
        #expect(env.next(second, at: 250) == "hold", "a held poller asking again is not given B")
        #expect(env.post("b", at: 300) == "accept(B, 100.0, init 100.0, pool, invokeOver)")
        #expect(env.state == "ready", "the held /next already asked for the next event")
        #expect(env.invoke("C") == "deliver(to: second)", "the next event goes to the poller that waited")
        _ = env.delivered("c", at: 300)
        #expect(env.next(first, at: 350) == "hold", "the first one now waits behind it")
        #expect(env.post("c", at: 400) == "accept(C, 100.0, init -, pool, invokeOver)")
        #expect(env.invoke("D") == "deliver(to: first)")
    }

    @Test func theConnectionAnInvokeWentToIsNotKeptOnceItCloses() {
        weak var released: Waiter?
        let env: Env
        do {
            let runtime = Waiter("runtime")
            env = Env.invoking(on: runtime)
            released = runtime
            #expect(env.waiterGone(runtime) == false, "it was not the parked poller of a ready environment")
        }
        #expect(released == nil, "the machine let the closed connection go (it kept it until the result before)")
        let stranger = Waiter("new connection")
        #expect(env.next(stranger, at: 160) == "hold", "a new connection waits for the result, as before")
        #expect(env.post("a", at: 600) == "accept(A, 500.0, init 100.0, pool, invokeOver)")
        #expect(env.invoke("B") == "deliver(to: new connection)")
    }

    @Test func anInvokeInFlightIsRedeliveredOnlyToTheConnectionThatHasIt() {
        let runtime = Waiter("runtime")
        let other = Waiter("other")
        let env = Env.invoking(on: runtime)
        #expect(env.next(other, at: 150) == "hold", "never the same event to a second poller")
        #expect(env.next(runtime, at: 160) == "redeliver(A)", "the same connection asking again gets it again")
        #expect(env.post("a", at: 600) == "accept(A, 500.0, init 100.0, pool, invokeOver)")
        #expect(env.next(runtime, at: 610) == "hold", "after its result, A is never sent again")
        #expect(env.invoke("B") == "deliver(to: other)")
    }

    @Test func aColdStartsInvokeGoesToTheFirstPollerOnly() {
        let env = Env()
        #expect(env.next(Waiter("first"), at: 100) == "deliver(A, initDone)")
        _ = env.delivered("a", at: 100)
        #expect(env.next(Waiter("second"), at: 101) == "hold")
    }

    @Test func aHeldPollerTakesTheParkedOnesPlaceWhenItsConnectionCloses() {
        let first = Waiter("first")
        let second = Waiter("second")
        let env = Env.ready(first)
        _ = env.next(second, at: 200)
        #expect(env.waiterGone(first), "the parked poller went away")
        #expect(env.state == "ready", "still ready: the held one is parked now")
        #expect(env.invoke("B") == "deliver(to: second)")

        let third = Waiter("third")
        let again = Env.ready(first)
        _ = again.next(third, at: 200)
        #expect(again.waiterGone(third) == false, "a held poller leaving changes nothing")
        #expect(again.waiterGone(first))
        #expect(again.state == "responded(-)", "nobody is left to deliver to")
    }

    @Test func heldPollersAreReleasedOnlyWhenTheEnvironmentStopsOrExits() {
        let env = Env.ready(Waiter("first"))
        _ = env.next(Waiter("second"), at: 200)
        _ = env.next(Waiter("third"), at: 210)
        #expect(env.stop(at: 300) == "terminate(2300, first second third)")
        #expect(env.exited(at: 400) == "none", "each is answered once")

        let crashed = Env.invoking()
        _ = crashed.next(Waiter("held"), at: 200)
        #expect(crashed.exited(at: 300) == "fail(A, -, 200.0), releasing held")
    }

    @Test func aRetiringEnvironmentDoesNotHandAHeldPollerTheNextEvent() {
        let env = Env.invoking()
        _ = env.next(Waiter("held"), at: 200)
        _ = env.retire()
        #expect(env.post("a", at: 600) == "accept(A, 500.0, init 100.0, -)")
        #expect(env.next(at: 610) == "rejectAndStop")
        #expect(env.stop(at: 610) == "terminate(2610, held)", "the held poller is released by that stop")
    }

    @Test func releaseResourcesIsTrueExactlyOnceAfterTheEnd() {
        let env = Env.invoking()
        #expect(env.release() == false, "running")
        _ = env.stop(at: 200)
        #expect(env.release() == false, "stopping: the process is still there")
        _ = env.exited(at: 300)
        #expect(env.release())
        #expect(env.release() == false)
        #expect(env.exited(at: 400) == "none", "a duplicate exit report changes nothing")
        #expect(env.release() == false)
    }

    @Test func aRuntimeThatCannotStartFailsThePendingInvokeOnce() {
        let env = Env()
        #expect(env.launchFailed() == "A")
        #expect(env.machine.isTerminated)
        #expect(env.launchFailed() == nil)
        #expect(env.release())
        #expect(env.release() == false)

        let stopped = Env()
        _ = stopped.stop(at: 1)
        #expect(stopped.launchFailed() == "A", "stopped before it could start: A still fails")
    }

    @Test func aStopOrATimeoutBeforeTheLaunchKillsTheProcessOnceItExists() {
        #expect(Env().launched() == false)

        let stopped = Env()
        _ = stopped.stop(at: 1)
        stopped.machine.stopBeforeLaunch()
        #expect(stopped.launched())

        // The thread pool was slow to spawn the runtime: INIT ran out before it existed.
        let late = Env()
        _ = late.initTimer(at: 10_000)
        #expect(late.launched(), "nobody else would ever stop it")
    }
}

// MARK: the machine behind a reference, with readable results

/// A Runtime API connection whose `/next` can be parked; compared by identity, shown by name.
final class Waiter {
    let name: String
    init(_ name: String = "w") { self.name = name }
}

/// The machine under test behind a reference (so that its mutating events can be called inside `#expect`), with
/// times in milliseconds after its creation and every action rendered as a short string.
final class Env {
    typealias Machine = EnvironmentStateMachine<Waiter, String>

    /// INIT 10 s, function timeout 3 s, SIGTERM→SIGKILL 2 s.
    static let limits: Machine.Limits = {
        var limits = Machine.Limits()
        limits.initTimeout = .seconds(10)
        limits.invokeTimeout = .seconds(3)
        limits.terminationGrace = .seconds(2)
        return limits
    }()
    /// Creation time of every machine here.
    static let t0 = NIODeadline.uptimeNanoseconds(5_000_000_000_000)

    var machine: Machine

    init(pending: String? = "A", limits: Machine.Limits = Env.limits) {
        machine = Machine(pending: pending, limits: limits, now: Self.t0)
    }

    private init(machine: Machine) { self.machine = machine }

    /// A cold start of "A": INIT ends with the first `/next` at 100 ms (on `runtime`'s connection), "A" is
    /// delivered as request "a" then.
    static func invoking(on runtime: Waiter = Waiter()) -> Env {
        let env = Env()
        _ = env.next(runtime, at: 100)
        _ = env.delivered("a", at: 100)
        return env
    }

    /// "A" ran from 100 ms to 600 ms; its result is in, the runtime has not asked for the next event yet.
    static func responded() -> Env {
        let env = invoking()
        _ = env.post("a", at: 600)
        return env
    }

    /// INIT done at 100 ms with nothing to run: `waiter` is parked.
    static func ready(_ waiter: Waiter) -> Env {
        let env = Env(pending: nil)
        _ = env.next(waiter, at: 100)
        return env
    }

    func copy() -> Env { Env(machine: machine) }

    static func at(_ milliseconds: Int64) -> NIODeadline { t0 + .milliseconds(milliseconds) }
    static func ms(_ deadline: NIODeadline) -> Int64 { (deadline - t0).nanoseconds / 1_000_000 }

    var state: String {
        switch machine.state {
        case .initializing(let pending): return "initializing(\(pending ?? "-"))"
        case .ready: return "ready"
        case .invoking(let pending, let requestID): return "invoking(\(pending), \(requestID))"
        case .responded(let queued): return "responded(\(queued ?? "-"))"
        case .stopping(let pending, .refuse): return "stopping(\(pending ?? "-"), refuse)"
        case .stopping(let pending, .rerun): return "stopping(\(pending ?? "-"), rerun)"
        case .stopping(let pending, .fail(let duringInit)):
            return "stopping(\(pending ?? "-"), fail(\(duringInit ? "duringInit" : "-")))"
        case .terminated: return "terminated"
        }
    }

    var initDeadline: Int64 { Self.ms(machine.initDeadline) }

    func next(_ waiter: Waiter = Waiter(), at time: Int64) -> String {
        switch machine.nextRequested(by: waiter, now: Self.at(time)) {
        case .deliver(let pending, let initDone): return "deliver(\(pending), \(initDone ? "initDone" : "-"))"
        case .redeliver(let pending): return "redeliver(\(pending))"
        case .park(false, false): return "park"
        case .park(let becameReady, let initDone):
            return "park(\(becameReady ? "becameReady" : "-"), \(initDone ? "initDone" : "-"))"
        case .hold: return "hold"
        case .reject: return "reject"
        case .rejectAndStop: return "rejectAndStop"
        }
    }

    /// The deadline of the delivered invoke.
    func delivered(_ requestID: String, at time: Int64) -> Int64 {
        Self.ms(machine.delivered(requestID: requestID, now: Self.at(time)))
    }

    func remaining(until deadline: Int64, at time: Int64) -> Int64 {
        machine.remainingMs(until: Self.at(deadline), now: Self.at(time))
    }

    func post(_ requestID: String, at time: Int64) -> String { post(.response, requestID, at: time) }

    func post(_ kind: Machine.PostKind, _ requestID: String, at time: Int64) -> String {
        switch machine.posted(kind, requestID: requestID, now: Self.at(time)) {
        case .accept(let pending, let duration, let initDuration, let offerToPool, let invokeOver):
            let initText = initDuration.map { "\($0)" } ?? "-"
            let over = invokeOver ? ", invokeOver" : ""
            return "accept(\(pending), \(duration), init \(initText), \(offerToPool ? "pool" : "-")\(over))"
        case .invalidRequestID: return "invalidRequestID"
        case .invalidState: return "invalidState"
        }
    }

    func invoke(_ pending: String) -> String {
        switch machine.invoke(pending, requestID: pending.lowercased()) {
        case .deliver(let waiter): return "deliver(to: \(waiter.name))"
        case .queued: return "queued"
        case .refuse(let refused): return "refuse(\(refused))"
        }
    }

    func initError(at time: Int64) -> String {
        let result = machine.initErrorPosted(now: Self.at(time))
        guard result.accepted else { return result.pending == nil ? "refused" : "refused, but \(result.pending!)" }
        return "accepted(\(result.pending ?? "-"), \(result.initDurationMs)\(result.rerun ? ", rerun" : ""))"
    }

    /// The INIT re-run's deadline.
    func rerunStarted(at time: Int64) -> Int64 { Self.ms(machine.rerunStarted(now: Self.at(time))) }

    /// INIT overran its limit at `time` and runs again from then (the old process exited at once).
    static func rerunning(at time: Int64) -> Env {
        let env = Env()
        _ = env.initTimer(at: time)
        _ = env.exited(at: time)
        _ = env.rerunStarted(at: time)
        return env
    }

    func initTimer(at time: Int64) -> String { show(machine.initTimerFired(now: Self.at(time))) }

    func invokeTimer(_ requestID: String, at time: Int64) -> String {
        show(machine.invokeTimerFired(requestID: requestID, now: Self.at(time)))
    }

    private func show(_ action: Machine.TimerAction) -> String {
        switch action {
        case .initTimedOut(let duration, let rerun): return "initTimedOut(\(duration), \(rerun ? "rerun" : "-"))"
        case .timeout(let pending, let duration): return "timeout(\(pending), \(duration))"
        case .resetAfterResponse: return "resetAfterResponse"
        case .none: return "none"
        }
    }

    func stop(at time: Int64) -> String {
        switch machine.stop(now: Self.at(time)) {
        case .terminate(let killAt, let waiters):
            let names = waiters.isEmpty ? "-" : waiters.map(\.name).joined(separator: " ")
            return "terminate(\(Self.ms(killAt)), \(names))"
        case .none: return "none"
        }
    }

    func retire() -> Bool { machine.retire() }

    func exited(at time: Int64) -> String {
        let (action, releasing) = machine.processExited(now: Self.at(time))
        let released = releasing.isEmpty ? "" : ", releasing " + releasing.map(\.name).joined(separator: " ")
        switch action {
        case .fail(let pending, let duringInit, let duration):
            return "fail(\(pending), \(duringInit ? "duringInit" : "-"), \(duration))" + released
        case .refuse(let pending): return "refuse(\(pending))" + released
        case .rerun: return "rerun" + released
        case .none: return "none" + released
        }
    }

    func waiterGone(_ waiter: Waiter) -> Bool { machine.waiterGone(waiter) }
    func launchFailed() -> String? { machine.launchFailed() }
    func launched() -> Bool { machine.launched() }
    func release() -> Bool { machine.releaseResources() }
}
