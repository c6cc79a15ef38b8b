import Foundation

/// Makes an enqueued job unique while an equal one is waiting or running, as Oban's `unique`
/// and River's `UniqueOpts` do.
///
/// The key is built from the job's type and the chosen ``Fields`` (its queue, its payload or
/// some of the payload's top-level keys) and, with a ``period``, the time bucket the database
/// clock is in; it counts only while a job holding it is in one of ``states``. A unique index
/// enforces it, so racing enqueuers in any number of processes make one job.
///
/// ```swift
/// // At most one pending sync per account; a second enqueue returns the first job's id.
/// let id = try await jobs.enqueue(SyncAccount.self, .init(accountID: 42),
///     options: .init(unique: .init(fields: [.payload], payloadKeys: ["accountID"])))
/// ```
public struct UniqueJob: Sendable, Hashable {
    /// What makes two jobs of one type equal, besides the type.
    public struct Fields: OptionSet, Sendable, Hashable {
        /// The bits of the set.
        public let rawValue: Int
        /// Creates a set of fields from its raw value.
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// The queue.
        public static let queue = Fields(rawValue: 1 << 0)
        /// The payload (or the keys named by ``UniqueJob/payloadKeys``).
        public static let payload = Fields(rawValue: 1 << 1)
    }

    /// What happens when an equal job exists.
    public enum Conflict: String, Sendable, Hashable, CaseIterable {
        /// Enqueue returns the existing job's id and inserts nothing. The default.
        case returnExisting
        /// A waiting (`scheduled`) existing job takes the new payload, run-at time and
        /// priority; a running one is left as it is. Enqueue returns its id.
        case replace
        /// Enqueue throws ``JobError/Code/duplicate``.
        case fail
    }

    /// The fields besides the type. Defaults to the queue and the payload.
    public var fields: Fields
    /// With ``Fields/payload``: only these top-level keys of the payload count. `nil` (the
    /// default) means the whole payload.
    public var payloadKeys: [String]?
    /// Jobs enqueued within one period (by the database clock, counted from the Unix epoch)
    /// are equal; `nil` (the default) means for as long as the states below hold.
    public var period: Duration?
    /// The states in which a job holds its key. Defaults to `scheduled` and `in_progress`,
    /// so a finished job does not block a new one.
    public var states: Set<JobStatus>
    /// What an equal job's existence does. Defaults to ``Conflict/returnExisting``.
    public var onConflict: Conflict

    /// Creates a uniqueness rule; every parameter has a default.
    /// - Parameters:
    ///   - fields: The fields besides the type. Defaults to queue and payload.
    ///   - payloadKeys: The payload keys that count; `nil` means all of the payload.
    ///   - period: The time bucket; `nil` means none.
    ///   - states: Where the key holds. Defaults to `scheduled` and `in_progress`.
    ///   - onConflict: What an equal job's existence does. Defaults to returning it.
    public init(
        fields: Fields = [.queue, .payload],
        payloadKeys: [String]? = nil,
        period: Duration? = nil,
        states: Set<JobStatus> = [.scheduled, .inProgress],
        onConflict: Conflict = .returnExisting
    ) {
        self.fields = fields
        self.payloadKeys = payloadKeys
        self.period = period
        self.states = states
        self.onConflict = onConflict
    }

    /// Checks the values before any SQL runs.
    func validate() throws(JobError) {
        guard !self.states.isEmpty else { throw .invalidArgument("a unique job needs at least one state in which it counts") }
        if let period, period < .milliseconds(1) { throw .invalidArgument("the unique period must be at least 1 ms") }
        if self.payloadKeys != nil, !self.fields.contains(.payload) {
            throw .invalidArgument("payloadKeys needs the .payload field")
        }
    }

    /// What the key is made of, but the time bucket (the database adds it): the type, then each
    /// chosen field; the payload in a canonical form (sorted keys), so equal payloads match
    /// however they were encoded.
    func material(type: String, queue: String, payloadJSON: String) throws(JobError) -> String {
        var parts = ["type=\(type)"]
        if self.fields.contains(.queue) { parts.append("queue=\(queue)") }
        if self.fields.contains(.payload) {
            let canonical: String
            do {
                let value = try JSONSerialization.jsonObject(with: Data(payloadJSON.utf8), options: [.fragmentsAllowed])
                var chosen: Any = value
                if let keys = self.payloadKeys {
                    let object = value as? [String: Any] ?? [:]
                    chosen = Dictionary(uniqueKeysWithValues: keys.map { ($0, object[$0] ?? NSNull()) })
                }
                let data = try JSONSerialization.data(withJSONObject: chosen, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
                canonical = String(decoding: data, as: UTF8.self)
            } catch {
                throw .invalidArgument("the payload of a unique \(type) job is not JSON: \(error)")
            }
            parts.append("payload=\(canonical)")
        }
        return parts.joined(separator: "\u{1F}")
    }

    /// The states as a PostgreSQL array literal.
    var statesLiteral: String {
        "{" + JobStatus.allCases.filter(self.states.contains).map(\.rawValue).joined(separator: ",") + "}"
    }
}
