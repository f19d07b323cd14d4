import Collectors
import BreakerCore
import BreakwaterConfig
import Foundation
import Testing

@Suite("Parsing valid configuration")
struct ConfigParsingTests {
    static let fullYAML = """
        instance_id: onchain-1
        redis:
          url: redis://redis:6379/2
          password_env: REDIS_PASSWORD
        http:
          listen: 0.0.0.0:9464
        collectors:
          - name: moralis
            kind: moralis
            base_url: https://deep-index.moralis.io/api/v2.2
            api_key_env: MORALIS_API_KEY
            interval_seconds: 30
            timeout_seconds: 7.5
            stream_maxlen: 5000
            params: { address: "0x6b175474e89094c44da98b954eedeac495271d0f", chain: eth }
            breaker:
              failure_threshold: 4
              open_timeout_seconds: 120
              half_open_max_calls: 5
              half_open_success_threshold: 3
              backoff_multiplier: 2
              max_open_timeout_seconds: 1800
              trip_quorum: 2
              on_store_failure: fail_closed
              failure_window_seconds: 60
              failure_window_count: 10
              failure_rate_percent: 50
              rate_window_seconds: 120
              minimum_calls: 20
              slow_call_rate_percent: 80
              slow_call_seconds: 2.5
              minimum_open_seconds: 30
              half_open_max_wait_seconds: 45
              mode: shadow
          - name: glassnode.btc
            kind: glassnode
            base_url: https://api.glassnode.com
            api_key_file: /run/secrets/glassnode
            interval_seconds: 0.2
            params:
              metric: market/price_usd_close
              asset: BTC
          - name: twitter
            kind: twitter
            base_url: https://api.twitter.com
            api_key_env: TWITTER_BEARER
            interval_seconds: 60
            params: { query: "#bitcoin lang:en -is:retweet" }
          - name: reddit
            kind: reddit
            base_url: https://www.reddit.com
            interval_seconds: 60
            params: { subreddit: Bitcoin, user_agent: "linux:breakwater:1.0 (by /u/me)" }
          - name: lunar_topic
            kind: lunarcrush
            base_url: https://lunarcrush.com/api4
            api_key_env: LUNARCRUSH_KEY
            interval_seconds: 300
            params: { endpoint: topic, topic: bitcoin }
          - name: status-page
            kind: http_json
            base_url: http://127.0.0.1:8080/status?verbose=1
            interval_seconds: 5
        """

    @Test("a full configuration parses into exactly the values written")
    func fullRoundTrip() throws {
        let config = try BreakwaterConfiguration.parse(yaml: Self.fullYAML)
        let expected = BreakwaterConfiguration(
            instanceID: "onchain-1",
            redis: RedisSettings(url: "redis://redis:6379/2", password: .environment("REDIS_PASSWORD")),
            http: HTTPSettings(host: "0.0.0.0", port: 9464),
            collectors: [
                CollectorConfiguration(
                    name: "moralis", kind: .moralis,
                    baseURL: URL(string: "https://deep-index.moralis.io/api/v2.2")!,
                    apiKey: .environment("MORALIS_API_KEY"),
                    interval: .seconds(30), timeout: .milliseconds(7500),
                    params: ["address": "0x6b175474e89094c44da98b954eedeac495271d0f", "chain": "eth"],
                    streamMaxLength: 5000,
                    breaker: BreakerSettings(
                        failureThreshold: 4, openTimeout: .seconds(120), halfOpenMaxCalls: 5,
                        halfOpenSuccessThreshold: 3, backoffMultiplier: 2, maxOpenTimeout: .seconds(1800),
                        tripQuorum: 2, onStoreFailure: .failClosed,
                        failureWindow: .init(window: .seconds(60), count: 10),
                        failureRate: .init(percent: 50, window: .time(.seconds(120)), minimumCalls: 20),
                        slowCallRate: .init(
                            rate: .init(percent: 80, window: .time(.seconds(120)), minimumCalls: 20),
                            slowCall: .milliseconds(2500)
                        ),
                        minimumOpen: .seconds(30), halfOpenMaxWait: .seconds(45), mode: .shadow
                    )
                ),
                CollectorConfiguration(
                    name: "glassnode.btc", kind: .glassnode, baseURL: URL(string: "https://api.glassnode.com")!,
                    apiKey: .file("/run/secrets/glassnode"), interval: .milliseconds(200),
                    params: ["metric": "market/price_usd_close", "asset": "BTC"]
                ),
                CollectorConfiguration(
                    name: "twitter", kind: .twitter, baseURL: URL(string: "https://api.twitter.com")!,
                    apiKey: .environment("TWITTER_BEARER"), interval: .seconds(60),
                    params: ["query": "#bitcoin lang:en -is:retweet"]
                ),
                CollectorConfiguration(
                    name: "reddit", kind: .reddit, baseURL: URL(string: "https://www.reddit.com")!,
                    interval: .seconds(60),
                    params: ["subreddit": "Bitcoin", "user_agent": "linux:breakwater:1.0 (by /u/me)"]
                ),
                CollectorConfiguration(
                    name: "lunar_topic", kind: .lunarcrush, baseURL: URL(string: "https://lunarcrush.com/api4")!,
                    apiKey: .environment("LUNARCRUSH_KEY"), interval: .seconds(300),
                    params: ["endpoint": "topic", "topic": "bitcoin"]
                ),
                CollectorConfiguration(
                    name: "status-page", kind: .httpJSON,
                    baseURL: URL(string: "http://127.0.0.1:8080/status?verbose=1")!, interval: .seconds(5)
                ),
            ]
        )
        #expect(config.instanceID == expected.instanceID)
        #expect(config.redis == expected.redis)
        #expect(config.http == expected.http)
        #expect(config.collectors.count == expected.collectors.count)
        for (actual, wanted) in zip(config.collectors, expected.collectors) {
            #expect(actual == wanted, "collector \(wanted.name)")
        }
        #expect(config == expected)
    }

