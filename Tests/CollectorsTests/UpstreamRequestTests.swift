import Collectors
import Foundation
import Testing

@Suite("Building upstream requests")
struct UpstreamRequestTests {
    @Test("moralis: GET erc20 price with chain and the X-API-Key header")
    func moralis() throws {
        let request = try UpstreamRequest(for: SourceDefinition(
            kind: .moralis, baseURL: URL(string: "https://deep-index.moralis.io/api/v2.2/")!, apiKey: "mk",
            params: ["address": "0x6b175474e89094c44da98b954eedeac495271d0f", "chain": "0x1"]
        ))
        #expect(request.method == "GET")
        #expect(request.url.absoluteString
            == "https://deep-index.moralis.io/api/v2.2/erc20/0x6b175474e89094c44da98b954eedeac495271d0f/price?chain=0x1")
        #expect(request.header("x-api-key") == "mk")
        #expect(request.header("Authorization") == nil)
        #expect(request.header("Accept") == "application/json")
    }

    @Test("moralis: chain defaults to eth")
    func moralisDefaultChain() throws {
        let request = try UpstreamRequest(for: Fixtures.source(.moralis, params: ["address": "0xabc"]))
        #expect(request.url.query == "chain=eth")
    }

    @Test("glassnode: metric path, asset, interval and api_key in the query")
    func glassnode() throws {
        let request = try UpstreamRequest(for: SourceDefinition(
            kind: .glassnode, baseURL: URL(string: "https://api.glassnode.com")!, apiKey: "g k/+",
            params: ["metric": "market/price_usd_close", "asset": "ETH"]
        ))
        #expect(request.url.absoluteString
            == "https://api.glassnode.com/v1/metrics/market/price_usd_close?a=ETH&i=24h&api_key=g%20k%2F%2B")
        #expect(request.header("Authorization") == nil)
    }

    @Test("glassnode: the redacted description hides the api_key value")
    func glassnodeRedacted() throws {
        let request = try UpstreamRequest(for: Fixtures.source(.glassnode, params: ["metric": "market/price_usd_close"], apiKey: "SECRET123"))
        #expect(request.url.absoluteString.contains("SECRET123"))
        #expect(!request.redactedDescription.contains("SECRET123"))
        #expect(request.redactedDescription.hasPrefix("GET https://api.example.com/v1/metrics/market/price_usd_close?a=BTC&i=24h&api_key=<redacted> ["))
        #expect(request.redactedDescription.contains("a=BTC"))
    }

    @Test("twitter: the search query is fully percent-encoded and a bearer token is sent")
    func twitter() throws {
        let request = try UpstreamRequest(for: SourceDefinition(
            kind: .twitter, baseURL: URL(string: "https://api.twitter.com")!, apiKey: "AAAA%2Btoken",
            params: ["query": "#bitcoin (ETF OR \"spot etf\") lang:en -is:retweet & 100%"]
        ))
        let expectedQuery = "query=%23bitcoin%20%28ETF%20OR%20%22spot%20etf%22%29%20lang%3Aen%20-is%3Aretweet%20%26%20100%25"
            + "&max_results=10&tweet.fields=created_at%2Cauthor_id%2Cpublic_metrics"
        #expect(request.url.absoluteString == "https://api.twitter.com/2/tweets/search/recent?" + expectedQuery)
        #expect(request.header("Authorization") == "Bearer AAAA%2Btoken")
        #expect(!request.redactedDescription.contains("AAAA"))
    }

    @Test("reddit: new.json with limit, the default user agent, and no bearer without a key")
    func redditAnonymous() throws {
        let request = try UpstreamRequest(for: Fixtures.source(.reddit, params: ["subreddit": "Bitcoin"], apiKey: nil,
                                                               baseURL: "https://www.reddit.com"))
        #expect(request.url.absoluteString == "https://www.reddit.com/r/Bitcoin/new.json?limit=25")
        #expect(request.header("User-Agent") == UpstreamRequest.redditUserAgent)
        #expect(request.header("Authorization") == nil)
    }

    @Test("reddit: a configured user agent and OAuth bearer are sent")
    func redditOAuth() throws {
        let request = try UpstreamRequest(for: Fixtures.source(
            .reddit, params: ["subreddit": "CryptoCurrency", "user_agent": "linux:me:2.0 (by /u/me)"], apiKey: "tok",
            baseURL: "https://oauth.reddit.com"
        ))
        #expect(request.url.absoluteString == "https://oauth.reddit.com/r/CryptoCurrency/new.json?limit=25")
        #expect(request.header("User-Agent") == "linux:me:2.0 (by /u/me)")
        #expect(request.header("Authorization") == "Bearer tok")
    }

    @Test("lunarcrush: coins list by default, topic with an encoded topic segment")
    func lunarcrush() throws {
        let coins = try UpstreamRequest(for: Fixtures.source(.lunarcrush, apiKey: "lk", baseURL: "https://lunarcrush.com/api4"))
        #expect(coins.url.absoluteString == "https://lunarcrush.com/api4/public/coins/list/v2")
        #expect(coins.header("Authorization") == "Bearer lk")
        let topic = try UpstreamRequest(for: Fixtures.source(
            .lunarcrush, params: ["endpoint": "topic", "topic": "spot etf/x"], apiKey: "lk", baseURL: "https://lunarcrush.com/api4"
        ))
        #expect(topic.url.absoluteString == "https://lunarcrush.com/api4/public/topic/spot%20etf%2Fx/v1")
    }

    @Test("http_json: the base URL is used exactly as given, query included")
    func httpJSON() throws {
        let request = try UpstreamRequest(for: Fixtures.source(.httpJSON, apiKey: nil, baseURL: "http://127.0.0.1:8080/status?verbose=1"))
        #expect(request.url.absoluteString == "http://127.0.0.1:8080/status?verbose=1")
        #expect(request.header("Authorization") == nil)
    }

    @Test("a missing required parameter or key is a SourceDefinitionError", arguments: [
        (SourceKind.moralis, [String: String](), "params.address is required"),
        (.glassnode, [:], "params.metric is required"),
        (.twitter, [:], "params.query is required"),
        (.reddit, [:], "params.subreddit is required"),
        (.lunarcrush, ["endpoint": "topic"], "params.topic is required"),
        (.lunarcrush, ["endpoint": "news"], "params.endpoint must be coins or topic"),
    ])
    func missingParameter(kind: SourceKind, params: [String: String], reason: String) throws {
        let error = try #require(throws: SourceDefinitionError.self) { try UpstreamRequest(for: Fixtures.source(kind, params: params)) }
        #expect(error.reason.contains(reason), "got \(error.reason)")
    }

    @Test("kinds that need a key refuse to build without one", arguments: [SourceKind.moralis, .glassnode, .twitter, .lunarcrush])
    func missingKey(kind: SourceKind) throws {
        let params = ["address": "0x1", "metric": "m/x", "query": "q"]
        let error = try #require(throws: SourceDefinitionError.self) {
            try UpstreamRequest(for: Fixtures.source(kind, params: params, apiKey: nil))
        }
        #expect(error.reason.contains("an API key is required"))
    }

    @Test("a source definition's description never shows the key")
    func definitionDescription() {
        let source = Fixtures.source(.moralis, params: ["address": "0x1"], apiKey: "topsecret")
        #expect(!source.description.contains("topsecret"))
        #expect(source.description.contains("<redacted>"))
    }
}
