import Foundation
import Testing

@testable import JobKit

/// The row's trace context text, without a database: what the writer makes, the reader reads back.
@Suite struct TraceCarrierTests {
    @Test(arguments: [
        [:],
        ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
        ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"],
        ["quote\"and\\slash": "line\nbreak\ttab\u{1}control", "ünï": "cödé ✓"],
    ])
    func encodedCarrierDecodesToTheSameValues(_ carrier: [String: String]) throws {
        let json = TraceCarrier.encode(carrier)
        #expect(TraceCarrier.decode(json) == carrier)
        // It is JSON: Foundation reads the same.
        #expect(try JSONDecoder().decode([String: String].self, from: Data(json.utf8)) == carrier)
    }

    @Test func readsTheObjectPostgreSQLPrintsForJsonb() {
        let printed = #"{"tracestate": "a=1", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#
        #expect(TraceCarrier.decodeSimple(printed) == ["tracestate": "a=1", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
    }

    @Test func escapedValuesAreLeftToJSONDecoder() {
        let json = #"{"k": "a\"b\u0041"}"#
        #expect(TraceCarrier.decodeSimple(json) == nil)
        #expect(TraceCarrier.decode(json) == ["k": "a\"bA"])
    }

    @Test(arguments: ["", "[]", "{", #"{"k": 1}"#, #"{"k": "v"} x"#, "null", #"{"k" "v"}"#])
    func anythingElseIsNotACarrier(_ text: String) {
        #expect(TraceCarrier.decode(text) == nil)
    }
}
