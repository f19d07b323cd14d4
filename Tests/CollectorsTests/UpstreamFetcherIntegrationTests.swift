import BreakwaterTestSupport
import AsyncHTTPClient
import Collectors
import Foundation
import Logging
import Testing

/// UpstreamFetcher against a real loopback server (`scripts/flaky_upstream.py`).
@Suite("Fetching from a real loopback upstream", .serialized, .tags(.integration))
struct UpstreamFetcherIntegrationTests {
    let fetcher = UpstreamFetcher(client: HTTPClient.shared)

    /// Every kind's request, pointed at the given base URL.
    static func sources(base: URL) -> [SourceDefinition] {
        [
            SourceDefinition(kind: .moralis, baseURL: base.appendingPathComponent("api/v2.2"), apiKey: "k",
                             params: ["address": "0x6b175474e89094c44da98b954eedeac495271d0f"], timeout: .seconds(5)),
            SourceDefinition(kind: .glassnode, baseURL: base, apiKey: "k", params: ["metric": "market/price_usd_close"], timeout: .seconds(5)),
            SourceDefinition(kind: .twitter, baseURL: base, apiKey: "k", params: ["query": "#bitcoin lang:en"], timeout: .seconds(5)),
            SourceDefinition(kind: .reddit, baseURL: base, params: ["subreddit": "Bitcoin"], timeout: .seconds(5)),
            SourceDefinition(kind: .lunarcrush, baseURL: base, apiKey: "k", timeout: .seconds(5)),
            SourceDefinition(name: "topic", kind: .lunarcrush, baseURL: base, apiKey: "k",
                             params: ["endpoint": "topic", "topic": "bitcoin"], timeout: .seconds(5)),
            SourceDefinition(kind: .httpJSON, baseURL: base.appendingPathComponent("status"), timeout: .seconds(5)),
        ]
    }

    @Test("in healthy mode every source's documented path parses into records")
    func healthyEverySource() async throws {
        let upstream = try FlakyUpstream()
        defer { upstream.stop() }
        for source in Self.sources(base: upstream.url()) {
            let verdict = await fetcher.poll(source)
            guard case .success(let records) = verdict else {
                Issue.record("\(source.name): expected success, got \(verdict)")
                continue
            }
            #expect(!records.isEmpty, "\(source.name) returned no records")
            #expect(records.allSatisfy { $0.source == source.name && $0.kind == source.kind })
        }
        #expect(try upstream.requestCount() == 7)
    }

    @Test("500s are failures with status 500")
    func serverError() async throws {
        let upstream = try FlakyUpstream(arguments: ["--mode", "error500"])
        defer { upstream.stop() }
        let verdict = await fetcher.poll(Self.sources(base: upstream.url())[0])
        #expect(verdict == .failure(FailureReason(.serverError, status: 500, detail: "HTTP 500")))
    }

    @Test("a hanging upstream is a timeout failure within about the configured timeout")
    func timeout() async throws {
        let upstream = try FlakyUpstream(arguments: ["--mode", "timeout", "--hang-seconds", "10"])
        defer { upstream.stop() }
        var source = Self.sources(base: upstream.url())[1]
        source.timeout = .milliseconds(500)
        let started = ContinuousClock.now
        let verdict = await fetcher.poll(source)
        let elapsed = ContinuousClock.now - started
        guard case .failure(let reason) = verdict else {
            Issue.record("expected a timeout failure, got \(verdict)")
            return
        }
        #expect(reason.category == .timeout)
        #expect(elapsed < .seconds(3), "took \(elapsed)")
    }

    @Test("429 is rate limited with the server's Retry-After")
    func rateLimited() async throws {
        let upstream = try FlakyUpstream(arguments: ["--mode", "ratelimit", "--retry-after", "7"])
        defer { upstream.stop() }
        let verdict = await fetcher.poll(Self.sources(base: upstream.url())[2])
        #expect(verdict == .rateLimited(retryAfter: .seconds(7)))
    }

    @Test("a garbage 200 body is a malformed-payload failure")
    func garbage() async throws {
        let upstream = try FlakyUpstream(arguments: ["--mode", "garbage"])
        defer { upstream.stop() }
        let verdict = await fetcher.poll(Self.sources(base: upstream.url())[3])
        guard case .failure(let reason) = verdict else {
            Issue.record("expected failure, got \(verdict)")
            return
        }
        #expect(reason.category == .malformedPayload)
        #expect(reason.status == 200)
    }

    @Test("404 is not counted as a breaker failure")
    func notFound() async throws {
        let upstream = try FlakyUpstream(arguments: ["--mode", "notfound"])
        defer { upstream.stop() }
        let verdict = await fetcher.poll(Self.sources(base: upstream.url())[4])
        guard case .notCounted(let reason) = verdict else {
            Issue.record("expected notCounted, got \(verdict)")
            return
        }
        #expect(reason.contains("404"))
    }

