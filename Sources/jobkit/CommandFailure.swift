import ArgumentParser
import Foundation
import JobKit
import JobKitAdmin
import LibPQ

extension ExitCode {
    /// A bad argument or option (argument-parser's own usage errors included).
    static let usage = ExitCode(2)
    /// No job has the id given.
    static let notFound = ExitCode(3)
    /// The job's status does not allow the change.
    static let conflict = ExitCode(4)
    /// The database could not be reached.
    static let databaseUnreachable = ExitCode(5)
    /// `jobkit health` found problems.
    static let unhealthy = ExitCode(6)
}

/// An error shown as one line, with the exit code scripts rely on: the message of a JobKit or
/// PostgreSQL error, never a trace.
struct CommandFailure: Error, CustomStringConvertible {
    /// The line printed after `Error: `.
    let description: String
    /// The process's exit code.
    let exitCode: ExitCode

    init(_ error: any Error) {
        switch error {
        case let error as CommandFailure:
            self = error
        case let error as JobError:
            self.init(Self.oneLine(error.description), exitCode: Self.exitCode(for: error.code))
        case let error as PostgresError:
            self.init(postgres: error)
        case let error as AdminServerError:
            self.init(Self.oneLine(error.message), exitCode: .usage)
        case let error as ScheduleError:
            self.init(Self.oneLine(error.message), exitCode: error.code == .notFound ? .notFound : .usage)
        default:
            self.init(Self.oneLine("\(error)"), exitCode: .failure)
        }
    }

    init(_ description: String, exitCode: ExitCode) {
        self.description = description
        self.exitCode = exitCode
    }

    private init(postgres error: PostgresError) {
        let message = Self.oneLine(error.sqlState.map { "\(error.message) (SQLSTATE \($0.rawValue))" } ?? error.message)
        switch error.code {
        case .connectionFailed, .connectionClosed:
            self.init(message, exitCode: .databaseUnreachable)
        case .invalidConfiguration:
            self.init("invalid database URL: \(message)", exitCode: .usage)
        case .server where error.sqlState == .undefinedTable || error.sqlState?.rawValue == "3F000":
            self.init("\(message); is the schema migrated? Run `jobkit migrate`", exitCode: .failure)
        case .server where error.sqlState.map(Self.meansUnreachable) ?? false:
            self.init(message, exitCode: .databaseUnreachable)
        default:
            self.init(message, exitCode: .failure)
        }
    }

    private static func exitCode(for code: JobError.Code) -> ExitCode {
        switch code {
        case .notFound: .notFound
        case .illegalTransition, .duplicate, .leaseLost: .conflict
        case .invalidArgument, .invalidProgress: .usage
        default: .failure
        }
    }

    /// Connection exceptions (class 08) and a server shutting down or starting up.
    private static func meansUnreachable(_ state: SQLState) -> Bool {
        state.rawValue.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state.rawValue)
    }

    /// Messages from libpq span lines (`…failed: Connection refused\n\tIs the server running…`).
    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }
}
