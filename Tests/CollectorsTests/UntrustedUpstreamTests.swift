import AsyncHTTPClient
import BreakwaterTestSupport
import Collectors
import Foundation
import SafeNumbers
import Testing

/// What an upstream (or anything between us and it) can send must never crash a poll, hand a
/// credential to another origin, or count a local problem as an upstream failure.
@Suite("Untrusted upstream input: Retry-After, redirects, local errors", .serialized, .tags(.integration))
struct UntrustedUpstreamTests {
    @Test("Retry-After of any size parses without trapping and saturates", arguments: [
        "99999999999999999", "4611686018427387", "9223372036854775807", "9223372036854775808",
        "99999999999999999999999999999999", String(repeating: "9", count: 200),
    ])
    func hugeRetryAfter(value: String) throws {
        let parsed = try #require(UpstreamClassifier.retryAfter(value, now: Date()))
        #expect(parsed >= .seconds(86_400 * 365))
        // What the schedule does with it next: milliseconds, never trapping.
        #expect(parsed.roundedMilliseconds > 0)
    }

    @Test("Retry-After that is neither form is ignored, never a crash", arguments: [
        "-5", "", " ", "1e20", "inf", "nan", "3.5", "+5", "0x10", "\u{0}", "٣", "Wed, 99 Foo 2026 25:61:61 GMT",
        String(repeating: "x", count: 10_000),
    ])
    func oddRetryAfter(value: String) {
        _ = UpstreamClassifier.retryAfter(value, now: Date())
    }

    @Test("non-ASCII Retry-After text never reaches DateFormatter (it traps on some combining marks)",
          arguments: ["T\u{06E3}", "\u{1F618}", "Wed, 21 Oct 2015 07:28:00 GMT\u{0301}"])
    func nonASCIIRetryAfter(value: String) {
        #expect(UpstreamClassifier.retryAfter(value, now: Date()) == nil)
        #expect(UpstreamClassifier.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: Date(timeIntervalSince1970: 0)) != nil)
    }

    @Test("a payload time outside 1970–9999 is dropped, never overflowing ts_ms", arguments: ["1e20", "1e17", "-5", "99999999999999999999"])
    func hugePayloadTime(value: String) throws {
        let source = SourceDefinition(kind: .glassnode, baseURL: URL(string: "https://example.test")!, apiKey: "k",
                                      params: ["metric": "market/price_usd_close"], timeout: .seconds(5))
        let records = try PayloadParser.parse(Array("[{\"t\": \(value), \"v\": 1}]".utf8), for: source)
        for record in records { _ = record.streamFields }
        #expect(records.allSatisfy { $0.timestamp == nil })
    }

    @Test("a redirect is not followed: the API key never reaches another origin")
    func redirectNotFollowed() async throws {
        let other = try FlakyUpstream()
        defer { other.stop() }
        let api = try FlakyUpstream(arguments: ["--mode", "redirect", "--redirect-to", other.url().appendingPathComponent("steal").absoluteString])
        defer { api.stop() }
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: UpstreamFetcher.clientConfiguration)
        let fetcher = UpstreamFetcher(client: client)
        let source = SourceDefinition(kind: .moralis, baseURL: api.url().appendingPathComponent("api/v2.2"), apiKey: "secret-moralis-key",
                                      params: ["address": "0x6b175474e89094c44da98b954eedeac495271d0f"], timeout: .seconds(5))
        let verdict = await fetcher.poll(source)
        try await client.shutdown()
        #expect(try api.requestCount() == 1)
        #expect(try other.requestCount() == 0, "the redirect target received the request (and the key)")
        guard case .notCounted(let reason) = verdict else {
            Issue.record("a redirect was \(verdict), not a reported, uncounted result"); return
        }
        #expect(reason.contains("redirect") && reason.contains(other.url().host ?? "127.0.0.1"))
    }

    @Test("an API key HTTP cannot carry is a local error: not sent, not counted, never shown", arguments: [
        "Qk7Zp2Xw\nVb9Ty4Lm", "Qk7Zp2Xw\rVb9Ty4Lm", "Qk7Zp2Xw\u{0}Vb9Ty4Lm",
    ])
    func headerUnsafeKey(key: String) async throws {
        let api = try FlakyUpstream()
        defer { api.stop() }
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: UpstreamFetcher.clientConfiguration)
        let fetcher = UpstreamFetcher(client: client)
        let source = SourceDefinition(kind: .moralis, baseURL: api.url().appendingPathComponent("api/v2.2"), apiKey: key,
                                      params: ["address": "0x6b175474e89094c44da98b954eedeac495271d0f"], timeout: .seconds(5))
        let verdict = await fetcher.poll(source)
        try await client.shutdown()
        #expect(try api.requestCount() == 0)
        if case .failure = verdict { Issue.record("a local error counted as an upstream failure: \(verdict)") }
        let text = "\(verdict)"
        for part in ["Qk7Zp2Xw", "Vb9Ty4Lm"] {
            #expect(!text.contains(part), "the verdict carries the key: \(text)")
        }
    }
}
