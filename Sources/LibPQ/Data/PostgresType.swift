/// A PostgreSQL data type, identified by its OID.
public struct PostgresType: Hashable, Sendable, CustomStringConvertible {
    /// The type's OID in `pg_type`.
    public var oid: UInt32

    /// Creates a type from its OID.
    /// - Parameter oid: The OID in `pg_type`.
    public init(oid: UInt32) { self.oid = oid }

    /// Lets the server infer the parameter's type from the statement.
    public static let unspecified = PostgresType(oid: 0)
    /// PostgreSQL `bool` (OID 16).
    public static let bool = PostgresType(oid: 16)
    /// PostgreSQL `bytea` (OID 17).
    public static let bytea = PostgresType(oid: 17)
    /// PostgreSQL `name` (OID 19).
    public static let name = PostgresType(oid: 19)
    /// PostgreSQL `int8` (OID 20).
    public static let int8 = PostgresType(oid: 20)
    /// PostgreSQL `int2` (OID 21).
    public static let int2 = PostgresType(oid: 21)
    /// PostgreSQL `int4` (OID 23).
    public static let int4 = PostgresType(oid: 23)
    /// PostgreSQL `text` (OID 25).
    public static let text = PostgresType(oid: 25)
    /// PostgreSQL `oid` (OID 26).
    public static let oidType = PostgresType(oid: 26)
    /// PostgreSQL `json` (OID 114).
    public static let json = PostgresType(oid: 114)
    /// PostgreSQL `float4` (OID 700).
    public static let float4 = PostgresType(oid: 700)
    /// PostgreSQL `float8` (OID 701).
    public static let float8 = PostgresType(oid: 701)
    /// PostgreSQL `unknown` (OID 705).
    public static let unknown = PostgresType(oid: 705)
    /// PostgreSQL `bpchar`, the type of `char(n)` (OID 1042).
    public static let bpchar = PostgresType(oid: 1042)
    /// PostgreSQL `varchar` (OID 1043).
    public static let varchar = PostgresType(oid: 1043)
    /// PostgreSQL `date` (OID 1082).
    public static let date = PostgresType(oid: 1082)
    /// PostgreSQL `timestamp` (OID 1114).
    public static let timestamp = PostgresType(oid: 1114)
    /// PostgreSQL `timestamptz` (OID 1184).
    public static let timestamptz = PostgresType(oid: 1184)
    /// PostgreSQL `interval` (OID 1186).
    public static let interval = PostgresType(oid: 1186)
    /// PostgreSQL `numeric` (OID 1700).
    public static let numeric = PostgresType(oid: 1700)
    /// PostgreSQL `uuid` (OID 2950).
    public static let uuid = PostgresType(oid: 2950)
    /// PostgreSQL `jsonb` (OID 3802).
    public static let jsonb = PostgresType(oid: 3802)
    /// PostgreSQL `bool[]` (OID 1000).
    public static let boolArray = PostgresType(oid: 1000)
    /// PostgreSQL `bytea[]` (OID 1001).
    public static let byteaArray = PostgresType(oid: 1001)
    /// PostgreSQL `int2[]` (OID 1005).
    public static let int2Array = PostgresType(oid: 1005)
    /// PostgreSQL `int4[]` (OID 1007).
    public static let int4Array = PostgresType(oid: 1007)
    /// PostgreSQL `text[]` (OID 1009).
    public static let textArray = PostgresType(oid: 1009)
    /// PostgreSQL `varchar[]` (OID 1015).
    public static let varcharArray = PostgresType(oid: 1015)
    /// PostgreSQL `int8[]` (OID 1016).
    public static let int8Array = PostgresType(oid: 1016)
    /// PostgreSQL `float8[]` (OID 1022).
    public static let float8Array = PostgresType(oid: 1022)
    /// PostgreSQL `timestamptz[]` (OID 1185).
    public static let timestamptzArray = PostgresType(oid: 1185)
    /// PostgreSQL `uuid[]` (OID 2951).
    public static let uuidArray = PostgresType(oid: 2951)
    /// PostgreSQL `json[]` (OID 199).
    public static let jsonArray = PostgresType(oid: 199)
    /// PostgreSQL `jsonb[]` (OID 3807).
    public static let jsonbArray = PostgresType(oid: 3807)

    /// The type's name, such as `int8` or `text[]`, or its OID when this client does not know it.
    public var description: String {
        switch self.oid {
        case 0: "unspecified"
        case 16: "bool"
        case 17: "bytea"
        case 19: "name"
        case 20: "int8"
        case 21: "int2"
        case 23: "int4"
        case 25: "text"
        case 26: "oid"
        case 114: "json"
        case 700: "float4"
        case 701: "float8"
        case 705: "unknown"
        case 1042: "bpchar"
        case 1043: "varchar"
        case 1082: "date"
        case 1114: "timestamp"
        case 1184: "timestamptz"
        case 1186: "interval"
        case 1700: "numeric"
        case 2950: "uuid"
        case 3802: "jsonb"
        case 1000: "bool[]"
        case 1001: "bytea[]"
        case 1005: "int2[]"
        case 1007: "int4[]"
        case 1009: "text[]"
        case 1015: "varchar[]"
        case 1016: "int8[]"
        case 1022: "float8[]"
        case 1185: "timestamptz[]"
        case 2951: "uuid[]"
        case 199: "json[]"
        case 3807: "jsonb[]"
        default: "oid \(self.oid)"
        }
    }

    /// Whether values of this type are arrays (one of the array types named here).
    var isKnownArray: Bool {
        [1000, 1001, 1005, 1007, 1009, 1015, 1016, 1022, 1185, 2951, 199, 3807].contains(self.oid)
    }
}
