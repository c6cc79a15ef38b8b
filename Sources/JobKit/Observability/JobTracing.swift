import Foundation
import Tracing

/// JobKit's swift-distributed-tracing spans, and the trace context a job row carries.
///
/// Enqueueing starts a producer span `"<type> send"` and stores its context in the row
/// (`trace_context`, the key/values the tracer's `inject` writes, such as W3C `traceparent` and
/// `tracestate`, as a JSON object). The executor that claims the job, in this or any other
/// process, extracts that context and runs the handler in a consumer span `"<type> process"`,
/// its child: one trace from the request that enqueued to the work. `runAsJob` runs in an
/// internal span `"<type> run"`. Names follow Oban's OpenTelemetry integration (`<worker> send`,
/// `<worker> process`); attributes use the log metadata keys (`jobkit.job.id`, …).
///
/// With swift-distributed-tracing's no-op tracer (nothing bootstrapped) nothing is done at all:
/// no span, no injection, `trace_context` stays `NULL`.
struct JobTracing: Sendable {
    /// Span attribute keys, the same as the log metadata keys.
    enum Attribute {
        static let id = "jobkit.job.id"
        static let type = "jobkit.job.type"
        static let queue = "jobkit.job.queue"
        static let attempt = "jobkit.job.attempt"
        static let count = "jobkit.job.count"
        static let outcome = "jobkit.job.outcome"
    }

    let tracer: any Tracer
    /// `false` for the no-op tracer: every method returns at once.
    let isEnabled: Bool

    init(tracer: any Tracer) {
        self.tracer = tracer
        self.isEnabled = !(tracer is NoOpTracer)
    }

    // MARK: - Spans

    /// Starts a span (`nil` when tracing is off).
    func startSpan(_ name: String, context: ServiceContext, kind: SpanKind) -> (any Span)? {
        guard self.isEnabled else { return nil }
        return Self.start(self.tracer, name, context: context, kind: kind)
    }

    private static func start(_ tracer: some Tracer, _ name: String, context: ServiceContext, kind: SpanKind) -> any Span {
        tracer.startSpan(name, context: context, ofKind: kind)
    }

    /// Runs `body` in a producer span for enqueueing `count` jobs of `type` on `queue`, handing it
    /// the span's context as the JSON text to store in each row (`nil` when tracing is off).
    func withEnqueueSpan<Result>(
        type: String,
        queue: String,
        count: Int,
        id: UUID?,
        _ body: (_ traceContextJSON: String?) async throws -> Result
    ) async throws -> Result {
        guard let span = self.startSpan("\(type) send", context: ServiceContext.current ?? .topLevel, kind: .producer) else {
            return try await body(nil)
        }
        defer { span.end() }
        span.updateAttributes { attributes in
            attributes[Attribute.type] = type
            attributes[Attribute.queue] = queue
            if let id { attributes[Attribute.id] = id.uuidString.lowercased() } else { attributes[Attribute.count] = count }
        }
        do {
            return try await body(self.carrierJSON(of: span.context))
        } catch {
            Self.fail(span, error)
            throw error
        }
    }

    /// Marks `span` failed with `error`.
    static func fail(_ span: (any Span)?, _ error: any Error) {
        guard let span else { return }
        span.recordError(error)
        span.setStatus(SpanStatus(code: .error, message: "\(error)"))
    }

    /// Sets the attributes every run span carries.
    static func describe(_ span: (any Span)?, id: UUID, type: String, queue: String, attempt: Int) {
        span?.updateAttributes { attributes in
            attributes[Attribute.id] = id.uuidString.lowercased()
            attributes[Attribute.type] = type
            attributes[Attribute.queue] = queue
            attributes[Attribute.attempt] = attempt
        }
    }

    // MARK: - The row's trace context

    /// The context's key/values as the tracer injects them, as a JSON object; `nil` when the
    /// tracer injects nothing.
    func carrierJSON(of context: ServiceContext) -> String? {
        guard self.isEnabled else { return nil }
        var carrier: [String: String] = [:]
        self.tracer.inject(context, into: &carrier, using: DictionaryInjector())
        return carrier.isEmpty ? nil : TraceCarrier.encode(carrier)
    }

    /// The context stored in a row, on top of `.topLevel`; `.topLevel` itself when there is none
    /// or it cannot be read (a broken context costs the link, never the job).
    func context(fromJSON json: String?) -> ServiceContext {
        var context = ServiceContext.topLevel
        guard self.isEnabled, let json, let carrier = TraceCarrier.decode(json) else {
            return context
        }
        self.tracer.extract(carrier, into: &context, using: DictionaryExtractor())
        return context
    }
}

/// Writes trace context values into a `[String: String]`.
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

/// Reads trace context values from a `[String: String]`.
struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