    @Test("switching modes through the control endpoint changes the verdicts")
    func controlEndpoint() async throws {
        let upstream = try FlakyUpstream()
        defer { upstream.stop() }
        let source = Self.sources(base: upstream.url())[6]
        guard case .success = await fetcher.poll(source) else {
            Issue.record("expected success before switching")
            return
        }
        try upstream.setMode("error500")
        guard case .failure = await fetcher.poll(source) else {
            Issue.record("expected failure after switching to error500")
            return
        }
        try upstream.setMode("healthy")
        guard case .success = await fetcher.poll(source) else {
            Issue.record("expected success after switching back")
            return
        }
        #expect(try upstream.requestCount() == 3)
    }

    @Test("--fail-for fails at first, then turns healthy")
    func failForThenHealthy() async throws {
        let upstream = try FlakyUpstream(arguments: ["--fail-for", "1.5"])
        defer { upstream.stop() }
        let source = Self.sources(base: upstream.url())[6]
        guard case .failure(let reason) = await fetcher.poll(source) else {
            Issue.record("expected a failure during --fail-for")
            return
        }
        #expect(reason.category == .serverError)
        try await Task.sleep(for: .seconds(2))
        guard case .success = await fetcher.poll(source) else {
            Issue.record("expected success after --fail-for elapsed")
            return
        }
    }

    @Test("a body larger than the cap is abandoned and counted as malformed")
    func bodyCap() async throws {
        let upstream = try FlakyUpstream()
        defer { upstream.stop() }
        let small = UpstreamFetcher(client: HTTPClient.shared, maxBodyBytes: 64)
        let verdict = await small.poll(Self.sources(base: upstream.url())[1])
        guard case .failure(let reason) = verdict else {
            Issue.record("expected failure, got \(verdict)")
            return
        }
        #expect(reason.category == .malformedPayload)
        #expect(reason.detail.contains("larger than 64 bytes"))
    }

    @Test("a refused connection is a connection failure, reported quickly")
    func connectionRefused() async throws {
        // Start and stop a server to get a port that is (very likely) closed now.
        let upstream = try FlakyUpstream()
        let closed = upstream.url()
        upstream.stop()
        var source = Self.sources(base: closed)[6]
        source.timeout = .seconds(5)
        let (verdict, elapsed) = try await HTTPClient.withHTTPClient(configuration: UpstreamFetcher.clientConfiguration) { client in
            let started = ContinuousClock.now
            let verdict = await UpstreamFetcher(client: client).poll(source)
            return (verdict, ContinuousClock.now - started)
        }
        guard case .failure(let reason) = verdict else {
            Issue.record("expected failure, got \(verdict)")
            return
        }
        #expect(reason.category == .connection, "got \(reason)")
        #expect(elapsed < .seconds(2), "took \(elapsed)")
    }

    @Test("with HTTPClient.shared a refused connection is still a failure, never a throw")
    func connectionRefusedSharedClient() async throws {
        let upstream = try FlakyUpstream()
        let closed = upstream.url()
        upstream.stop()
        var source = Self.sources(base: closed)[6]
        source.timeout = .seconds(1)
        guard case .failure(let reason) = await fetcher.poll(source) else {
            Issue.record("expected failure")
            return
        }
        #expect([FailureReason.Category.connection, .timeout].contains(reason.category), "got \(reason)")
    }

    @Test("a source missing its parameters is not counted and sends nothing")
    func invalidDefinition() async throws {
        let upstream = try FlakyUpstream()
        defer { upstream.stop() }
        let source = SourceDefinition(kind: .moralis, baseURL: upstream.url(), apiKey: "k")
        guard case .notCounted(let reason) = await fetcher.poll(source) else {
            Issue.record("expected notCounted")
            return
        }
        #expect(reason.contains("params.address is required"))
        #expect(try upstream.requestCount() == 0)
    }

    @Test("the API key appears in neither the debug logs nor the verdict")
    func keyNeverLogged() async throws {
        let upstream = try FlakyUpstream()
        defer { upstream.stop() }
        let capture = LogCapture()
        let logged = UpstreamFetcher(client: HTTPClient.shared, logger: capture.logger())
        let secret = "SECRET-KEY-0123456789"
        let sources = Self.sources(base: upstream.url()).map { source -> SourceDefinition in
            var source = source
            source.apiKey = secret
            return source
        }
        for source in sources {
            let verdict = await logged.poll(source)
            #expect(!"\(verdict)".contains(secret))
        }
        let text = capture.text
        #expect(text.contains("upstream polled"))
        #expect(text.contains("api_key=<redacted>"), "the glassnode request is logged in redacted form")
        #expect(!text.contains(secret))
    }
}
