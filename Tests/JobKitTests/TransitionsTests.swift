import JobKit
import Testing

/// The transition table against DESIGN.md's picture of the state machine, without a database.
///
/// ```
///   +-------> scheduled ----------------------> cancelled (terminal)
///   |              | claim / start                  ^
///   |  retry       v                                |
///   +-------- in_progress ------------------------->+
///   |              |          \
///   |              v           v
///   |            done        failed ----> scheduled (manual retry / force-reset)
///   |         (terminal)        \------> cancelled
///   +-- lease expired with no progress, graceful-shutdown release, snooze
/// ```
@Suite(.timeLimit(.minutes(3)))
struct TransitionsTests {
    typealias Move = JobTransitions.Move

    /// Each move's source statuses and target, written out from the picture.
    static let picture: [Move: (sources: Set<JobStatus>, target: JobStatus)] = [
        .start: ([.scheduled], .inProgress),
        .complete: ([.inProgress], .done),
        .fail: ([.inProgress], .failed),
        .retryLater: ([.inProgress], .scheduled),
        .release: ([.inProgress], .scheduled),
        .snooze: ([.inProgress], .scheduled),
        .retry: ([.failed], .scheduled),
        .cancel: ([.scheduled, .inProgress, .failed], .cancelled),
        .forceFail: ([.inProgress], .failed),
        .forceReset: ([.inProgress, .failed], .scheduled),
    ]

    /// The picture's arrows, as (from, to).
    static let arrows: Set<Arrow> = [
        Arrow(.scheduled, .inProgress),
        Arrow(.scheduled, .cancelled),
        Arrow(.inProgress, .done),
        Arrow(.inProgress, .failed),
        Arrow(.inProgress, .cancelled),
        Arrow(.inProgress, .scheduled),
        Arrow(.failed, .scheduled),
        Arrow(.failed, .cancelled),
    ]

    struct Arrow: Hashable, Sendable, CustomTestStringConvertible {
        var from: JobStatus
        var to: JobStatus
        init(_ from: JobStatus, _ to: JobStatus) {
            self.from = from
            self.to = to
        }
        var testDescription: String { "\(self.from) → \(self.to)" }
    }

    static let allPairs: [Arrow] = JobStatus.allCases.flatMap { from in JobStatus.allCases.map { Arrow(from, $0) } }

    @Test func everyMoveIsInThePicture() {
        #expect(Set(Move.allCases) == Set(Self.picture.keys))
    }

    @Test(arguments: Move.allCases)
    func moveLeadsToThePicturesTarget(_ move: Move) throws {
        let expected = try #require(Self.picture[move])
        #expect(JobTransitions.target(of: move) == expected.target)
    }

    @Test(arguments: Move.allCases)
    func moveStartsOnlyFromThePicturesSources(_ move: Move) throws {
        let expected = try #require(Self.picture[move])
        #expect(JobTransitions.sources(of: move) == expected.sources)
    }

    @Test(arguments: Move.allCases, JobStatus.allCases)
    func allowsExactlyThePicturesPairs(_ move: Move, _ status: JobStatus) throws {
        let expected = try #require(Self.picture[move])
        #expect(JobTransitions.allows(move, from: status) == expected.sources.contains(status))
    }

    @Test(arguments: Move.allCases)
    func everyMoveFollowsAnArrowOfThePicture(_ move: Move) {
        let target = JobTransitions.target(of: move)
        for source in JobTransitions.sources(of: move) {
            #expect(Self.arrows.contains(Arrow(source, target)), "\(move) allows \(source) → \(target)")
        }
    }

    @Test(arguments: [JobStatus.done, .cancelled], Move.allCases)
    func terminalStatusAllowsNoMove(_ status: JobStatus, _ move: Move) {
        #expect(!JobTransitions.allows(move, from: status))
    }

    @Test(arguments: [JobStatus.done, .cancelled])
    func terminalStatusCannotTransitionAnywhere(_ status: JobStatus) {
        for target in JobStatus.allCases {
            #expect(!status.canTransition(to: target), "\(status) → \(target)")
        }
    }

    @Test(arguments: TransitionsTests.allPairs)
    func canTransitionMatchesThePicturesArrows(_ pair: Arrow) {
        #expect(pair.from.canTransition(to: pair.to) == Self.arrows.contains(pair))
    }

    @Test(arguments: JobStatus.allCases)
    func noStatusTransitionsToItself(_ status: JobStatus) {
        #expect(!status.canTransition(to: status))
    }

    @Test func terminalStatusesAreExactlyDoneAndCancelled() {
        #expect(Set(JobStatus.allCases.filter(\.isTerminal)) == [.done, .cancelled])
    }

    @Test func finishedStatusesAreDoneFailedAndCancelled() {
        #expect(Set(JobStatus.allCases.filter(\.isFinished)) == [.done, .failed, .cancelled])
    }

    @Test func everyNonTerminalStatusHasAWayOut() {
        for status in JobStatus.allCases where !status.isTerminal {
            #expect(JobStatus.allCases.contains { status.canTransition(to: $0) }, "\(status) has no way out")
        }
    }

    @Test func statusesUseTheDatabasesNames() {
        #expect(JobStatus.allCases.map(\.rawValue) == ["scheduled", "in_progress", "done", "failed", "cancelled"])
    }
}
