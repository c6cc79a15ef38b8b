import Logging

/// Logging defaults.
public enum JobKitLogging {
    /// A logger that discards everything: the default where a caller passes none.
    public static let noop = Logger(label: "jobkit", factory: { _ in SwiftLogNoOpLogHandler() })
}
