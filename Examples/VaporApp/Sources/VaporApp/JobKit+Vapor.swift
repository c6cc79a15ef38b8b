import JobKit
import LibPQ
import Logging
import ServiceLifecycle
import Synchronization
import Vapor

/// What the routes need of JobKit, kept in the application's storage.
struct JobKitStorage: Sendable {
    let pool: PostgresConnectionPool
    let jobs: JobService
    let documents: DocumentStore
}

extension Application {
    private struct JobKitKey: StorageKey {
        typealias Value = JobKitStorage
    }

    /// JobKit's pool, service and the app's document store; set by `configure(_:databaseURL:)`.
    var jobKit: JobKitStorage {
        get {
            guard let value = self.storage[JobKitKey.self] else { fatalError("configure(_:databaseURL:) sets app.jobKit before any route runs") }
            return value
        }
        set { self.storage[JobKitKey.self] = newValue }
    }
}

extension Request {
    /// The application's ``JobKitStorage``.
    var jobKit: JobKitStorage { self.application.jobKit }
}

/// Runs JobKit's services (the `JobService`'s listener, the executor, maintenance) with Vapor's
/// lifecycle: they start when the app has booted, and on shutdown they stop gracefully: the
/// executor stops claiming, lets running jobs finish (up to its grace period) and gives back the
/// rest. Then the pool closes.
final class JobKitLifecycle: LifecycleHandler {
    private let services: [any Service]
    private let pool: PostgresConnectionPool
    private let logger: Logger
    private let running = Mutex<(group: ServiceGroup, task: Task<Void, Never>)?>(nil)

    init(services: [any Service], pool: PostgresConnectionPool, logger: Logger) {
        self.services = services
        self.pool = pool
        self.logger = logger
    }

    func didBootAsync(_ application: Application) async throws {
        // No signal handling here: Vapor's serve command owns SIGINT and SIGTERM and shuts the
        // app down, which calls shutdownAsync below.
        let group = ServiceGroup(services: self.services, logger: self.logger)
        let logger = self.logger
        // A task of its own, since boot must return while the services run; shutdownAsync awaits it.
        let task = Task {
            do {
                try await group.run()
            } catch {
                logger.error("JobKit's services stopped", metadata: ["example.error": "\(error)"])
            }
        }
        self.running.withLock { $0 = (group, task) }
        self.logger.info("JobKit workers started")
    }

    func shutdownAsync(_ application: Application) async {
        let running = self.running.withLock { running in
            defer { running = nil }
            return running
        }
        if let running {
            self.logger.info("JobKit workers draining")
            await running.group.triggerGracefulShutdown()
            await running.task.value
            self.logger.info("JobKit workers stopped")
        }
        await self.pool.close()
    }
}
