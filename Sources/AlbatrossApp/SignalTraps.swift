import Glibc
import NIOConcurrencyHelpers
import UnixSignals

/// The signals the server traps, registered once, early: ``AlbatrossApplication/startListeners()`` installs them
/// before it reports the listeners, so that a signal sent as soon as `serve` says "listening on" is never lost
/// or fatal. The services that react to them (``ShutdownSignalService``, ``HangupReloadService``) iterate the
/// sequences made here.
final class SignalTraps: Sendable {
    private let installed = NIOLockedValueBox<(shutdown: UnixSignalsSequence, hangup: UnixSignalsSequence)?>(nil)

    /// Traps SIGINT, SIGTERM and SIGHUP (idempotent).
    func install() async -> (shutdown: UnixSignalsSequence, hangup: UnixSignalsSequence) {
        if let done = installed.withLockedValue({ $0 }) { return done }
        // Their default action ends the process; the signal sources below are what receives them from now on.
        for number in [SIGINT, SIGTERM, SIGHUP] { signal(number, SIG_IGN) }
        let fresh = (
            shutdown: await UnixSignalsSequence(trapping: .sigint, .sigterm),
            hangup: await UnixSignalsSequence(trapping: .sighup)
        )
        return installed.withLockedValue { current in
            if let current { return current }
            current = fresh
            return fresh
        }
    }
}
