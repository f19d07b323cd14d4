import SafeNumbers
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Foundation
import Logging

/// Performs one poll of an upstream over a shared `HTTPClient` and classifies the outcome.
///
/// `poll` never throws: every error (bad definition, connect failure, timeout, oversized or
/// malformed body, cancellation) becomes an ``UpstreamVerdict``. The timeout covers the
/// whole exchange, body included. The API key is never logged (requests are logged via
/// ``UpstreamRequest/redactedDescription``).
public struct UpstreamFetcher: Sendable {
    /// The shared client; its lifecycle belongs to the caller.
    public let client: HTTPClient
    /// Bodies larger than this many bytes are abandoned and count as malformed.
    public let maxBodyBytes: Int
    /// The classifier applied to each result.
    public let classifier: UpstreamClassifier
    private let logger: Logger

    /// The default body cap: 4 MiB.
    public static let defaultMaxBodyBytes = 4 * 1024 * 1024

    /// A client configuration suited to polling behind a breaker.
    ///
    /// Connection establishment is not retried (AsyncHTTPClient's default retries until the
    /// request deadline, so a refused connection would surface only as a timeout), and
    /// redirects are not followed: a poll carries its API key in headers, and a redirect to
    /// another origin would hand the key to it (a 3xx is reported, not counted). Create the client with
    /// `HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: UpstreamFetcher.clientConfiguration)`
    /// and shut it down when done; `HTTPClient.shared` also works, with slower connect failures.
    public static var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        return configuration
    }

    /// Creates a fetcher.
    ///
    /// - Parameters:
    ///   - client: A shared HTTP client (e.g. `HTTPClient.shared`), shut down by its owner.
    ///   - maxBodyBytes: Body size cap (default 4 MiB).
    ///   - classifier: The classifier.
    ///   - logger: Logger for request outcomes (debug level).
    public init(
        client: HTTPClient,
        maxBodyBytes: Int = UpstreamFetcher.defaultMaxBodyBytes,
        classifier: UpstreamClassifier = UpstreamClassifier(),
        logger: Logger = Logger(label: "breakwater.collectors")
    ) {
        self.client = client
        self.maxBodyBytes = maxBodyBytes
        self.classifier = classifier
        self.logger = logger
    }

    /// Polls a source once: build the request, send it with the source's timeout, classify.
    ///
    /// - Parameter source: The source to poll.
    /// - Returns: The verdict; never throws.
    public func poll(_ source: SourceDefinition) async -> UpstreamVerdict {
        let request: UpstreamRequest
        do {
            request = try UpstreamRequest(for: source)
        } catch {
            logger.warning("invalid source definition", metadata: ["source": "\(source.name)", "reason": "\(error.reason)"])
            return .notCounted("invalid source definition: \(error.reason)")
        }
        let started = ContinuousClock.now
        let result = await send(request, timeout: source.timeout)
        let verdict = classifier.classify(result, for: source, now: Date())
        logger.debug("upstream polled", metadata: [
            "source": "\(source.name)",
            "request": "\(request.redactedDescription)",
            "outcome": "\(Self.outcomeLabel(verdict))",
            "elapsed": "\(ContinuousClock.now - started)",
        ])
        return verdict
    }

    /// Sends a request and collects the body, bounded by `timeout` and ``maxBodyBytes``.
    ///
    /// - Parameters:
    ///   - request: The request.
    ///   - timeout: Time allowed for the whole exchange.
    /// - Returns: The transport result; never throws.
    public func send(_ request: UpstreamRequest, timeout: Duration) async -> TransportResult {
        let client = self.client
        let maxBodyBytes = self.maxBodyBytes
        let logger = self.logger
        return await withTaskGroup(of: TransportResult?.self) { group in
            group.addTask {
                await Self.exchange(request, client: client, timeout: timeout, maxBodyBytes: maxBodyBytes, logger: logger)
            }
            group.addTask {
                // The deadline for the whole exchange; nil means "cancelled before firing".
                do { try await Task.sleep(for: timeout) } catch { return nil }
                return .timeout
            }
            var outcome: TransportResult = .cancelled
            for await result in group {
                if let result {
                    outcome = result
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
    }

    /// One exchange without the overall deadline (the caller races it against one).
    private static func exchange(
        _ request: UpstreamRequest, client: HTTPClient, timeout: Duration, maxBodyBytes: Int, logger: Logger
    ) async -> TransportResult {
        var httpRequest = HTTPClientRequest(url: request.url.absoluteString)
        httpRequest.method = .init(rawValue: request.method)
        for (name, value) in request.headers {
            httpRequest.headers.add(name: name, value: value)
        }
        do {
            let nanos = timeout.nanosecondsClamped
            let response = try await client.execute(httpRequest, timeout: .nanoseconds(max(1, nanos)), logger: logger)
            var headers: [String: String] = [:]
            for header in response.headers {
                let name = header.name.lowercased()
                headers[name] = headers[name].map { "\($0), \(header.value)" } ?? header.value
            }
            if let declared = headers["content-length"].flatMap(Int.init), declared > maxBodyBytes {
                return .bodyTooLarge(limit: maxBodyBytes)
            }
            var body: [UInt8] = []
            for try await chunk in response.body {
                if body.count + chunk.readableBytes > maxBodyBytes { return .bodyTooLarge(limit: maxBodyBytes) }
                body.append(contentsOf: chunk.readableBytesView)
            }
            return .response(status: Int(response.status.code), headers: headers, body: body)
        } catch {
            if Task.isCancelled { return .cancelled }
            return classify(error: error)
        }
    }

    /// Maps a client error to a transport result.
    static func classify(error: any Error) -> TransportResult {
        if let clientError = error as? HTTPClientError {
            // Its description lists the offending header values, which may be an API key.
            let name = String(describing: clientError)
            if name.contains("invalidHeaderFieldValues") || name.contains("invalidHeaderFieldNames") {
                return .localError("a request header has a name or value HTTP does not allow (e.g. a line break in an API key)")
            }
            if [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout].contains(clientError) { return .timeout }
            if clientError == .cancelled { return .cancelled }
            return .connectionError(String(describing: clientError))
        }
        if error is CancellationError { return .cancelled }
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("timeout") || text.localizedCaseInsensitiveContains("timed out") {
            return .timeout
        }
        return .connectionError(text.count > 300 ? String(text.prefix(300)) : text)
    }

    /// A bounded label for a verdict (`success`, `failure.timeout`, `not_counted`, `rate_limited`).
    public static func outcomeLabel(_ verdict: UpstreamVerdict) -> String {
        switch verdict {
        case .success: "success"
        case .failure(let reason): "failure.\(reason.category.rawValue)"
        case .notCounted: "not_counted"
        case .rateLimited: "rate_limited"
        }
    }
}
