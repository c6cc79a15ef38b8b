import CoreMetrics
import Foundation
import Synchronization
import Tracing

/// Stand-ins for real observability backends, so that `--observability` measures what JobKit's
/// own instrumentation costs: metric handlers that add under a lock, and a tracer that makes
/// W3C-style ids, injects a `traceparent`, and keeps nothing. A real backend (Prometheus,
/// OpenTelemetry) adds its own cost on top (aggregation, export), the same with or without JobKit.
enum BenchObservability {
    /// Counter, meter and timer handlers: one lock-protected value each.
    final class Metrics: MetricsFactory, Sendable {
        final class Handler: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler, Sendable {
            private let value = Mutex<(count: Int64, sum: Double)>((0, 0))
            func increment(by amount: Int64) { self.value.withLock { $0.count += amount } }
            func increment(by amount: Double) { self.value.withLock { $0.sum += amount } }
            func decrement(by amount: Double) { self.value.withLock { $0.sum -= amount } }
            func reset() { self.value.withLock { $0 = (0, 0) } }
            func set(_ value: Int64) { self.value.withLock { $0.sum = Double(value) } }
            func set(_ value: Double) { self.value.withLock { $0.sum = value } }
            func record(_ value: Int64) { self.value.withLock { $0.count += 1; $0.sum += Double(value) } }
            func record(_ value: Double) { self.value.withLock { $0.count += 1; $0.sum += value } }
            func recordNanoseconds(_ duration: Int64) { self.record(duration) }
        }

        func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Handler() }
        func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler { Handler() }
        func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { Handler() }
        func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Handler() }
        func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Handler() }
        func destroyCounter(_ handler: any CounterHandler) {}
        func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
        func destroyMeter(_ handler: any MeterHandler) {}
        func destroyRecorder(_ handler: any RecorderHandler) {}
        func destroyTimer(_ handler: any TimerHandler) {}
    }

    /// A tracer that propagates W3C-style `traceparent` values and drops every span at its end.
    struct Tracer: Tracing.Tracer {
        enum SpanIDs: ServiceContextKey {
            typealias Value = (trace: String, span: String)
        }

        final class Span: Tracing.Span, Sendable {
            let context: ServiceContext
            private let state: Mutex<(name: String, attributes: SpanAttributes, status: SpanStatus?)>
            init(name: String, context: ServiceContext) {
                self.context = context
                self.state = Mutex((name, [:], nil))
            }
            var isRecording: Bool { true }
            var operationName: String {
                get { self.state.withLock { $0.name } }
                set { self.state.withLock { $0.name = newValue } }
            }
            var attributes: SpanAttributes {
                get { self.state.withLock { $0.attributes } }
                set { self.state.withLock { $0.attributes = newValue } }
            }
            func setStatus(_ status: SpanStatus) { self.state.withLock { $0.status = status } }
            func addLink(_ link: SpanLink) {}
            func addEvent(_ event: SpanEvent) {}
            func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {}
            func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {}
        }

        /// `words` random 64-bit words as lower-case hex, 16 digits each (as tracers keep ids
        /// as integers and format them cheaply).
        static func hex(_ words: Int) -> String {
            var text = ""
            for _ in 0..<words {
                let digits = String(UInt64.random(in: .min ... .max), radix: 16)
                text += String(repeating: "0", count: 16 - digits.count) + digits
            }
            return text
        }

        func startSpan<Instant: TracerInstant>(
            _ operationName: String,
            context: @autoclosure () -> ServiceContext,
            ofKind kind: SpanKind,
            at instant: @autoclosure () -> Instant,
            function: String,
            file fileID: String,
            line: UInt
        ) -> Span {
            var context = context()
            context[SpanIDs.self] = (context[SpanIDs.self]?.trace ?? Self.hex(2), Self.hex(1))
            return Span(name: operationName, context: context)
        }

        func forceFlush() {}

        func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
        where Inject.Carrier == Carrier {
            guard let ids = context[SpanIDs.self] else { return }
            injector.inject("00-\(ids.trace)-\(ids.span)-01", forKey: "traceparent", into: &carrier)
        }

        func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
        where Extract.Carrier == Carrier {
            guard let value = extractor.extract(key: "traceparent", from: carrier) else { return }
            let parts = value.split(separator: "-")
            guard parts.count == 4 else { return }
            context[SpanIDs.self] = (String(parts[1]), String(parts[2]))
        }
    }
}
