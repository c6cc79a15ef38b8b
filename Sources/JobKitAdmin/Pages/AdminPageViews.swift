import Foundation
import JobKit

// What the templates render. Mustache reads stored properties through reflection, so every
// value is stored, formatted, and (inside rows) never optional: a missing value in a row
// would otherwise be looked up in the enclosing page.

/// Every page: the layout's values and the page's own `content`.
struct PageView {
    var title: String
    var nonce: String
    var refreshSeconds: Int
    var navDashboard = false
    var navJobs = false
    /// Whether the header shows the navigation and the logout button (not on the login page).
    var showNav: Bool
    var showLogout: Bool
    var content: Any
}

/// A row of a job table.
struct JobRowView {
    var id: String
    var shortID: String
    var link: String
    var type: String
    var queue: String
    var status: String
    var statusLabel: String
    var cancelRequested: Bool
    var leaseExpired: Bool
    var progress: Int
    var hasStep: Bool
    var step: String
    var attempt: Int
    var maxAttempts: Int
    var createdAt: String
    var updatedAt: String

    init(_ job: Job, now: Date) {
        self.id = AdminJSON.id(job.id)
        self.shortID = String(self.id.prefix(8)) + "…" + String(self.id.suffix(4))
        self.link = "/admin/ui/jobs/\(self.id)"
        self.type = job.type
        self.queue = job.queue
        self.status = job.status.rawValue
        self.statusLabel = PageFormat.label(job.status)
        self.cancelRequested = job.cancelRequestedAt != nil && job.status == .inProgress
        self.leaseExpired = job.status == .inProgress && (job.lease.map { $0.expiresAt < now } ?? true)
        self.progress = job.progress
        self.hasStep = !(job.currentStep ?? "").isEmpty
        self.step = job.currentStep ?? ""
        self.attempt = job.attempt
        self.maxAttempts = job.maxAttempts
        self.createdAt = PageFormat.time(job.createdAt)
        self.updatedAt = PageFormat.time(job.updatedAt)
    }
}

/// A job table with its empty text.
struct JobTableView {
    var tableID: String
    var rows: [JobRowView]
    var emptyText: String
}

struct StatusCardView {
    var status: String
    var label: String
    var count: Int
    var link: String
}

struct QueueRowView {
    var name: String
    var link: String
    var counts: [Int]
    var queueTotal: Int
}

struct DashboardView {
    var healthy: Bool
    var problems: [String]
    var statusCards: [StatusCardView]
    var total: Int
    var stuck: Int
    var hasStuck: Bool
    var leased: Int
    var finishedLastMinute: Int
    var windowText: String
    var averageRun: String
    var p95Run: String
    var oldestScheduled: String
    var workerCount: Int
    var statusNames: [String]
    var queues: [QueueRowView]
    var stuckTable: JobTableView
    var recentTable: JobTableView
}

struct StatusOptionView {
    var value: String
    var selected: Bool
}

struct JobListView {
    var statusOptions: [StatusOptionView]
    var filterType: String
    var filterQueue: String
    var filterReferenceType: String
    var filterReferenceID: String
    var filterCreatedAfter: String
    var filterCreatedBefore: String
    var limit: Int
    var table: JobTableView
    var hasNextPage: Bool
    var nextPageLink: String
}

struct ActionView {
    var name: String
    var label: String
    var url: String
    /// `"required"`, `"optional"` or `""` (no reason asked).
    var reasonMode: String
    var danger: Bool
}

struct JobDetailView {
    var id: String
    var type: String
    var status: String
    var statusLabel: String
    var actions: [ActionView]
    var queue: String
    var priority: Int
    var attempt: Int
    var maxAttempts: Int
    var progress: Int
    var hasStep: Bool
    var step: String
    var referenceText: String
    var uniqueKeyText: String
    var timeoutText: String
    var leaseText: String
    var cancelRequested: Bool
    var cancelRequestedAt: String
    var createdAt: String
    var runAt: String
    var startedAt: String
    var finishedAt: String
    var updatedAt: String
    var payload: String
    var hasResult: Bool
    var result: String
    var hasError: Bool
    var errorMessage: String

