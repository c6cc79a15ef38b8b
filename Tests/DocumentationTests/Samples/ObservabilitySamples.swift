// The code of Documentation/Observability.md (see GettingStartedSamples.swift for how it is checked).
import InMemoryTracing
import JobKit
import LibPQ
import Logging
import Metrics
import MetricsTestKit
import ServiceLifecycle

/// Sends JobKit's metrics (and everyone else's) to the factory the app bootstrapped: with
/// swift-prometheus, `PrometheusMetricsFactory(registry: registry)`.
func makeJobs(databaseURL: String, bootstrapping factory: any MetricsFactory) -> JobService {
    MetricsSystem.bootstrap(factory)
    return JobService(pool: PostgresConnectionPool(connection: PostgresConfiguration(databaseURL)))
}

/// JobKit's metrics only, to a factory of their own (a registry of their own, say).
func makeJobs(pool: PostgresConnectionPool, metrics: any MetricsFactory) -> JobService {
    JobService(pool: pool, configuration: JobService.Configuration(metricsFactory: metrics))
}

struct SendWelcomeEmail: JobHandler {
    struct Payload: Codable, Sendable { var userID: String }
    static let type = "send-welcome-email"
    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
        context.logger.info("Sending")
        return EmptyPayload()
    }
}

/// A worker process whose metrics, traces and logs go where `observability` (the service
/// `OTel.bootstrap()` returned) sends them.
func runWorker(databaseURL: String, observability: some Service) async throws {
    // Created after the bootstrap, so the defaults are OTel's factory and tracer.
    let jobs = JobService(pool: PostgresConnectionPool(connection: PostgresConfiguration(databaseURL)), logger: Logger(label: "jobs"))
    let executor = JobExecutor(service: jobs, handlers: [SendWelcomeEmail()], logger: Logger(label: "jobs"))
    let group = ServiceGroup(
        services: [observability, jobs, executor], gracefulShutdownSignals: [.sigterm], logger: Logger(label: "worker"))
    try await group.run()
}

/// A service whose metrics and spans the test can read.
func makeObservedJobs(pool: PostgresConnectionPool) -> (jobs: JobService, metrics: TestMetrics, tracer: InMemoryTracer) {
    let metrics = TestMetrics()
    let tracer = InMemoryTracer()
    let jobs = JobService(pool: pool, configuration: .init(metricsFactory: metrics, tracer: tracer))
    return (jobs, metrics, tracer)
}
