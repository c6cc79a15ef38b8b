import Foundation

/// What the example tells its user, on standard output and unbuffered, so that a pipe (or a
/// script waiting for the cancel command) sees each line at once.
enum Console {
    /// Whether standard output is a terminal, where a progress line can be redrawn in place.
    static let isTerminal = isatty(STDOUT_FILENO) == 1

    /// Writes one line.
    static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Redraws the current line on a terminal; elsewhere writes it as a line of its own.
    static func status(_ text: String) {
        if Self.isTerminal {
            FileHandle.standardOutput.write(Data(("\r\u{1B}[2K" + text).utf8))
        } else {
            Self.line(text)
        }
    }

    /// Ends a line drawn with ``status(_:)`` on a terminal.
    static func endStatus() {
        if Self.isTerminal { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }
}
