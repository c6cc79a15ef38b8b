import Foundation

/// What the example tells its user, on standard output and unbuffered, so that a pipe (or a
/// script waiting for the address) sees each line at once. Log entries go to standard error.
enum Console {
    /// Writes one line.
    static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
