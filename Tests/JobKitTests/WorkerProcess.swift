import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `jobkit-test-worker` process: started, watched for its `ready` line, signalled, awaited.
///
/// Nothing here blocks a cooperative thread: output arrives through `readabilityHandler`
/// (Foundation's own threads), exit through `terminationHandler`, and waiters are
/// continuations resumed from those callbacks.
///
/// The worker's standard input is a pipe this object holds and the worker runs with
/// `--exit-with-parent`: if the test process dies, the kernel closes the pipe and the worker
/// exits instead of sleeping on.
final class WorkerProcess: Sendable {
    /// How a worker process ended.
    enum Exit: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)

        var description: String {
            switch self {
            case .exited(let status): "exited with status \(status)"
            case .signalled(let signal): "killed by signal \(signal)"
            }
        }
    }

    /// The worker failed to do what a test waited for.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private struct State {
        var stdout = ""
        var stderr = ""
        var isReady = false
        var exit: Exit?
        var readyWaiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var exitWaiters: [Int: CheckedContinuation<Exit?, Never>] = [:]
        var nextWaiter = 0
    }

    /// State shared with Foundation's callbacks, which run on threads of their own.
    private final class Shared: Sendable {
        let state = Mutex(State())

        func newWaiterID() -> Int {
            self.state.withLock { state in
                defer { state.nextWaiter += 1 }
                return state.nextWaiter
            }
        }
    }

    /// The name it goes by in messages (its worker id).
    let name: String
    /// Its process id.
    let pid: Int32
    // Kept alive while the worker runs: the stdin pipe's write end must stay open.
    private let process: Process
    private let stdinPipe: Pipe
    private let shared = Shared()

    /// The `jobkit-test-worker` binary in the same build folder as the test bundle.
    static var executable: URL {
        get throws {
            var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            if folder.lastPathComponent.hasSuffix(".xctest") { folder.deleteLastPathComponent() }
            let binary = folder.appendingPathComponent("jobkit-test-worker")
            guard FileManager.default.isExecutableFile(atPath: binary.path) else {
                throw Failure(description: "no jobkit-test-worker executable at \(binary.path): build it with `swift build` before `swift test`")
            }
            return binary
        }
    }

    /// Starts a worker with `arguments` (`--exit-with-parent` is added).
    /// - Parameters:
    ///   - name: Its name in messages, usually its worker id.
    ///   - arguments: The worker's arguments.
    init(name: String, arguments: [String]) throws {
        self.name = name
        let process = Process()
        process.executableURL = try Self.executable
        process.arguments = arguments + ["--exit-with-parent"]
        let stdinPipe = Pipe()
        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        let shared = self.shared
        self.stdinPipe = stdinPipe
        self.process = process

        stdoutPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                return
            }
            let ready = shared.state.withLock { state -> [CheckedContinuation<Void, any Error>] in
                state.stdout += String(decoding: data, as: UTF8.self)
                guard !state.isReady, state.stdout.split(separator: "\n").contains("ready") else { return [] }
                state.isReady = true
                defer { state.readyWaiters = [:] }
                return Array(state.readyWaiters.values)
            }
            ready.forEach { $0.resume() }
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                return
            }
            shared.state.withLock { $0.stderr += String(decoding: data, as: UTF8.self) }
        }
        process.terminationHandler = { process in
            let exit: Exit = process.terminationReason == .uncaughtSignal
                ? .signalled(process.terminationStatus) : .exited(process.terminationStatus)
            let (readyWaiters, exitWaiters, output) = shared.state.withLock { state in
                state.exit = exit
                defer { state.readyWaiters = [:]; state.exitWaiters = [:] }
                return (Array(state.readyWaiters.values), Array(state.exitWaiters.values), state.stderr)
            }
            let failure = Failure(description: "worker \(name) \(exit) before it was ready; its log:\n\(output)")
            readyWaiters.forEach { $0.resume(throwing: failure) }
            exitWaiters.forEach { $0.resume(returning: exit) }
        }
        try process.run()
        self.pid = process.processIdentifier
    }

    /// What the worker wrote to standard error so far (its log).
    var log: String { self.shared.state.withLock { $0.stderr } }

    /// How it ended, or `nil` while it runs.
    var exit: Exit? { self.shared.state.withLock { $0.exit } }

    // MARK: - Waiting

    /// Returns once the worker printed `ready`.
    /// - Throws: ``Failure`` when it exits first or `timeout` passes.
    func waitUntilReady(timeout: Duration = .seconds(30)) async throws {
        try await self.withDeadline(timeout, "worker \(self.name) to be ready") {
            let id = self.shared.newWaiterID()
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    enum Now { case wait, ready, exited(Exit), cancelled }
                    let now = self.shared.state.withLock { state -> Now in
                        if state.isReady { return .ready }
                        if let exit = state.exit { return .exited(exit) }
                        if Task.isCancelled { return .cancelled }
                        state.readyWaiters[id] = continuation
                        return .wait
                    }
                    switch now {
                    case .wait: break
                    case .ready: continuation.resume()
                    case .cancelled: continuation.resume(throwing: CancellationError())
                    case .exited(let exit):
                        continuation.resume(throwing: Failure(description: "worker \(self.name) \(exit) before it was ready; its log:\n\(self.log)"))
                    }
                }
            } onCancel: {
                self.shared.state.withLock { $0.readyWaiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
            }
        }
    }

    /// Returns how the worker ended, once it has.
    /// - Throws: ``Failure`` when `timeout` passes first.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Exit {
        try await self.withDeadline(timeout, "worker \(self.name) to exit") {
            let id = self.shared.newWaiterID()
            let exit = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Exit?, Never>) in
                    enum Now { case wait, exited(Exit), cancelled }
                    let now = self.shared.state.withLock { state -> Now in
                        if let exit = state.exit { return .exited(exit) }
                        if Task.isCancelled { return .cancelled }
                        state.exitWaiters[id] = continuation
                        return .wait
                    }
                    switch now {
                    case .wait: break
                    case .exited(let exit): continuation.resume(returning: exit)
                    case .cancelled: continuation.resume(returning: nil)
                    }
                }
            } onCancel: {
                self.shared.state.withLock { $0.exitWaiters.removeValue(forKey: id) }?.resume(returning: nil)
            }
            guard let exit else { throw CancellationError() }
            return exit
        }
    }

    /// Runs `body`, throwing ``Failure`` if it takes longer than `timeout`.
    private func withDeadline<Value: Sendable>(
        _ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let value = try await group.next() ?? nil else {
                throw Failure(description: "timed out after \(timeout) waiting for \(what); its log:\n\(self.log)")
            }
            return value
        }
    }

    // MARK: - Signals

    /// Sends SIGTERM: graceful shutdown.
    func terminate() { self.signal(SIGTERM) }

    /// Sends SIGKILL: the process dies mid-job, leaving its leases behind.
    func kill() { self.signal(SIGKILL) }

    private func signal(_ signal: Int32) {
        guard self.exit == nil else { return }
        sendSignal(signal, to: self.pid)
    }
}

