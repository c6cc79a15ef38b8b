import Foundation
import LibPQ
import Testing

/// `PostgresListener` delivers `LISTEN/NOTIFY` notifications and survives losing its connection.
@Suite(.timeLimit(.minutes(2)))
struct NotificationTests {
    private func database() async throws -> PostgresConfiguration {
        try await SuiteDatabase.configuration("notify")
    }

    /// Runs a listener subscribed to `channel`, recording its events, for the length of `body`.
    private func withListener(
        on channel: String,
        _ body: (_ listener: PostgresListener, _ events: Recorder<PostgresListener.Event>) async throws -> Void
    ) async throws {
        let listener = PostgresListener(configuration: try await self.database())
        let recorder = Recorder<PostgresListener.Event>()
        let events = listener.events(on: channel)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listener.run() }
            group.addTask {
                for await event in events { recorder.append(event) }
            }
            do {
                try await body(listener, recorder)
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    private static func notifications(_ events: [PostgresListener.Event]) -> [PostgresNotification] {
        events.compactMap { event in
            if case .notification(let notification) = event { return notification }
            return nil
        }
    }

    @Test func listenerSaysListeningThenReceivesANotification() async throws {
        let channel = uniqueName("jobs")
        try await withConnection(to: try await self.database()) { sender in
            let senderPID = try await backendPID(of: sender)
            try await self.withListener(on: channel) { listener, events in
                try await waitUntil("listening") { events.values == [.listening] }
                try await sender.query("SELECT pg_notify(\(channel), \("payload ✓ with 'quotes'"))")
                try await waitUntil("the notification") { events.values.count == 2 }
                #expect(events.values.first == .listening)
                let notification = try #require(Self.notifications(events.values).first)
                #expect(notification.channel == channel)
                #expect(notification.payload == "payload ✓ with 'quotes'")
                #expect(notification.senderPID == senderPID)
            }
        }
    }

    @Test func notificationsArriveInOrderOnlyForTheSubscribedChannel() async throws {
        let channel = uniqueName("ordered")
        let other = uniqueName("other")
        try await withConnection(to: try await self.database()) { sender in
            try await self.withListener(on: channel) { listener, events in
                try await waitUntil("listening") { events.values == [.listening] }
                for index in 0..<50 {
                    try await sender.query("SELECT pg_notify(\(other), 'ignored'), pg_notify(\(channel), \(String(index)))")
                }
                try await waitUntil("50 notifications") { Self.notifications(events.values).count == 50 }
                let received = Self.notifications(events.values)
                #expect(received.map(\.payload) == (0..<50).map(String.init))
                #expect(received.allSatisfy { $0.channel == channel })
            }
        }
    }

    @Test func noNotificationIsLostWhileOtherChannelsAreSubscribed() async throws {
        let channel = uniqueName("busy")
        let total = 300
        try await withConnection(to: try await self.database()) { sender in
            try await self.withListener(on: channel) { listener, events in
                try await waitUntil("listening") { events.values == [.listening] }
                // Each new subscription makes the listener's thread run a LISTEN while
                // notifications for `channel` keep arriving.
                let others = Recorder<AsyncStream<PostgresListener.Event>>()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for index in 0..<total {
                            try await sender.query("SELECT pg_notify(\(channel), \(String(index)))")
                        }
                    }
                    group.addTask {
                        for _ in 0..<60 {
                            others.append(listener.events(on: uniqueName("other")))
                            await Task.yield()
                        }
                    }
                    try await group.waitForAll()
                }
                try await waitUntil("\(total) notifications") { Self.notifications(events.values).count == total }
                #expect(Self.notifications(events.values).map(\.payload) == (0..<total).map(String.init))
                #expect(others.values.count == 60)
            }
        }
    }

    @Test func subscribingWhileTheConnectionDropsKeepsEveryChannel() async throws {
        let first = uniqueName("kept")
        try await withConnection(to: try await self.database()) { sender in
            try await self.withListener(on: first) { listener, events in
                try await waitUntil("listening") { events.values == [.listening] }
                var later: [(channel: String, events: Recorder<PostgresListener.Event>)] = []
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<5 {
                        let pid = try #require(listener.backendPID)
                        try await sender.query("SELECT pg_terminate_backend(\(pid))")
                        let channel = uniqueName("late")
                        let recorder = Recorder<PostgresListener.Event>()
                        let stream = listener.events(on: channel)
                        group.addTask { for await event in stream { recorder.append(event) } }
                        later.append((channel, recorder))
                        try await waitUntil("a new backend") { listener.backendPID.map { $0 != pid } ?? false }
                    }
                    // Every channel, old and new, is listened to on the connection in place now.
                    let token = UUID().uuidString
                    try await waitUntil("every channel to deliver") {
                        try await sender.query("SELECT pg_notify(\(first), \(token))")
                        for entry in later {
                            try await sender.query("SELECT pg_notify(\(entry.channel), \(token))")
                        }
                        let all = [events] + later.map(\.events)
                        return all.allSatisfy { Self.notifications($0.values).contains { $0.payload == token } }
                    }
                    group.cancelAll()
                }
            }
        }
    }

    @Test func channelNamesNeedNoQuotingByTheCaller() async throws {
        let channel = "Mixed Case \"quoted\" ü \(UUID().uuidString.prefix(8))"
        try await withConnection(to: try await self.database()) { sender in
            try await self.withListener(on: channel) { listener, events in
                try await waitUntil("listening") { events.values == [.listening] }
                try await sender.query("SELECT pg_notify(\(channel), 'x')")
                try await waitUntil("the notification") { Self.notifications(events.values).count == 1 }
                #expect(Self.notifications(events.values).first?.channel == channel)
            }
        }
    }

    @Test func listenerReconnectsAfterItsBackendIsTerminatedAndKeepsDelivering() async throws {
        let channel = uniqueName("resilient")
        try await withConnection(to: try await self.database()) { sender in
            try await self.withListener(on: channel) { listener, events in
                try await waitUntil("listening") { events.values == [.listening] }
                let firstPID = try #require(listener.backendPID)
                try await sender.query("SELECT pg_terminate_backend(\(firstPID))")
                try await waitUntil("listening again") { events.values == [.listening, .listening] }
                let secondPID = try #require(listener.backendPID)
                #expect(secondPID != firstPID)
                try await sender.query("SELECT pg_notify(\(channel), 'after reconnect')")
                try await waitUntil("the notification") { events.values.count == 3 }
                #expect(Self.notifications(events.values).map(\.payload) == ["after reconnect"])
            }
        }
    }
}
