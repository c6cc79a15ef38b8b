import Foundation

/// A serial executor that runs every job on one dedicated OS thread.
///
/// libpq calls block. Each ``PostgresConnection`` is an actor whose executor is one of these,
/// so its blocking calls occupy its own thread and never one of the few threads of Swift's
/// cooperative pool.
///
/// `@unchecked Sendable`: the only mutable state (`jobs`, `isShuttingDown`) is read and written
/// under `condition`'s lock.
final class ConnectionThread: SerialExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var isShuttingDown = false

    /// Starts the thread.
    /// - Parameter name: The thread's name, visible in debuggers and `top -H`.
    init(name: String) {
        let thread = Thread { [self] in self.runLoop() }
        thread.name = name
        // libpq needs little stack; 512 KiB keeps a pool of connections cheap.
        thread.stackSize = 512 * 1024
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.condition.lock()
        self.jobs.append(job)
        self.condition.signal()
        self.condition.unlock()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets the thread exit once it has run the jobs already enqueued.
    ///
    /// Called from the owning actor's `deinit`: no job can be enqueued for an actor after that.
    func shutdown() {
        self.condition.lock()
        self.isShuttingDown = true
        self.condition.signal()
        self.condition.unlock()
    }

    private func runLoop() {
        var batch: [UnownedJob] = []
        while true {
            self.condition.lock()
            while self.jobs.isEmpty && !self.isShuttingDown {
                self.condition.wait()
            }
            if self.jobs.isEmpty {
                self.condition.unlock()
                return
            }
            swap(&batch, &self.jobs)
            self.condition.unlock()
            for job in batch {
                job.runSynchronously(on: self.asUnownedSerialExecutor())
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
