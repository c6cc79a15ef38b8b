import Foundation
import JobKit
import Synchronization

/// Every benchmark job's payload: the wall-clock time at which its enqueue call began.
struct BenchPayload: Codable, Sendable {
    var ts: Double
}

/// The benchmark's job: does nothing but tell the recorder it ran.
struct NoopJob: JobHandler {
    typealias Payload = BenchPayload
    static let type = "noop"

    let recorder: RunRecorder

    func run(_ payload: BenchPayload, context: JobContext) async throws -> EmptyPayload {
        self.recorder.record(enqueuedAt: payload.ts)
        return EmptyPayload()
    }
}

/// Counts handler runs (and, for C, records enqueue-to-start latencies) and lets one caller
/// wait until a target count is reached.
final class RunRecorder: Sendable {
    private struct State {
        var count = 0
        var latencies: [Double] = []
        var reachedAt: ContinuousClock.Instant?
        var waiter: CheckedContinuation<Bool, Never>?
    }

    let target: Int
    let recordsLatency: Bool
    private let state = Mutex(State())

    init(target: Int, recordsLatency: Bool) {
        self.target = target
        self.recordsLatency = recordsLatency
        if recordsLatency { self.state.withLock { $0.latencies.reserveCapacity(target) } }
    }

    /// Called first thing in the handler.
    func record(enqueuedAt ts: Double) {
        let started = wallClock()
        let now = ContinuousClock.now
        let waiter = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if self.recordsLatency { state.latencies.append(started - ts) }
            state.count += 1
            guard state.count == self.target else { return nil }
            state.reachedAt = now
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: true)
    }

    var count: Int { self.state.withLock { $0.count } }
    var latencies: [Double] { self.state.withLock { $0.latencies } }
    /// When the handler ran for the `target`-th time.
    var reachedAt: ContinuousClock.Instant? { self.state.withLock { $0.reachedAt } }

    /// Returns `true` once the handler has run `target` times, `false` after `timeout`.
    func waitForTarget(timeout: Duration) async -> Bool {
        let timer = Task {
            try? await Task.sleep(for: timeout)
            let waiter = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: false)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let reached = self.state.withLock { state -> Bool in
                if state.count >= self.target { return true }
                state.waiter = continuation
                return false
            }
            if reached { continuation.resume(returning: true) }
        }
    }
}
