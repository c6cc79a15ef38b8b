import Synchronization

/// A one-shot signal that a running job should stop: fired by a cancellation notification,
/// a heartbeat or a progress report that learned of a cancellation request.
final class CancelSignal: Sendable {
    private struct State {
        var isFired = false
        var isAbandoned = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Whether the signal has fired.
    var isFired: Bool { self.state.withLock { $0.isFired } }

    /// Fires the signal; later calls do nothing.
    func fire() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.isFired else { return nil }
            state.isFired = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns when the signal fires or the calling task is cancelled. One waiter at a time.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.isFired || state.isAbandoned { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.isAbandoned = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
