import Foundation
import Hummingbird
import JobKit

/// The handlers of the JSON API: each reads and checks its input, makes one call into
/// ``JobKit/JobService``, and writes the answer.
struct AdminAPI: Sendable {
    /// The actor recorded in a job's history when the request names none.
    static let defaultActor = "admin-api"
    /// The largest `batch_size` of a cleanup.
    static let maximumBatchSize = 100_000
    /// The longest stats window: a year.
    static let maximumWindowSeconds = 366 * 86_400

    let jobs: JobService

    /// The forced and manual changes a job accepts through the API.
    enum Action: String, CaseIterable, Sendable {
        case cancel
        case retry
        case forceFail = "force-fail"
        case forceReset = "force-reset"
    }

    func addRoutes(to api: RouterGroup<AdminRequestContext>) {
        api.get("stats") { request, _ in try await self.stats(request) }
        api.get("health") { _, _ in await self.health() }
        api.get("jobs") { request, _ in try await self.list(request) }
        api.get("jobs/{id}") { _, context in try await self.job(context) }
        api.get("jobs/{id}/validate") { _, context in try await self.validate(context) }
        api.get("schedules") { _, _ in try await self.schedules() }
        api.post("cleanup") { request, context in try await self.cleanup(request, context) }
        api.post("recover-stuck") { request, context in try await self.recoverStuck(request, context) }
        for action in Action.allCases {
            api.post("jobs/{id}/\(action.rawValue)") { request, context in try await self.perform(action, request, context) }
        }
        api.get("queues") { _, _ in try await self.queues() }
        api.post("queues/{name}/pause") { request, context in try await self.setPaused(true, request, context) }
        api.post("queues/{name}/resume") { request, context in try await self.setPaused(false, request, context) }
    }

    // MARK: - Queues

    func queues() async throws -> Response {
        AdminJSON.response(QueueListResource(queues: try await self.jobs.queues().map(QueueResource.init)))
    }

    /// Pauses or resumes the queue named in the path; answers with the queue as it is now.
    func setPaused(_ paused: Bool, _ request: Request, _ context: AdminRequestContext) async throws -> Response {
        // The path segment arrives percent-encoded: a queue named "mail eu" is `mail%20eu`.
        guard let decoded = (context.parameters.get("name") ?? "").removingPercentEncoding else {
            throw AdminAPIError.invalidValue("name", "name is not valid percent-encoding")
        }
        let name = try AdminInput.text(decoded, "name")
        guard !name.isEmpty else { throw AdminAPIError.invalidValue("name", "name is empty") }
        _ = try await AdminBody.decode(EmptyBody.self, from: request, context: context, allowsEmpty: true)
        if paused { try await self.jobs.pauseQueue(name) } else { try await self.jobs.resumeQueue(name) }
        let state = try await self.jobs.queues().first { $0.name == name }
            ?? QueueState(name: name)
        return AdminJSON.response(QueueResource(state))
    }

    // MARK: - Reading

    func stats(_ request: Request) async throws -> Response {
        let query = try QueryParameters(request.uri.query)
        let window = try query.integer("window_seconds", in: 1...Self.maximumWindowSeconds) ?? 3600
        return AdminJSON.response(StatsResource(try await self.jobs.stats(window: .seconds(window))))
    }

    func health() async -> Response {
        let health = await self.jobs.health()
        return AdminJSON.response(HealthResource(health), status: health.isHealthy ? .ok : .serviceUnavailable)
    }

    func list(_ request: Request) async throws -> Response {
        let query = try JobListQuery(QueryParameters(request.uri.query))
        let page = try await self.jobs.list(query.filter, limit: query.limit, after: query.cursor)
        return AdminJSON.response(JobPageResource(jobs: page.jobs.map(JobResource.init), nextCursor: page.nextCursor))
    }

