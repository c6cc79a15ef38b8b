import ArgumentParser
import Foundation
import JobKit

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that jobs' fields agree with their status; --fix repairs what is unambiguous.",
        discussion: "Exits 0 whether or not issues are found; read the output (or `issues` in --json).")

    @Argument(help: "One job's id; all jobs when omitted.")
    var id: UUID?

    @Flag(help: "Apply the unambiguous fixes.")
    var fix = false

    @Option(help: "At most this many issues, when checking all jobs.")
    var limit = 1000

    @Flag(help: "Print JSON: {issues, fixed}.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard self.limit >= 1 else { throw ValidationError("--limit must be at least 1.") }
    }

    func run() async throws {
        let (issues, fixed) = try await self.connection.withService { jobs in
            if let id = self.id {
                let issues = try await jobs.validate(id, fix: self.fix)
                return (issues, self.fix ? issues.filter(\.isFixable).count : 0)
            }
            return try await jobs.validateAll(fix: self.fix, limit: self.limit)
        }
        if self.json {
            try JSONOutput.print(Outcome(issues: issues.map(IssueRecord.init), fixed: fixed))
            return
        }
        if issues.isEmpty {
            print("No issues.")
            return
        }
        print(TextOutput.table(
            ["JOB", "STATUS", "ISSUE", "FIXABLE"],
            issues.map { [TextOutput.id($0.jobID), $0.status.rawValue, $0.code, $0.isFixable ? "yes" : "no"] }))
        print(self.fix ? "Fixed \(fixed) of \(issues.count)." : "\(issues.filter(\.isFixable).count) of \(issues.count) fixable: run again with --fix.")
    }

    struct Outcome: Encodable {
        var issues: [IssueRecord]
        var fixed: Int
    }
}
