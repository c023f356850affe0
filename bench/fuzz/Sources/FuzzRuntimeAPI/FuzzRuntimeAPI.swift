// libFuzzer target: the Runtime API as a runtime process reaches it. The bytes go, as raw HTTP/1.1 from the
// runtime, through the pipeline ExecutionEnvironment builds for each connection (RuntimeAPIHandler.addHandlers:
// NIO's request decoder, then RuntimeAPIHandler, which writes its answers as bytes) on an EmbeddedChannel. The handler serves an environment made of the real
// lifecycle state machine on a fixed clock, which holds one invoke at the start and is handed a new one every
// time it becomes ready, as the pool would; at the end the connection closes (a parked `/next` is let go).
//
// Besides the sanitizers, the state machine's and the handler's own preconditions are the checks.
import InvocationModel
import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import Environments

private let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

private func invocation(_ number: Int) -> InvocationRequest {
    InvocationRequest(
        requestID: "req-\(number)", payload: ByteBuffer(string: #"{"n":\#(number)}"#),
        invokedFunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:fuzz",
        traceHeader: "Root=1-6553f100-0123456789abcdef01234567;Parent=89abcdef01234567;Sampled=0",
        clientContext: number % 2 == 0 ? #"{"c":1}"# : nil)
}

/// One environment as ExecutionEnvironment drives it, minus the process: the state machine's answers are carried
/// out on the handler at once.
private final class FuzzEnvironment: RuntimeAPIEnvironment {
    typealias Machine = EnvironmentStateMachine<RuntimeAPIHandler, InvocationRequest>

    private var machine = Machine(pending: invocation(1), now: start)
    private var now = start
    private var invokes = 1

    private func tick() { now = now + .milliseconds(7) }

    func nextRequested(by waiter: RuntimeAPIHandler) {
        tick()
        switch machine.nextRequested(by: waiter, now: now) {
        case .deliver(let request, _):
            let deadline = machine.delivered(requestID: request.requestID, now: now)
            waiter.deliver(request, deadlineEpochMs: 1_700_000_000_000 + machine.remainingMs(until: deadline, now: now))
        case .redeliver(let request):
            waiter.deliver(request, deadlineEpochMs: 1_700_000_000_000)
        case .park(let becameReady, _):
            // The pool hands a ready environment its next invoke (at most a few per input).
            guard becameReady, invokes < 8 else { return }
            invokes += 1
            let request = invocation(invokes)
            switch machine.invoke(request, requestID: request.requestID) {
            case .deliver(let parked):
                let deadline = machine.delivered(requestID: request.requestID, now: now)
                parked.deliver(
                    request, deadlineEpochMs: 1_700_000_000_000 + machine.remainingMs(until: deadline, now: now))
            case .queued, .refuse:
                break
            }
        case .hold:
            // A concurrent `/next` waits behind the poller; the machine hands it over later.
            break
        case .reject, .rejectAndStop:
            waiter.rejectNext()
        }
    }

    func waiterGone(_ waiter: RuntimeAPIHandler) {
        _ = machine.waiterGone(waiter)
    }

    func post(
        _ kind: ExecutionEnvironment.Machine.PostKind, requestID: String, body: ByteBuffer, contentType: String?,
        errorType: String?, errorCause: String?
    ) -> RuntimeAPIHandler.PostResult {
        tick()
        switch machine.posted(kind == .response ? .response : .error, requestID: requestID, now: now) {
        case .accept: return .accepted
        case .invalidRequestID: return .invalidRequestID
        case .invalidState: return .invalidState
        }
    }

    func responseTooLarge(requestID: String) {
        tick()
        _ = machine.posted(.response, requestID: requestID, now: now)
    }

    func initErrorPosted(body: ByteBuffer, errorType: String?) -> Bool {
        tick()
        return machine.initErrorPosted(now: now).accepted
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRuntimeAPI(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let environment = FuzzEnvironment()
    let channel = EmbeddedChannel()
    do {
        try RuntimeAPIHandler.addHandlers(to: channel.pipeline.syncOperations, environment: environment)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
    } catch {
        fatalError("pipeline: \(error)")
    }
    // Two writes, split in the middle, so that a head or body crossing reads is covered too.
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let half = size / 2
    for part in [bytes[..<half], bytes[half...]] where channel.isActive {
        do {
            try channel.writeInbound(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: part)))
        } catch {
            break  // The decoder's error (the handler has answered 400 and closed).
        }
    }
    while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    _ = try? channel.close().wait()
    _ = try? channel.finish()
    // A close started inside the pipeline (the handler's, after a 400 or `Connection: close`) tears the pipeline down in a task: run it,
    // or the channel, its handlers and the environment keep one another alive (LeakSanitizer reports it).
    channel.embeddedEventLoop.run()
    return 0
}