    @Test("omitted optional fields take the documented defaults")
    func defaults() throws {
        let config = try BreakwaterConfiguration.parse(yaml: """
            collectors:
              - name: moralis
                kind: moralis
                base_url: https://deep-index.moralis.io/api/v2.2
                api_key_env: MORALIS_API_KEY
                interval_seconds: 30
                params: { address: "0xabc" }
            """)
        #expect(config.instanceID == nil)
        #expect(config.redis == RedisSettings(url: nil, password: nil))
        #expect(config.http == HTTPSettings(host: "127.0.0.1", port: 9464))
        let collector = try #require(config.collectors.first)
        #expect(collector.timeout == .seconds(10))
        #expect(collector.streamMaxLength == 10_000)
        let breaker = collector.breaker
        #expect(breaker.failureThreshold == 5)
        #expect(breaker.openTimeout == .seconds(300))
        #expect(breaker.halfOpenMaxCalls == 3)
        #expect(breaker.halfOpenSuccessThreshold == 2)
        #expect(breaker.backoffMultiplier == 1.5)
        #expect(breaker.maxOpenTimeout == .seconds(3600))
        #expect(breaker.tripQuorum == 1)
        #expect(breaker.onStoreFailure == .local)
        #expect(breaker.failureWindow == nil)
        #expect(breaker.failureRate == nil)
        #expect(breaker.slowCallRate == nil)
        #expect(breaker.minimumOpen == nil)
        #expect(breaker.halfOpenMaxWait == nil)
        #expect(breaker.mode == .enforce)
    }

    @Test("a fractional interval of 0.2 seconds is exactly 200 milliseconds")
    func fractionalInterval() throws {
        let config = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(collector: ["interval_seconds": "0.2"]))
        #expect(config.collectors[0].interval == .milliseconds(200))
    }

    @Test("a failure-rate policy without a window defaults to the last 100 calls, minimum 10")
    func rateWindowDefaults() throws {
        let config = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(collector: [
            "breaker": "{ failure_rate_percent: 50 }",
        ]))
        #expect(config.collectors[0].breaker.failureRate == .init(percent: 50, window: .calls(100), minimumCalls: 10))
    }

    @Test("an IPv6 listen address in brackets is split into host and port")
    func ipv6Listen() throws {
        let config = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(top: ["http": "{ listen: \"[::1]:9000\" }"]))
        #expect(config.http == HTTPSettings(host: "::1", port: 9000))
        #expect(config.http.description == "[::1]:9000")
    }

    @Test("the default instance id is hostname-pid, sanitised to a valid name")
    func defaultInstanceID() {
        #expect(BreakwaterConfiguration.defaultInstanceID(hostname: "node-1.example", pid: 42) == "node-1.example-42")
        #expect(BreakwaterConfiguration.defaultInstanceID(hostname: "bad host/x", pid: 7) == "bad-host-x-7")
        let live = BreakwaterConfiguration.defaultInstanceID()
        #expect(live.hasSuffix("-\(ProcessInfo.processInfo.processIdentifier)"))
        #expect(!live.contains(" "))
    }

    @Test("load(path:) reads a file from disk")
    func loadFromFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bw-config-\(UUID().uuidString).yaml").path
        try ConfigFixture.document().write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try BreakwaterConfiguration.load(path: path)
        #expect(config.collectors.map(\.name) == ["moralis"])
    }

    @Test("the description hides a password in the Redis URL and names secrets only by where they live")
    func descriptionHasNoSecrets() throws {
        let config = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(top: [
            "redis": "{ url: \"redis://user:hunter2@redis:6379\" }",
        ]))
        let text = config.description
        #expect(!text.contains("hunter2"))
        #expect(text.contains("redis://user:***@redis:6379"))
        #expect(text.contains("api_key=env MORALIS_API_KEY"))
    }
}
