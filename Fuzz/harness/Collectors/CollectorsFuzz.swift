// Fuzz entry points compiled into the Collectors module (see scripts/fuzz).
// Each is reached from a one-line LLVMFuzzerTestOneInput stub that scripts/fuzz generates
// (.build/fuzz/gen/entry-<target>.swift).
import Foundation

/// A fixed "now" so a crash reproduces whatever the wall clock says (2025-11-24T16:00:00Z).
private let fuzzNow = Date(timeIntervalSince1970: 1_764_000_000)

private let fuzzSources: [SourceKind: SourceDefinition] = Dictionary(uniqueKeysWithValues: SourceKind.allCases.map { kind in
    (kind, SourceDefinition(
        kind: kind, baseURL: URL(string: "https://api.example.test/v1")!, apiKey: "k",
        params: ["chain": "eth", "address": "0xabc", "metric": "market/price_usd_close", "asset": "BTC",
                 "query": "#bitcoin", "subreddit": "Bitcoin"]
    ))
})

/// What the daemon does with a Retry-After duration: PollSlot hands it to
/// `CollectorSchedule.pause(for:)`, which sends `duration.scriptMilliseconds` (FleetCollection).
/// scripts/fuzz copies that extension from Sources/FleetCollection/CollectorSchedule.swift
/// into this module as `fleetScriptMilliseconds`.
private func consume(_ duration: Duration) {
    _ = duration.fleetScriptMilliseconds
}

/// `retry-after`: the input is a Retry-After header value.
@_cdecl("breakwater_fuzz_retry_after")
public func breakwaterFuzzRetryAfter(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // Two arguments only: a later `maximum:` parameter with a default keeps this compiling.
    let parsed = UpstreamClassifier.retryAfter(text, now: fuzzNow)
    if let parsed {
        precondition(parsed >= .zero, "negative Retry-After \(parsed) from \(text.debugDescription)")
        consume(parsed)
    }
    let source = fuzzSources[.httpJSON]!
    // UpstreamFetcher lowercases header names; classify also finds a mixed-case one.
    let headers = size % 2 == 0 ? ["retry-after": text] : ["Retry-After": text]
    let verdict = UpstreamClassifier().classify(.response(status: 429, headers: headers, body: Array("{}".utf8)), for: source, now: fuzzNow)
    guard case .rateLimited(let retryAfter) = verdict else {
        preconditionFailure("429 classified as \(verdict)")
    }
    precondition(retryAfter == parsed, "classify and retryAfter disagree on \(text.debugDescription)")
    if let retryAfter { consume(retryAfter) }
    return 0
}

/// `payload`: byte 0 picks the source kind (low 3 bits mod 6; bit 3 = lunarcrush topic
/// endpoint), the rest is the 2xx response body.
@_cdecl("breakwater_fuzz_payload")
public func breakwaterFuzzPayload(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let selector = data[0]
    let kind = SourceKind.allCases[Int(selector & 0x07) % SourceKind.allCases.count]
    var source = fuzzSources[kind]!
    if kind == .lunarcrush, selector & 0x08 != 0 {
        source.params["endpoint"] = "topic"
        source.params["topic"] = "bitcoin"
    }
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let parsed: [CollectedRecord]?
    do {
        parsed = try PayloadParser.parse(body, for: source)
    } catch {
        _ = error.description
        parsed = nil
    }
    for record in parsed ?? [] {
        // What RecordWriter does with every record before XADD.
        let fields = record.streamFields
        precondition(fields.count >= 3 && fields[0].0 == "source" && fields[2].0 == "id")
        precondition(!record.id.isEmpty, "empty record id for \(kind)")
    }
    // The same body through the classifier, as UpstreamFetcher hands it over.
    let verdict = UpstreamClassifier().classify(.response(status: 200, headers: [:], body: body), for: source, now: fuzzNow)
    switch verdict {
    case .success(let records):
        precondition(parsed == records, "classify and parse disagree")
        for record in records { _ = record.streamFields }
    case .failure(let reason):
        precondition(parsed == nil && reason.category == .malformedPayload, "unexpected failure \(reason)")
    case .notCounted, .rateLimited:
        preconditionFailure("2xx classified as \(verdict)")
    }
    return 0
}