    func job(_ context: AdminRequestContext) async throws -> Response {
        let id = try AdminInput.jobID(context.parameters.get("id"))
        let job = try await self.jobs.job(id)
        let history = try await self.jobs.history(of: id)
        return AdminJSON.response(JobDetailResource(job: JobResource(job), history: history.map(JobEventResource.init)))
    }

    func validate(_ context: AdminRequestContext) async throws -> Response {
        let id = try AdminInput.jobID(context.parameters.get("id"))
        return AdminJSON.response(ValidationResource(id: id, issues: try await self.jobs.validate(id)))
    }

    func schedules() async throws -> Response {
        AdminJSON.response(ScheduleListResource(schedules: try await self.jobs.schedules().map(ScheduleResource.init)))
    }

    // MARK: - Maintenance

    func cleanup(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        let body = try await AdminBody.decode(CleanupBody.self, from: request, context: context, allowsEmpty: false)
        guard let age = body.olderThanSeconds else {
            throw AdminAPIError.invalidValue("older_than_seconds", "older_than_seconds is required")
        }
        guard (0...AdminInput.maximumAgeSeconds).contains(age) else {
            throw AdminAPIError.invalidValue("older_than_seconds", "older_than_seconds must be within 0...\(AdminInput.maximumAgeSeconds)")
        }
        var statuses: [JobStatus] = [.done, .failed, .cancelled]
        if let names = body.statuses {
            statuses = try names.map { name throws(AdminAPIError) in try AdminInput.status(name, "statuses") }
            guard statuses.allSatisfy(\.isFinished) else {
                throw AdminAPIError.invalidValue("statuses", "statuses may only name finished statuses: done, failed, cancelled")
            }
        }
        let batchSize = body.batchSize ?? 1000
        guard (1...Self.maximumBatchSize).contains(batchSize) else {
            throw AdminAPIError.invalidValue("batch_size", "batch_size must be within 1...\(Self.maximumBatchSize)")
        }
        let deleted = try await self.jobs.cleanup(olderThan: .seconds(age), statuses: statuses, batchSize: batchSize)
        return AdminJSON.response(CleanupResource(deleted: deleted))
    }

    func recoverStuck(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        _ = try await AdminBody.decode(EmptyBody.self, from: request, context: context, allowsEmpty: true)
        return AdminJSON.response(RecoveryResource(try await self.jobs.recoverStuckJobs()))
    }

    // MARK: - Changing a job

    func perform(_ action: Action, _ request: Request, _ context: AdminRequestContext) async throws -> Response {
        let id = try AdminInput.jobID(context.parameters.get("id"))
        let body = try await AdminBody.decode(ActionBody.self, from: request, context: context, allowsEmpty: true)
        let actor = try body.actor.map { actor throws(AdminAPIError) in try AdminInput.text(actor, "actor") }
        let reason = try body.reason.map { reason throws(AdminAPIError) in
            try AdminInput.text(reason, "reason", maximumLength: AdminInput.maximumReasonLength)
        }
        let job = try await self.apply(action, to: id, reason: reason, actor: actor.flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultActor)
        // A running job is only asked to stop: the cancellation is accepted, not done.
        let status: HTTPResponse.Status = action == .cancel && job.status == .inProgress ? .accepted : .ok
        return AdminJSON.response(JobResource(job), status: status)
    }

    /// Applies `action`; the one place the API changes jobs (the web page's buttons call the API).
    func apply(_ action: Action, to id: UUID, reason: String?, actor: String) async throws -> Job {
        let reason = reason.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        switch action {
        case .cancel:
            return try await self.jobs.cancel(id, reason: reason, actor: actor)
        case .retry:
            return try await self.jobs.retry(id, actor: actor)
        case .forceFail:
            guard let reason else { throw AdminAPIError.invalidValue("reason", "reason is required for force-fail") }
            return try await self.jobs.forceFail(id, reason: reason, actor: actor)
        case .forceReset:
            guard let reason else { throw AdminAPIError.invalidValue("reason", "reason is required for force-reset") }
            return try await self.jobs.forceReset(id, reason: reason, actor: actor)
        }
    }
}
