import ArgumentParser
import Foundation
import JobKit

struct Queues: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the queues: paused or running, their fleet-wide limits, waiting and running jobs.")

    @Flag(help: "Print JSON: a list of queues.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let queues = try await self.connection.withService { try await $0.queues() }
        if self.json {
            try JSONOutput.print(queues)
            return
        }
        guard !queues.isEmpty else {
            print("No queues.")
            return
        }
        let rows = queues.map { queue in
            [
                queue.name, queue.isPaused ? "paused" : "running", "\(queue.scheduled)", "\(queue.inProgress)",
                queue.settings.concurrencyLimit.map(String.init) ?? "-", queue.settings.keyLimit.map(String.init) ?? "-",
                queue.settings.rateLimit.map { "\($0.count) per \($0.period)" } ?? "-",
            ]
        }
        print(TextOutput.table(["QUEUE", "STATE", "SCHEDULED", "IN_PROGRESS", "LIMIT", "PER_KEY", "RATE"], rows))
    }
}

struct Pause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pause a queue in every process: no executor starts its jobs until it is resumed.",
        discussion: "Running jobs go on; enqueueing goes on.")

    @Argument(help: "The queue's name.")
    var queue: String

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await self.connection.withService { try await $0.pauseQueue(self.queue) }
        print("Paused \(self.queue).")
    }
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a paused queue; its executors wake at once.")

    @Argument(help: "The queue's name.")
    var queue: String

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await self.connection.withService { try await $0.resumeQueue(self.queue) }
        print("Resumed \(self.queue).")
    }
}

struct Limit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set a queue's fleet-wide limits, replacing the ones it had (none given: remove them).",
        discussion: "Exits 2 on a bad value (nothing is changed).")

    @Argument(help: "The queue's name.")
    var queue: String

    @Option(help: "At most this many of its jobs run at once, across all processes.")
    var concurrency: Int?

    @Option(name: .customLong("per-key"), help: "At most this many of its jobs with one concurrency key run at once.")
    var perKey: Int?

    @Option(help: "At most this many of its jobs start per period (with --period-seconds).")
    var rate: Int?

    @Option(name: .customLong("period-seconds"), help: "The rate limit's period in seconds. Defaults to 60.")
    var periodSeconds: Int = 60

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        for (name, value) in [("--concurrency", self.concurrency), ("--per-key", self.perKey), ("--rate", self.rate)] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1, not \(value)") }
        }
        guard self.periodSeconds >= 1 else { throw ValidationError("--period-seconds must be at least 1") }
    }

    func run() async throws {
        let settings = QueueSettings(
            concurrencyLimit: self.concurrency, keyLimit: self.perKey,
            rateLimit: self.rate.map { QueueSettings.RateLimit($0, per: .seconds(self.periodSeconds)) })
        try await self.connection.withService { try await $0.configureQueue(self.queue, settings) }
        print(settings.hasLimits ? "Limits of \(self.queue) set." : "Limits of \(self.queue) removed.")
    }
}