/// `kill(2)`, out of reach of ``WorkerProcess/kill()``'s name.
private func sendSignal(_ signal: Int32, to pid: Int32) {
    _ = kill(pid, signal)
}

// MARK: - A scope that leaves no worker behind

/// The workers a test started; whatever still runs when the test ends is killed and awaited.
final class WorkerProcesses: Sendable {
    private let started = Mutex<[WorkerProcess]>([])

    /// Starts a worker and returns it (not yet ready: see ``WorkerProcess/waitUntilReady(timeout:)``).
    func start(name: String, arguments: [String]) throws -> WorkerProcess {
        let worker = try WorkerProcess(name: name, arguments: arguments)
        self.started.withLock { $0.append(worker) }
        return worker
    }

    fileprivate func killAll() async {
        for worker in self.started.withLock({ $0 }) where worker.exit == nil {
            worker.kill()
            _ = try? await worker.waitForExit(timeout: .seconds(10))
        }
    }
}

/// Runs `body` with a place to start workers, then kills and awaits every worker still running,
/// whether `body` returned or threw.
func withWorkerProcesses<Result>(_ body: (WorkerProcesses) async throws -> Result) async throws -> Result {
    let workers = WorkerProcesses()
    do {
        let result = try await body(workers)
        await workers.killAll()
        return result
    } catch {
        await workers.killAll()
        throw error
    }
}
