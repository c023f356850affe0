import Testing

@testable import Environments

/// The lifecycle rules, without processes or sockets.
struct EnvironmentStateMachineTests {
    final class Waiter {}
    typealias Machine = EnvironmentStateMachine<Waiter, String>

    @Test func coldStartDeliversThePendingInvokeOnTheFirstNext() {
        var machine = Machine(pending: "A")
        guard case .deliver("A", initDone: true) = machine.nextRequested(by: Waiter()) else {
            Issue.record("expected delivery")
            return
        }
        machine.delivered(requestID: "a")
        guard case .accept("A") = machine.posted(.response, requestID: "a") else {
            Issue.record("expected accept")
            return
        }
        guard case .park(becameReady: false, initDone: false) = machine.nextRequested(by: Waiter()) else {
            Issue.record("expected park after a response (the pool already has the environment)")
            return
        }
    }

    @Test func prewarmedEnvironmentBecomesReadyAtTheFirstNext() {
        var machine = Machine(pending: nil)
        guard case .park(becameReady: true, initDone: true) = machine.nextRequested(by: Waiter()) else {
            Issue.record("expected ready")
            return
        }
        guard case .deliver = machine.invoke("B", requestID: "b") else {
            Issue.record("expected delivery to the parked waiter")
            return
        }
    }

    @Test func postsForOtherIdsOrInOtherStatesAreRejected() {
        var machine = Machine(pending: "A")
        guard case .invalidState = machine.posted(.response, requestID: "a") else {
            Issue.record("a post during INIT is an invalid state transition")
            return
        }
        _ = machine.nextRequested(by: Waiter())
        machine.delivered(requestID: "a")
        guard case .invalidRequestID = machine.posted(.error, requestID: "zzz") else {
            Issue.record("wrong id")
            return
        }
        _ = machine.posted(.error, requestID: "a")
        guard case .invalidRequestID = machine.posted(.response, requestID: "a") else {
            Issue.record("a second result for the same invoke")
            return
        }
        let late = machine.initErrorPosted()
        #expect(late.accepted == false, "init/error after INIT")
    }

    @Test func invokeQueuedAfterAResponseIsDeliveredAtNextOrRefusedOnExit() {
        var machine = Machine(pending: "A")
        _ = machine.nextRequested(by: Waiter())
        machine.delivered(requestID: "a")
        _ = machine.posted(.response, requestID: "a")
        guard case .queued = machine.invoke("B", requestID: "b") else {
            Issue.record("expected queueing")
            return
        }
        guard case .refuse("C") = machine.invoke("C", requestID: "c") else {
            Issue.record("only one invoke may wait")
            return
        }
        var crashed = machine
        guard case .refuse("B") = crashed.terminate() else {
            Issue.record("a queued invoke never reached the runtime and may run elsewhere")
            return
        }
        guard case .deliver("B", initDone: false) = machine.nextRequested(by: Waiter()) else {
            Issue.record("expected the queued invoke")
            return
        }
    }

    @Test func nextDuringAnInvokeRedeliversItAndTimeoutsOnlyHitTheCurrentInvoke() {
        var machine = Machine(pending: "A")
        _ = machine.nextRequested(by: Waiter())
        machine.delivered(requestID: "a")
        guard case .redeliver("A") = machine.nextRequested(by: Waiter()) else {
            Issue.record("RIE redelivers the outstanding invoke")
            return
        }
        let unrelated = machine.timedOut(requestID: "other")
        #expect(unrelated == nil)
        let timedOut = machine.timedOut(requestID: "a")
        #expect(timedOut == "A")
        #expect(machine.isTerminated)
        guard case .reject = machine.nextRequested(by: Waiter()) else {
            Issue.record("nothing after termination")
            return
        }
    }

    @Test func initErrorFailsThePendingInvokeAndExitDuringInitFailsIt() {
        var machine = Machine(pending: "A")
        let result = machine.initErrorPosted()
        #expect(result.accepted && result.pending == "A")
        var other = Machine(pending: "B")
        guard case .fail("B", duringInit: true) = other.terminate() else {
            Issue.record("exit during INIT fails the pending invoke")
            return
        }
    }

    @Test func aClosedParkedNextMakesTheEnvironmentWaitForTheNextOne() {
        var machine = Machine(pending: nil)
        let waiter = Waiter()
        _ = machine.nextRequested(by: waiter)
        let stranger = machine.waiterGone(Waiter())
        #expect(stranger == false)
        let parked = machine.waiterGone(waiter)
        #expect(parked)
        guard case .queued = machine.invoke("B", requestID: "b") else {
            Issue.record("the invoke waits for the runtime to reconnect")
            return
        }
    }
}
