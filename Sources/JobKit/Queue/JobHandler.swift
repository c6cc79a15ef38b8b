import Foundation

/// Work that workers in any process run for enqueued jobs of one type.
///
/// ```swift
/// struct SendEmail: JobHandler {
///     struct Payload: Codable, Sendable { var to: String; var subject: String }
///     static let type = "send-email"
///     static let retryPolicy = RetryPolicy(maxAttempts: 5)
///     func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
///         try await mailer.send(to: payload.to, subject: payload.subject)
///         return EmptyPayload()
///     }
/// }
/// try await jobs.enqueue(SendEmail.self, SendEmail.Payload(to: "a@example.com", subject: "Hi"))
/// ```
public protocol JobHandler: Sendable {
    /// The job's input.
    associatedtype Payload: Codable & Sendable
    /// The job's output, stored as its result.
    associatedtype Output: Codable & Sendable = EmptyPayload

    /// The job type this handler runs, such as `"send-email"`.
    static var type: String { get }
    /// How often and how soon a failed job runs again. Defaults to ``RetryPolicy/init(maxAttempts:initialDelay:maximumDelay:jitter:)``'s
    /// defaults. Its `maxAttempts` is stored on each job at enqueue time.
    static var retryPolicy: RetryPolicy { get }
    /// How long one attempt may run before it is cancelled and counted as failed. Defaults to `nil` (no limit).
    static var timeout: Duration? { get }

    /// Runs one attempt.
    /// - Parameters:
    ///   - payload: The job's input.
    ///   - context: The running job: progress, cancellation, logger.
    /// - Returns: The output, stored as the job's result.
    /// - Throws: Anything: the attempt fails and is retried per ``retryPolicy``.
    func run(_ payload: Payload, context: JobContext) async throws -> Output
}

extension JobHandler {
    /// The default: `RetryPolicy()`, 5 attempts with backoff from 1 second.
    public static var retryPolicy: RetryPolicy { RetryPolicy() }
    /// The default: `nil`, no limit.
    public static var timeout: Duration? { nil }
}

/// How often and how soon a failed job runs again: exponential backoff with jitter.
public struct RetryPolicy: Sendable, Hashable {
    /// How many times a job may start in all. Defaults to 5; 1 means no retries.
    public var maxAttempts: Int
    /// The wait before the second attempt. Defaults to 1 second.
    public var initialDelay: Duration
    /// The longest wait between attempts. Defaults to 1 hour.
    public var maximumDelay: Duration
    /// The share of each wait randomised up or down, 0...1. Defaults to 0.2 (±20 %).
    public var jitter: Double

    /// Creates a policy; every parameter has a default.
    /// - Parameters:
    ///   - maxAttempts: How many times a job may start in all; at least 1. Defaults to 5.
    ///   - initialDelay: The wait before the second attempt. Defaults to 1 second.
    ///   - maximumDelay: The longest wait; at least `initialDelay`. Defaults to 1 hour.
    ///   - jitter: The share of each wait randomised up or down, 0...1. Defaults to 0.2.
    public init(maxAttempts: Int = 5, initialDelay: Duration = .seconds(1), maximumDelay: Duration = .seconds(3600), jitter: Double = 0.2) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        precondition(initialDelay >= .zero && maximumDelay >= initialDelay, "delays must satisfy 0 <= initialDelay <= maximumDelay")
        precondition((0...1).contains(jitter), "jitter must be within 0...1")
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.jitter = jitter
    }

    /// No retries: one attempt.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The wait after the failure of `attempt` (1 for the first): `initialDelay × 2^(attempt−1)`,
    /// capped at `maximumDelay`, randomised by `jitter`.
    /// - Parameters:
    ///   - attempt: The attempt that failed, from 1.
    ///   - random: The source of jitter.
    /// - Returns: The wait.
    public func delay(afterAttempt attempt: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let base = Double(self.initialDelay.milliseconds) * pow(2, Double(max(0, min(attempt - 1, 40))))
        let capped = min(base, Double(self.maximumDelay.milliseconds))
        let factor = self.jitter == 0 ? 1 : Double.random(in: (1 - self.jitter)...(1 + self.jitter), using: &random)
        return .milliseconds(Int64(max(0, capped * factor)))
    }

    /// The wait after the failure of `attempt`, with the system's random numbers.
    /// - Parameter attempt: The attempt that failed, from 1.
    /// - Returns: The wait, as ``delay(afterAttempt:using:)`` computes it.
    public func delay(afterAttempt attempt: Int) -> Duration {
        var random = SystemRandomNumberGenerator()
        return self.delay(afterAttempt: attempt, using: &random)
    }
}

/// A handler with its types erased, as the executor keeps it.
struct RegisteredHandler: Sendable {
    let type: String
    let retryPolicy: RetryPolicy
    let timeout: Duration?
    /// Decodes the payload, runs the handler, encodes the output.
    let run: @Sendable (_ payloadJSON: String, _ context: JobContext) async throws -> String

    init<Handler: JobHandler>(_ handler: Handler) {
        self.type = Handler.type
        self.retryPolicy = Handler.retryPolicy
        self.timeout = Handler.timeout
        self.run = { payloadJSON, context in
            let payload = try JobJSON.decode(Handler.Payload.self, from: payloadJSON, jobID: context.id)
            return try JobJSON.encode(try await handler.run(payload, context: context))
        }
    }
}
