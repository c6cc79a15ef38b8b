import Foundation
import JobKit

/// The decoded parameters of a URL query or of a form body (`application/x-www-form-urlencoded`).
///
/// `+` is a space, `%XX` a byte; a parameter given with an empty value counts as absent (an
/// HTML form sends its empty fields that way).
struct QueryParameters: Sendable {
    private var values: [String: [String]] = [:]

    /// Decodes `query`.
    /// - Throws: ``AdminAPIError`` 422 `invalid_value` for a malformed `%` escape or one that is not UTF-8.
    init(_ query: String?) throws(AdminAPIError) {
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : "") else {
                throw .invalidValue(String(parts[0]), "the query is not validly percent-encoded")
            }
            guard !value.isEmpty else { continue }
            self.values[name, default: []].append(value)
        }
    }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// Every value of `name`, in order.
    func all(_ name: String) -> [String] {
        self.values[name] ?? []
    }

    /// The one value of `name`, or `nil`.
    /// - Throws: 422 `invalid_value` when it is given more than once.
    func single(_ name: String) throws(AdminAPIError) -> String? {
        let values = self.all(name)
        guard values.count <= 1 else { throw .invalidValue(name, "\(name) is given more than once") }
        return values.first
    }

    /// The one value of `name` as an integer within `range`, or `nil`.
    /// - Throws: 422 `invalid_value` when it is not an integer or not within `range`.
    func integer(_ name: String, in range: ClosedRange<Int>) throws(AdminAPIError) -> Int? {
        guard let text = try self.single(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw .invalidValue(name, "\(name) must be an integer within \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// Percent-encodes `text` for a query value.
    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

// MARK: - Checks shared by queries and bodies

enum AdminInput {
    /// The longest type, queue, reference or actor accepted.
    static let maximumNameLength = 200
    /// The longest reason accepted.
    static let maximumReasonLength = 2000
    /// The longest `older_than_seconds` accepted: 100 years.
    static let maximumAgeSeconds = 100 * 366 * 86_400

    /// Checks a text value: no NUL character (PostgreSQL text cannot hold one) and at most `maximumLength` characters.
    /// - Throws: 422 `invalid_value`.
    static func text(_ value: String, _ parameter: String, maximumLength: Int = Self.maximumNameLength) throws(AdminAPIError) -> String {
        guard !value.unicodeScalars.contains("\u{0}") else { throw .invalidValue(parameter, "\(parameter) contains a NUL character") }
        guard value.count <= maximumLength else { throw .invalidValue(parameter, "\(parameter) is longer than \(maximumLength) characters") }
        return value
    }

    /// Parses a status name.
    /// - Throws: 422 `invalid_value` naming the statuses there are.
    static func status(_ value: String, _ parameter: String) throws(AdminAPIError) -> JobStatus {
        guard let status = JobStatus(rawValue: value) else {
            let known = JobStatus.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalidValue(parameter, "\(parameter) must be one of \(known)")
        }
        return status
    }

    /// Parses the job id of a path.
    /// - Throws: 400 `malformed_id`.
    static func jobID(_ text: String?) throws(AdminAPIError) -> UUID {
        guard let text, let id = UUID(uuidString: text) else { throw .malformedID() }
        return id
    }
}

/// What `GET /admin/jobs` (and the job list page) asks for.
struct JobListQuery: Sendable {
    /// The page size when none is given.
    static let defaultLimit = 50

    var filter = JobFilter()
    var limit = Self.defaultLimit
    var cursor: UUID?

    /// Reads `status` (repeated or comma-separated), `type`, `queue` (each repeatable),
    /// `reference_type` with `reference_id`, `created_after`, `created_before`, `limit` and `after`.
    /// - Throws: 422 `invalid_value` naming the parameter.
    init(_ query: QueryParameters) throws(AdminAPIError) {
        var statuses: [JobStatus] = []
        for value in query.all("status") {
            for name in value.split(separator: ",") {
                statuses.append(try AdminInput.status(name.trimmingCharacters(in: .whitespaces), "status"))
            }
        }
        self.filter.statuses = statuses.isEmpty ? nil : statuses
        var types: [String] = []
        for type in query.all("type") { types.append(try AdminInput.text(type, "type")) }
        self.filter.types = types.isEmpty ? nil : types
        var queues: [String] = []
        for queue in query.all("queue") { queues.append(try AdminInput.text(queue, "queue")) }
        self.filter.queues = queues.isEmpty ? nil : queues
        switch (try query.single("reference_type"), try query.single("reference_id")) {
        case (nil, nil):
            break
        case (let type?, let id?):
            self.filter.reference = JobReference(try AdminInput.text(type, "reference_type"), try AdminInput.text(id, "reference_id"))
        case (nil, _?):
            throw .invalidValue("reference_type", "reference_id needs reference_type")
        case (_?, nil):
            throw .invalidValue("reference_id", "reference_type needs reference_id")
        }
        self.filter.createdAfter = try Self.timestamp(query, "created_after")
        self.filter.createdBefore = try Self.timestamp(query, "created_before")
        self.limit = try query.integer("limit", in: 1...1000) ?? Self.defaultLimit
        if let after = try query.single("after") {
            guard let cursor = UUID(uuidString: after) else { throw .invalidValue("after", "after must be a cursor (a job id) from next_cursor") }
            self.cursor = cursor
        }
    }

    private static func timestamp(_ query: QueryParameters, _ name: String) throws(AdminAPIError) -> Date? {
        guard let text = try query.single(name) else { return nil }
        guard let date = AdminJSON.parseTimestamp(text) else {
            throw .invalidValue(name, "\(name) must be an ISO 8601 timestamp such as 2025-01-31T12:00:00Z")
        }
        return date
    }

    /// The query string that asks for the same jobs (without `after` and `limit`).
    var filterQuery: [(String, String)] {
        var items: [(String, String)] = []
        for status in self.filter.statuses ?? [] { items.append(("status", status.rawValue)) }
        for type in self.filter.types ?? [] { items.append(("type", type)) }
        for queue in self.filter.queues ?? [] { items.append(("queue", queue)) }
        if let reference = self.filter.reference {
            items.append(("reference_type", reference.type))
            items.append(("reference_id", reference.id))
        }
        if let date = self.filter.createdAfter { items.append(("created_after", AdminJSON.timestamp(date))) }
        if let date = self.filter.createdBefore { items.append(("created_before", AdminJSON.timestamp(date))) }
        return items
    }
}
