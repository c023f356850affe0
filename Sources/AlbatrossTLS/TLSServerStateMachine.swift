/// The life of one server-side TLS connection, with no I/O: the handler reports what happened and performs the
/// action returned. Keeping it pure makes every transition testable without OpenSSL or a channel.
///
/// ```
/// handshaking ──complete──► active ──close requested──► closing ──peer close_notify / timeout / EOF──► closed
///      │                      │                                                                    ▲
///      └──failed / timeout / EOF / close requested─────┴──peer close_notify (reply) / EOF (truncation)─┘
/// ```
struct TLSServerStateMachine {
    enum State: Equatable {
        case handshaking
        case active
        /// We sent close_notify and wait (bounded by a timer) for the peer's.
        case closing
        case closed
    }

    private(set) var state: State = .handshaking

    // MARK: Inbound

    enum InboundAction: Equatable {
        /// Feed the bytes and continue the handshake.
        case continueHandshake
        /// Feed the bytes and decrypt; `deliver` is false while closing (data after our close_notify is dropped).
        case decrypt(deliver: Bool)
        case discard
    }

    func receivedCiphertext() -> InboundAction {
        switch state {
        case .handshaking: .continueHandshake
        case .active: .decrypt(deliver: true)
        case .closing: .decrypt(deliver: false)
        case .closed: .discard
        }
    }

    enum HandshakeCompletedAction: Equatable {
        /// Cancel the handshake timer, fire `TLSHandshakeCompleted`, decrypt what already arrived, send what
        /// was written meanwhile.
        case announceAndStartApplicationData
        case ignore
    }

    mutating func handshakeCompleted() -> HandshakeCompletedAction {
        guard state == .handshaking else { return .ignore }
        state = .active
        return .announceAndStartApplicationData
    }

    enum FailureAction: Equatable {
        /// Report the error downstream and close the channel without close_notify.
        case reportAndClose(TLSError)
        case ignore
    }

    mutating func handshakeFailed(_ error: TLSError) -> FailureAction {
        guard state == .handshaking else { return .ignore }
        state = .closed
        return .reportAndClose(error)
    }

    mutating func handshakeTimedOut(seconds: Double) -> FailureAction {
        handshakeFailed(.handshakeTimeout(seconds: seconds))
    }

    /// A fatal TLS error after the handshake (bad record MAC, unexpected message, ...).
    mutating func protocolFailed(_ error: TLSError) -> FailureAction {
        switch state {
        case .closed: return .ignore
        case .closing:
            state = .closed
            return .reportAndClose(error)
        case .handshaking, .active:
            state = .closed
            return .reportAndClose(error)
        }
    }

    enum PeerClosedAction: Equatable {
        /// The peer ended cleanly first: answer with our close_notify, then close the channel.
        case replyCloseNotifyAndClose
        /// The peer answered our close_notify: close the channel now, completing the pending close.
        case completeClose
        case ignore
    }

    mutating func receivedCloseNotify() -> PeerClosedAction {
        switch state {
        case .active:
            state = .closed
            return .replyCloseNotifyAndClose
        case .closing:
            state = .closed
            return .completeClose
        case .handshaking, .closed:
            return .ignore
        }
    }

    enum EndOfInputAction: Equatable {
        /// EOF without close_notify after the handshake: report truncation, then close.
        case reportTruncationAndClose
        /// Close the channel (completing any pending close).
        case close
        case ignore
    }

    /// The transport's input ended (half-closure) while the channel stays open.
    mutating func inputEnded() -> EndOfInputAction {
        switch state {
        case .active:
            state = .closed
            return .reportTruncationAndClose
        case .handshaking, .closing:
            state = .closed
            return .close
        case .closed:
            return .ignore
        }
    }

    enum InactiveAction: Equatable {
        /// The stream ended without close_notify after the handshake.
        case reportTruncation
        /// Our close was under way and is now done.
        case completePendingClose
        case none
    }

    /// The channel went inactive; every state ends here, the handler then frees the connection.
    mutating func channelInactive() -> InactiveAction {
        defer { state = .closed }
        switch state {
        case .active: return .reportTruncation
        case .closing: return .completePendingClose
        case .handshaking, .closed: return .none
        }
    }

    // MARK: Outbound

    enum WriteAction: Equatable {
        case buffer
        case fail
    }

    func write() -> WriteAction {
        switch state {
        case .handshaking, .active: .buffer
        case .closing, .closed: .fail
        }
    }

    enum FlushAction: Equatable {
        case encryptAndSend
        /// Remember the flush; the data goes out right after the handshake.
        case deferUntilHandshakeCompletes
        case ignore
    }

    func flush() -> FlushAction {
        switch state {
        case .handshaking: .deferUntilHandshakeCompletes
        case .active: .encryptAndSend
        case .closing, .closed: .ignore
        }
    }

    enum CloseAction: Equatable {
        /// No session to end politely: close the channel now.
        case closeChannel
        /// Send pending data and close_notify, then wait for the peer's (with a timer).
        case sendCloseNotifyAndWait
        /// A close is already under way; attach the promise to it.
        case joinPendingClose
        /// The session is over already; let the channel handle the close (it fails it if already closed).
        case forwardClose
    }

    mutating func closeRequested() -> CloseAction {
        switch state {
        case .handshaking:
            state = .closed
            return .closeChannel
        case .active:
            state = .closing
            return .sendCloseNotifyAndWait
        case .closing:
            return .joinPendingClose
        case .closed:
            return .forwardClose
        }
    }

    /// The peer did not answer our close_notify in time. Returns whether to close the channel now.
    mutating func closeTimedOut() -> Bool {
        guard state == .closing else { return false }
        state = .closed
        return true
    }
}
