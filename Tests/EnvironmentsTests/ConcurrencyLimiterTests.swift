import Environments
import LambdaModel
import Testing

/// The account's executions: reserved concurrency, the unreserved pool and the account limit, without processes.
struct ConcurrencyLimiterTests {
    @Test func reservedZeroRefusesEveryExecution() {
        let limiter = ConcurrencyLimiter()
        limiter.setReservations(["off": 0])
        #expect(limiter.acquire("off") == .reserved)
        #expect(limiter.acquire("off") == .reserved)
        #expect(limiter.acquire("other") == nil, "other functions draw from the unreserved pool")
    }

    @Test func aReservationCapsItsFunctionAcrossVersionsAndIsGivenBack() {
        let limiter = ConcurrencyLimiter()
        limiter.setReservations(["shop": 2])
        #expect(limiter.acquire("shop") == nil)
        #expect(limiter.acquire("shop") == nil)
        #expect(limiter.acquire("shop") == .reserved)
        limiter.release("shop")
        #expect(limiter.acquire("shop") == nil)
        #expect(limiter.usage.byFunction["shop"] == 2)
        #expect(limiter.usage.unreserved == 0, "reserved executions are not taken from the unreserved pool")
    }

    @Test func theUnreservedPoolIsTheAccountLimitLessEveryReservation() {
        let limiter = ConcurrencyLimiter(account: AccountConcurrency(limit: 10, minimumUnreserved: 2))
        limiter.setReservations(["big": 7])
        // 10 - 7 = 3 executions for every function without a reservation together.
        #expect(limiter.acquire("a") == nil)
        #expect(limiter.acquire("b") == nil)
        #expect(limiter.acquire("a") == nil)
        #expect(limiter.acquire("c") == .account)
        // The reserved function still has all of its own.
        for _ in 0..<7 { #expect(limiter.acquire("big") == nil) }
        #expect(limiter.acquire("big") == .reserved)
        limiter.release("b")
        #expect(limiter.acquire("c") == nil)
        #expect(limiter.usage.unreserved == 3)
        #expect(limiter.usage.unreservedPool == 3)
    }

    @Test func aReservationMustLeaveTheMinimumUnreserved() {
        let limiter = ConcurrencyLimiter(account: AccountConcurrency(limit: 1000, minimumUnreserved: 100))
        #expect(limiter.setReservation(850, for: "a") == nil)
        let problem = limiter.setReservation(60, for: "b")
        #expect(
            problem
                == "Specified ReservedConcurrentExecutions for function decreases account's "
                + "UnreservedConcurrentExecution below its minimum value of [100].")
        #expect(limiter.reservation(for: "b") == nil)
        #expect(limiter.setReservation(50, for: "b") == nil)
        // Changing a reservation counts the function's old value out first.
        #expect(limiter.setReservation(800, for: "a") == nil)
        #expect(limiter.setReservation(nil, for: "a") == nil)
        #expect(limiter.reservation(for: "a") == nil)
    }

    @Test func executionsInUseMoveWithTheirFunctionWhenItsReservationChanges() {
        let limiter = ConcurrencyLimiter(account: AccountConcurrency(limit: 4, minimumUnreserved: 0))
        #expect(limiter.acquire("a") == nil)
        #expect(limiter.acquire("a") == nil)
        #expect(limiter.usage.unreserved == 2)
        limiter.setReservations(["a": 2])
        #expect(limiter.usage.unreserved == 0)
        #expect(limiter.acquire("a") == .reserved)
        #expect(limiter.acquire("b") == nil)
        #expect(limiter.acquire("b") == nil)
        #expect(limiter.acquire("b") == .account)
    }
}