    init(_ job: Job) {
        let id = AdminJSON.id(job.id)
        self.id = id
        self.type = job.type
        self.status = job.status.rawValue
        self.statusLabel = PageFormat.label(job.status)
        self.actions = AdminAPI.Action.allCases.compactMap { action in
            let move: JobTransitions.Move =
                switch action {
                case .cancel: .cancel
                case .retry: .retry
                case .forceFail: .forceFail
                case .forceReset: .forceReset
                }
            guard JobTransitions.allows(move, from: job.status) else { return nil }
            let label: String =
                switch action {
                case .cancel: job.status == .inProgress ? "Request cancel" : "Cancel"
                case .retry: "Retry"
                case .forceFail: "Force fail"
                case .forceReset: "Force reset"
                }
            let reasonMode: String =
                switch action {
                case .cancel: "optional"
                case .retry: ""
                case .forceFail, .forceReset: "required"
                }
            return ActionView(
                name: action.rawValue, label: label, url: "/admin/jobs/\(id)/\(action.rawValue)", reasonMode: reasonMode,
                danger: action != .retry)
        }
        self.queue = job.queue
        self.priority = job.priority
        self.attempt = job.attempt
        self.maxAttempts = job.maxAttempts
        self.progress = job.progress
        self.hasStep = !(job.currentStep ?? "").isEmpty
        self.step = job.currentStep ?? ""
        self.referenceText = job.reference.map { "\($0.type) \($0.id)" } ?? "—"
        self.uniqueKeyText = job.uniqueKey ?? "—"
        self.timeoutText = job.timeout.map { PageFormat.seconds(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) } ?? "none"
        self.leaseText = job.lease.map { "\($0.owner), until \(PageFormat.time($0.expiresAt))" } ?? "—"
        self.cancelRequested = job.cancelRequestedAt != nil
        self.cancelRequestedAt = PageFormat.time(job.cancelRequestedAt)
        self.createdAt = PageFormat.time(job.createdAt)
        self.runAt = PageFormat.time(job.runAt)
        self.startedAt = PageFormat.time(job.startedAt)
        self.finishedAt = PageFormat.time(job.finishedAt)
        self.updatedAt = PageFormat.time(job.updatedAt)
        self.payload = JSONValue(parsing: job.payloadJSON).prettyText
        self.hasResult = job.resultJSON != nil
        self.result = job.resultJSON.map { JSONValue(parsing: $0).prettyText } ?? ""
        self.hasError = !(job.errorMessage ?? "").isEmpty
        self.errorMessage = job.errorMessage ?? ""
    }
}

struct EventView {
    var at: String
    var kind: String
    var change: String
    var eventMessage: String
    var actor: String
    var eventAttempt: String

    init(_ event: JobEvent) {
        self.at = PageFormat.time(event.at)
        self.kind = event.kind
        self.change = "\(event.fromStatus.map(PageFormat.label) ?? "—") → \(event.toStatus.map(PageFormat.label) ?? "—")"
        self.eventMessage = event.message ?? ""
        self.actor = event.actor ?? ""
        self.eventAttempt = event.attempt.map(String.init) ?? ""
    }
}

struct JobPageView {
    var detail: JobDetailView
    var events: [EventView]
}

struct LoginView {
    var failed: Bool
    var next: String
    var sessionText: String
}

struct ErrorView {
    var heading: String
    var code: String
    var message: String
}

/// How the page writes times, durations and statuses.
enum PageFormat {
    /// `2025-01-31 12:00:05` (UTC), or `—`.
    static func time(_ date: Date?) -> String {
        guard let date else { return "—" }
        let text = AdminJSON.timestamp(date)
        return String(text.prefix(19)).replacingOccurrences(of: "T", with: " ")
    }

    /// `850 ms`, `12.5 s`, `3 min`, `2.0 h`.
    static func seconds(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "—" }
        switch value {
        case ..<1: return "\(Int((value * 1000).rounded())) ms"
        case ..<60: return String(format: "%.1f s", value)
        case ..<3600: return String(format: "%.0f min", value / 60)
        default: return String(format: "%.1f h", value / 3600)
        }
    }

    /// `in progress` for `in_progress`.
    static func label(_ status: JobStatus) -> String {
        status.rawValue.replacingOccurrences(of: "_", with: " ")
    }
}
