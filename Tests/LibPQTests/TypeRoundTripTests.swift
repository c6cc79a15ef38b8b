import Foundation
import LibPQ
import Testing

/// Every supported Swift type goes to PostgreSQL as a parameter and comes back unchanged,
/// through `SELECT $1` and through a typed table.
@Suite(.timeLimit(.minutes(3)))
struct TypeRoundTripTests {
    // MARK: - Helpers

    private func database() async throws -> PostgresConfiguration {
        try await SuiteDatabase.configuration("types")
    }

    /// Sends `value` as `$1` and decodes the single column it comes back as.
    private func selectBack<Value: PostgresCodable>(_ value: Value, as type: Value.Type = Value.self) async throws -> Value {
        try await withConnection(to: try await self.database()) { connection in
            let rows = try await connection.query("SELECT \(value) AS value")
            return try #require(rows.first).decode(Value.self, at: 0)
        }
    }

    /// Microseconds since 1970: the precision `timestamptz` keeps.
    private static func date(micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    struct Address: Codable, Equatable, Sendable {
        var street: String
        var city: String
        var postcode: String?
    }

    struct Customer: Codable, Equatable, Sendable {
        var id: UUID
        var name: String
        var addresses: [Address]
        var attributes: [String: [Int]]
        var isActive: Bool
        var score: Double
    }

    // MARK: - Scalars through SELECT $1

    @Test(arguments: [true, false])
    func boolRoundTrips(_ value: Bool) async throws {
        #expect(try await self.selectBack(value) == value)
    }

    @Test(arguments: [Int.min, -1, 0, 1, 42, Int.max])
    func intRoundTrips(_ value: Int) async throws {
        #expect(try await self.selectBack(value) == value)
    }

    @Test(arguments: [Int64.min, Int64(-9_007_199_254_740_993), 0, Int64.max])
    func int64RoundTripsAtItsLimits(_ value: Int64) async throws {
        #expect(try await self.selectBack(value) == value)
    }

    @Test(arguments: [Int32.min, -1, 0, Int32.max])
    func int32RoundTrips(_ value: Int32) async throws {
        #expect(try await self.selectBack(value) == value)
    }

    @Test(arguments: [Int16.min, -1, 0, Int16.max])
    func int16RoundTrips(_ value: Int16) async throws {
        #expect(try await self.selectBack(value) == value)
    }

    @Test(arguments: [0.1, -0.0, 1.0 / 3.0, Double.pi, 1e-300, 1e300, Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, Double.infinity, -Double.infinity])
    func doubleRoundTripsExactly(_ value: Double) async throws {
        let back = try await self.selectBack(value)
        #expect(back == value)
        #expect(back.sign == value.sign)
    }

    @Test func doubleNaNRoundTrips() async throws {
        #expect(try await self.selectBack(Double.nan).isNaN)
    }

    @Test(arguments: [
        "",
        "plain ascii",
        "emoji 👩‍👩‍👧‍👦🎉🏳️‍🌈 and flags 🇯🇵",
        "CJK 漢字 ひらがな カタカナ 한국어",
        "RTL עברית العربية, combining é and ñ",
        "quotes ' \" and backslashes \\ \\\\ and tabs\tand\nnewlines\r\n",
        "$1 looks like a parameter; -- and a comment",
    ])
    func stringRoundTrips(_ value: String) async throws {
        #expect(try await self.selectBack(value) == value)
    }

    @Test func fiveMegabyteStringRoundTrips() async throws {
        let value = String(repeating: "abcdé漢字🎉\n", count: 5 * 1024 * 1024 / 16)
        #expect(value.utf8.count >= 5 * 1024 * 1024)
        let back = try await CPUHeavy.run { try await self.selectBack(value) }
        #expect(back.utf8.count == value.utf8.count)
        #expect(back == value)
    }

    @Test func uuidRoundTrips() async throws {
        let value = UUID()
        #expect(try await self.selectBack(value) == value)
    }

    @Test func dataRoundTripsEveryByteValue() async throws {
        let value = Data((0...255).map { UInt8($0) } + [0, 0, 255])
        #expect(try await self.selectBack(value) == value)
    }

    @Test func emptyDataRoundTrips() async throws {
        #expect(try await self.selectBack(Data()) == Data())
    }

    @Test func twoMegabyteDataRoundTrips() async throws {
        var generator = SystemRandomNumberGenerator()
        let value = Data((0..<(2 * 1024 * 1024)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let back = try await CPUHeavy.run { try await self.selectBack(value) }
        #expect(back.count == value.count)
        #expect(back == value)
    }

    // MARK: - Dates

    @Test(arguments: [
        Int64(0),
        1_700_000_000_123_456,  // 2023, with microseconds
        -1,  // one microsecond before 1970
        -14_182_940_876_544,  // 1969-07-20 20:17:39.123456 UTC
        -2_208_988_800_000_001,  // 1899-12-31 23:59:59.999999 UTC
        -30_610_224_000_000_000,  // 1000-01-01
        253_402_300_799_000_000,  // 9999-12-31 23:59:59 (Date has no microseconds left that far out)
    ])
    func dateRoundTripsToTheMicrosecond(_ micros: Int64) async throws {
        let value = Self.date(micros: micros)
        #expect(try await self.selectBack(value) == value)
    }

    @Test(arguments: ["UTC", "Europe/Amsterdam", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"])
    func dateRoundTripsInAnySessionTimeZone(_ zone: String) async throws {
        // Early dates in these zones have local mean time offsets with seconds (+00:19:32).
        let dates = [Int64(-2_208_988_800_123_456), -1, 1_700_000_000_654_321].map(Self.date(micros:))
        try await withConnection(to: try await self.database()) { connection in
            try await connection.query("SET TIME ZONE \(unescaped: "'\(zone)'")")
            for value in dates {
                let rows = try await connection.query("SELECT \(value) AS value")
                #expect(try #require(rows.first).decode(Date.self, at: 0) == value, "in \(zone)")
            }
        }
    }

    @Test func infinityTimestampsMapToDistantDates() async throws {
        #expect(try await self.selectBack(Date.distantFuture) == .distantFuture)
        #expect(try await self.selectBack(Date.distantPast) == .distantPast)
        try await withConnection(to: try await self.database()) { connection in
            let row = try #require(try await connection.query("SELECT 'infinity'::timestamptz, '-infinity'::timestamptz").first)
            let (future, past) = try row.decode((Date, Date).self)
            #expect(future == .distantFuture)
            #expect(past == .distantPast)
        }
    }

    // MARK: - JSON

    @Test func nestedCodableRoundTripsAsJSONB() async throws {
        let value = Customer(
            id: UUID(),
            name: "Zoë \"the\" O'Brien 🎉",
            addresses: [
                Address(street: "1 Main St\nFlat 2", city: "Zürich", postcode: "8001"),
                Address(street: "東京都港区", city: "東京", postcode: nil),
            ],
            attributes: ["scores": [1, 2, 3], "empty": []],
            isActive: true,
            score: 0.1)
        try await withConnection(to: try await self.database()) { connection in
            let row = try #require(try await connection.query("SELECT \(PostgresJSON(value)) AS value, pg_typeof(\(PostgresJSON(value)))::text").first)
            #expect(try row.decode(PostgresJSON<Customer>.self, at: 0).value == value)
            #expect(try row.decode(String.self, at: 1) == "jsonb")
        }
    }

    @Test func jsonArrayRoundTrips() async throws {
        let values = [Address(street: "a", city: "b", postcode: nil), Address(street: "{\"x\"}", city: "\\", postcode: "1,2")]
        let back = try await self.selectBack(values.map { PostgresJSON($0) })
        #expect(back.map(\.value) == values)
    }

    // MARK: - NULL

    @Test func nilOptionalsRoundTripAsNull() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let row = try #require(try await connection.query("""
                SELECT \(Int?.none) IS NULL, \(Int?.none), \(String?.none), \(Date?.none), \(UUID?.none), \(Data?.none), \(Bool?.none), \(Double?.none), \([Int]?.none)
                """).first)
            let (isNull, int, string, date, uuid, data, bool, double, array) = try row.decode((Bool, Int?, String?, Date?, UUID?, Data?, Bool?, Double?, [Int]?).self)
            #expect(isNull)
            #expect(int == nil && string == nil && date == nil && uuid == nil && data == nil && bool == nil && double == nil && array == nil)
        }
    }

    @Test func someOptionalsRoundTripAsValues() async throws {
        #expect(try await self.selectBack(Int?.some(7)) == 7)
        #expect(try await self.selectBack(String?.some("x")) == "x")
    }

    // MARK: - Arrays

    @Test func textArrayWithSpecialCharactersRoundTrips() async throws {
        let value = [
            "plain", "", " leading and trailing ", "comma,inside", "{braces}", "}", "{", "quote\"inside", "\"",
            "back\\slash", "\\", "\\\"", "NULL", "null", "ünïcødé 漢字 🎉", "tab\there", "new\nline", "a b", "'single'",
        ]
        #expect(try await self.selectBack(value) == value)
    }

    @Test func textArrayWithNullElementsRoundTrips() async throws {
        let value: [String?] = [nil, "a", nil, "NULL", "", nil]
        #expect(try await self.selectBack(value) == value)
    }

    @Test func intArraysRoundTrip() async throws {
        #expect(try await self.selectBack([Int.min, -1, 0, 1, Int.max]) == [Int.min, -1, 0, 1, Int.max])
        #expect(try await self.selectBack([Int64.min, Int64.max]) == [Int64.min, Int64.max])
        #expect(try await self.selectBack([Int32.min, Int32.max]) == [Int32.min, Int32.max])
        #expect(try await self.selectBack([Int16.min, Int16.max]) == [Int16.min, Int16.max])
    }

    @Test func intArrayWithNullElementsRoundTrips() async throws {
        let value: [Int?] = [1, nil, 3, nil]
        #expect(try await self.selectBack(value) == value)
    }

    @Test func emptyArraysRoundTrip() async throws {
        #expect(try await self.selectBack([Int]()) == [])
        #expect(try await self.selectBack([String]()) == [])
    }

    @Test func otherElementArraysRoundTrip() async throws {
        let bools: [Bool?] = [true, false, nil]
        #expect(try await self.selectBack(bools) == bools)
        let uuids = [UUID(), UUID()]
        #expect(try await self.selectBack(uuids) == uuids)
        let dates = [Self.date(micros: -2_208_988_800_000_001), Self.date(micros: 1_700_000_000_123_456), .distantFuture]
        #expect(try await self.selectBack(dates) == dates)
        let datas = [Data(), Data([0, 1, 0x5c, 0x22, 0xff]), Data("{,}".utf8)]
        #expect(try await self.selectBack(datas) == datas)
    }

    @Test func doubleArrayWithSpecialValuesRoundTrips() async throws {
        let back = try await self.selectBack([0.1, -.infinity, .infinity, .nan, -0.0])
        #expect(back.count == 5)
        #expect(back[0] == 0.1 && back[1] == -.infinity && back[2] == .infinity)
        #expect(back[3].isNaN)
        #expect(back[4] == 0 && back[4].sign == .minus)
    }

    // MARK: - Through a typed table

    @Test func everyTypeRoundTripsThroughATypedTable() async throws {
        let table = uniqueName("typed")
        let id = UUID()
        let at = Self.date(micros: -14_182_940_876_544)
        let customer = Customer(id: id, name: "n", addresses: [], attributes: [:], isActive: false, score: -1.5)
        let texts: [String?] = ["a,b", nil, "\"}\\"]
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: """
                CREATE TABLE \(table) (
                    b bool, i2 int2, i4 int4, i8 int8, f8 float8, t text, vc varchar(200), u uuid, ts timestamptz,
                    bin bytea, j jsonb, ia int8[], ta text[], n int8
                )
                """)
            let inserted = try await connection.query("""
                INSERT INTO \(unescaped: table) VALUES (
                    \(true), \(Int16(-7)), \(Int32(1_000_000)), \(Int64.min), \(Double.nan), \("漢字 🎉"), \("varchar ✓"), \(id), \(at),
                    \(Data([0, 1, 2])), \(PostgresJSON(customer)), \([Int?.none, 1]), \(texts), \(Int?.none)
                )
                """)
            #expect(inserted.affectedRows == 1)
            let row = try #require(try await connection.query("SELECT * FROM \(unescaped: table)").first)
            #expect(try row.decode(Bool.self, column: "b") == true)
            #expect(try row.decode(Int16.self, column: "i2") == -7)
            #expect(try row.decode(Int32.self, column: "i4") == 1_000_000)
            #expect(try row.decode(Int64.self, column: "i8") == .min)
            #expect(try row.decode(Double.self, column: "f8").isNaN)
            #expect(try row.decode(String.self, column: "t") == "漢字 🎉")
            #expect(try row.decode(String.self, column: "vc") == "varchar ✓")
            #expect(try row.decode(UUID.self, column: "u") == id)
            #expect(try row.decode(Date.self, column: "ts") == at)
            #expect(try row.decode(Data.self, column: "bin") == Data([0, 1, 2]))
            #expect(try row.decode(PostgresJSON<Customer>.self, column: "j").value == customer)
            #expect(try row.decode([Int?].self, column: "ia") == [nil, 1])
            #expect(try row.decode([String?].self, column: "ta") == texts)
            #expect(try row.decode(Int?.self, column: "n") == nil)
        }
    }

    @Test func resultColumnsReportNamesAndTypes() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let rows = try await connection.query("SELECT 1::int4 AS one, 'x'::text AS \"Two Words\", \(UUID()) AS id")
            #expect(rows.columns.map(\.name) == ["one", "Two Words", "id"])
            #expect(rows.columns.map(\.type) == [.int4, .text, .uuid])
        }
    }

    // MARK: - Decoding errors

    @Test func decodingIntFromTextColumnThrowsTypeMismatchNamingColumnAndTypes() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let row = try #require(try await connection.query("SELECT 1::int8 AS id, 'abc'::text AS label").first)
            let error = try #require(throws: PostgresDecodingError.self) { try row.decode((Int, Int).self) }
            #expect(error.reason == .typeMismatch)
            #expect(error.columnName == "label")
            #expect(error.columnIndex == 1)
            #expect(error.swiftType == "Int")
            #expect(error.postgresType == .text)
            #expect(error.description.contains("label") && error.description.contains("text") && error.description.contains("Int"))
        }
    }

    @Test func decodingNullAsNonOptionalThrowsUnexpectedNull() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let row = try #require(try await connection.query("SELECT NULL::int8 AS missing_value").first)
            let error = try #require(throws: PostgresDecodingError.self) { try row.decode(Int.self, at: 0) }
            #expect(error.reason == .unexpectedNull)
            #expect(error.columnName == "missing_value")
            #expect(error.columnIndex == 0)
            #expect(error.swiftType == "Int")
            #expect(error.postgresType == .int8)
        }
    }

    @Test func decodingUnknownColumnNameThrowsMissingColumn() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let row = try #require(try await connection.query("SELECT 1 AS present").first)
            let error = try #require(throws: PostgresDecodingError.self) { try row.decode(Int.self, column: "absent") }
            #expect(error.reason == .missingColumn)
            #expect(error.columnName == "absent")
            #expect(error.swiftType == "Int")
        }
    }

    @Test func decodingPastTheLastColumnThrowsColumnIndexOutOfRange() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let row = try #require(try await connection.query("SELECT 1 AS only").first)
            let error = try #require(throws: PostgresDecodingError.self) { try row.decode(Int.self, at: 1) }
            #expect(error.reason == .columnIndexOutOfRange)
            #expect(error.columnIndex == 1)
        }
    }
}
