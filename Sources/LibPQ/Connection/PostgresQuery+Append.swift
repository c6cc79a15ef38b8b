extension PostgresQuery {
    /// Appends another query's text and parameters, renumbering its placeholders to follow
    /// this query's.
    ///
    /// Lets a statement be assembled from fragments that each bind their own values:
    /// ```swift
    /// var query: PostgresQuery = "SELECT * FROM jobs WHERE queue = \(queue)"
    /// if let type { query.append(" AND job_type = \(type)") }
    /// ```
    /// Placeholders inside quoted literals and identifiers are left alone; fragments must not
    /// contain dollar-quoted strings.
    /// - Parameter other: The fragment to append.
    public mutating func append(_ other: PostgresQuery) {
        let offset = self.bindings.count
        self.sql += offset == 0 ? other.sql : Self.shiftingPlaceholders(in: other.sql, by: offset)
        self.bindings.append(contentsOf: other.bindings)
    }

    static func shiftingPlaceholders(in sql: String, by offset: Int) -> String {
        var result = ""
        result.reserveCapacity(sql.utf8.count + 8)
        var quote: Character?
        var index = sql.startIndex
        while index < sql.endIndex {
            let character = sql[index]
            if let open = quote {
                result.append(character)
                if character == open { quote = nil }
                index = sql.index(after: index)
                continue
            }
            if character == "'" || character == "\"" {
                quote = character
                result.append(character)
                index = sql.index(after: index)
                continue
            }
            if character == "$" {
                var end = sql.index(after: index)
                while end < sql.endIndex, sql[end].isASCII, sql[end].isNumber { end = sql.index(after: end) }
                if end > sql.index(after: index), let number = Int(sql[sql.index(after: index)..<end]) {
                    result.append("$\(number + offset)")
                    index = end
                    continue
                }
            }
            result.append(character)
            index = sql.index(after: index)
        }
        return result
    }
}

extension PostgresBindings {
    /// Appends another set of parameters after these.
    /// - Parameter other: The parameters to append.
    public mutating func append(contentsOf other: PostgresBindings) {
        let base = self.bytes.count
        self.types.append(contentsOf: other.types)
        self.offsets.append(contentsOf: other.offsets.map { $0.map { $0 + base } })
        self.bytes.append(contentsOf: other.bytes)
    }
}
