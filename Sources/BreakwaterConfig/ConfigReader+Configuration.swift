import SafeNumbers
import BreakerSchema
import Collectors
import BreakerCore
import Foundation
import Yams

/// The config file schema (docs/configuration.md): which keys exist at each level and what they must hold.
extension ConfigReader {
    static let topLevelKeys = ["instance_id", "redis", "http", "collectors"]
    static let redisKeys = ["url", "password_env", "password_file", "tls"]
    static let redisTLSKeys = ["ca_file", "cert_file", "key_file", "server_name", "verify"]
    static let httpKeys = ["listen"]
    static let collectorKeys = [
        "name", "kind", "base_url", "api_key_env", "api_key_file", "interval_seconds",
        "timeout_seconds", "params", "stream_maxlen", "breaker", "schedule", "rate_limit", "retries", "max_pause_seconds",
    ]
    static let rateLimitKeys = ["requests", "per_seconds", "group"]
    static let breakerKeys = [
        "failure_threshold", "open_timeout_seconds", "half_open_max_calls", "half_open_success_threshold",
        "backoff_multiplier", "max_open_timeout_seconds", "trip_quorum", "on_store_failure",
        "failure_window_seconds", "failure_window_count", "failure_rate_percent", "rate_window_calls",
        "rate_window_seconds", "minimum_calls", "slow_call_rate_percent", "slow_call_seconds",
        "minimum_open_seconds", "half_open_max_wait_seconds", "mode",
    ]

    /// Reads the whole file; returns `nil` when any problem was found.
    mutating func readConfiguration(_ root: Node) -> BreakwaterConfiguration? {
        guard let fields = mapping(root, at: "", allowed: Self.topLevelKeys) else { return nil }

        let instanceID = string(fields["instance_id"], at: "instance_id")
        if let instanceID, let problem = InstanceID.problem(with: instanceID) {
            report("instance_id", "\(problem) (got \(instanceID.prefix(64).debugDescription))")
        }
        let redis = readRedis(fields["redis"])
        let http = readHTTP(fields["http"])
        let collectors = readCollectors(fields["collectors"])

        guard problems.isEmpty, let redis, let http, let collectors else { return nil }
        return BreakwaterConfiguration(instanceID: instanceID, redis: redis, http: http, collectors: collectors)
    }

    mutating func readRedis(_ node: Node?) -> RedisSettings? {
        guard let node, !Self.isNull(node) else { return RedisSettings() }
        guard let fields = mapping(node, at: "redis", allowed: Self.redisKeys) else { return nil }
        let url = string(fields["url"], at: "redis.url")
        if let url {
            let schemes = ["redis://", "rediss://", "unix://", "redis-sentinel://", "rediss-sentinel://"]
            if !schemes.contains(where: { url.lowercased().hasPrefix($0) }) || url.count <= 8 {
                report("redis.url", "must be redis://[user[:password]@]host[:port][/db], redis-sentinel://[[user:]password@]host[:port][,host[:port]…][/db]#MASTER or unix:///path, or rediss:// / rediss-sentinel:// for TLS (got \"\(RedisSettings.redact(url))\")")
            }
        }
        let password = secretSource(fields, envKey: "password_env", fileKey: "password_file", at: "redis")
        let tls = readRedisTLS(fields["tls"])
        if let url, tls != nil, !url.lowercased().hasPrefix("rediss") {
            report("redis.tls", "is set but redis.url is not TLS: use rediss:// (or rediss-sentinel://)")
        }
        return RedisSettings(url: url, password: password ?? nil, tls: tls)
    }

    mutating func readRedisTLS(_ node: Node?) -> RedisTLSSettings? {
        guard let node, !Self.isNull(node) else { return nil }
        guard let fields = mapping(node, at: "redis.tls", allowed: Self.redisTLSKeys) else { return nil }
        var settings = RedisTLSSettings()
        settings.caFile = string(fields["ca_file"], at: "redis.tls.ca_file")
        settings.certFile = string(fields["cert_file"], at: "redis.tls.cert_file")
        settings.keyFile = string(fields["key_file"], at: "redis.tls.key_file")
        // Its form (and the files') is checked where it is used, by the Redis client, and
        // reported by check-config.
        settings.serverName = string(fields["server_name"], at: "redis.tls.server_name")
        settings.verify = string(fields["verify"], at: "redis.tls.verify")
        return settings
    }

    mutating func readHTTP(_ node: Node?) -> HTTPSettings? {
        guard let node, !Self.isNull(node) else { return HTTPSettings() }
        guard let fields = mapping(node, at: "http", allowed: Self.httpKeys) else { return nil }
        guard let listen = string(fields["listen"], at: "http.listen") else {
            return fields["listen"] == nil ? HTTPSettings() : nil
        }
        guard let settings = HTTPSettings.parse(listen: listen) else {
            report("http.listen", "expected host:port with a port in 0-65535 (got \"\(listen)\")")
            return nil
        }
        return settings
    }

    /// Reads `*_env` / `*_file`; the outer optional is `nil` on a problem, the inner when absent.
    mutating func secretSource(
        _ fields: [String: Node], envKey: String, fileKey: String, at path: String
    ) -> SecretSource?? {
        let env = string(fields[envKey], at: Self.join(path, envKey))
        let file = string(fields[fileKey], at: Self.join(path, fileKey))
        switch (env, file) {
        case (let env?, nil):
            if env.contains("=") || env.contains(where: \.isWhitespace) {
                report(Self.join(path, envKey), "must be an environment variable name (got \"\(env)\")")
                return .none
            }
            return .some(.environment(env))
        case (nil, let file?):
            return .some(.file(file))
        case (_?, _?):
            report(Self.join(path, fileKey), "\(envKey) and \(fileKey) are mutually exclusive; give one")
            return .none
        case (nil, nil):
            return .some(nil)
        }
    }

    mutating func readCollectors(_ node: Node?) -> [CollectorConfiguration]? {
        guard let node, !Self.isNull(node) else {
            report("collectors", "is required (a list of collectors)")
            return nil
        }
        guard case .sequence(let sequence) = node else {
            report("collectors", "must be a list (got \(Self.render(node)))")
            return nil
        }
        guard !sequence.isEmpty else {
            report("collectors", "must list at least one collector")
            return nil
        }
        var result: [CollectorConfiguration] = []
        var firstIndexByName: [String: Int] = [:]
        var ok = true
        for (index, item) in sequence.enumerated() {
            let path = "collectors[\(index)]"
            guard let collector = readCollector(item, at: path) else {
                ok = false
                continue
            }
            if let first = firstIndexByName[collector.name] {
                report("\(path).name", "duplicate name \"\(collector.name)\" (also collectors[\(first)])")
                ok = false
                continue
            }
            firstIndexByName[collector.name] = index
            result.append(collector)
        }
        // One API key -> one group -> one kind of collector.
        var firstByGroup: [String: (index: Int, kind: SourceKind)] = [:]
        for (index, collector) in result.enumerated() {
            guard let group = collector.rateLimit?.group else { continue }
            if let first = firstByGroup[group], first.kind != collector.kind {
                report("collectors[\(firstIndexByName[collector.name] ?? index)].rate_limit.group",
                       "group \"\(group)\" is shared by collectors of different kinds (\(first.kind.rawValue) in collectors[\(first.index)], \(collector.kind.rawValue) here); a group is one API key")
                ok = false
            } else if firstByGroup[group] == nil {
                firstByGroup[group] = (firstIndexByName[collector.name] ?? index, collector.kind)
            }
        }
        return ok ? result : nil
    }

    mutating func readCollector(_ node: Node, at path: String) -> CollectorConfiguration? {
        let before = problems.count
        guard let fields = mapping(node, at: path, allowed: Self.collectorKeys) else { return nil }

        let name = string(fields["name"], at: "\(path).name", required: true)
        if let name, !Self.isValidName(name) {
            report("\(path).name", "must match [A-Za-z0-9][A-Za-z0-9_.-]{0,127} (got \"\(name)\")")
        }
        let kind: SourceKind?
        if fields["kind"] == nil || Self.isNull(fields["kind"]!) {
            report("\(path).kind", "is required (one of: \(SourceKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            kind = nil
        } else {
            kind = choice(fields["kind"], at: "\(path).kind", as: SourceKind.self, what: "kind")
        }
        let baseURL = readBaseURL(fields["base_url"], at: "\(path).base_url")
        let apiKey = secretSource(fields, envKey: "api_key_env", fileKey: "api_key_file", at: path)
        if let kind, kind.requiresAPIKey, case .some(.none) = apiKey {
            report("\(path).api_key_env", "kind \(kind.rawValue) needs an API key: set api_key_env or api_key_file")
        }

        var interval: Duration?
        if fields["interval_seconds"] == nil || Self.isNull(fields["interval_seconds"]!) {
            report("\(path).interval_seconds", "is required (seconds between polls, > 0)")
        } else {
            interval = seconds(fields["interval_seconds"], at: "\(path).interval_seconds")
        }
        let timeout = seconds(fields["timeout_seconds"], at: "\(path).timeout_seconds") ?? .seconds(10)
        let streamMaxLength = integer(fields["stream_maxlen"], at: "\(path).stream_maxlen", min: 1, ceiling: 1_000_000_000) ?? 10_000
        let params = readParams(fields["params"], kind: kind, at: "\(path).params")
        let breaker = readBreaker(fields["breaker"], at: "\(path).breaker")
        let schedule = choice(fields["schedule"], at: "\(path).schedule", as: CollectionSchedule.self, what: "schedule") ?? .fleet
        let retries = integer(fields["retries"], at: "\(path).retries", min: 0, max: 10) ?? 2
        let rateLimit = readRateLimit(fields["rate_limit"], defaultGroup: name, at: "\(path).rate_limit")
        let maximumPause = seconds(fields["max_pause_seconds"], at: "\(path).max_pause_seconds") ?? .seconds(86_400)

        guard problems.count == before, let name, let kind, let baseURL, let interval, let apiKey,
              let params, let breaker, let rateLimit
        else { return nil }
        return CollectorConfiguration(
            name: name, kind: kind, baseURL: baseURL, apiKey: apiKey, interval: interval,
            timeout: timeout, params: params, streamMaxLength: streamMaxLength, breaker: breaker,
            schedule: schedule, rateLimit: rateLimit, retries: retries, maximumPause: maximumPause
        )
    }

    /// Reads `rate_limit:`; the outer optional is `nil` on a problem, the inner when absent.
    mutating func readRateLimit(_ node: Node?, defaultGroup: String?, at path: String) -> RateLimitSettings?? {
        guard let node, !Self.isNull(node) else { return .some(nil) }
        guard let fields = mapping(node, at: path, allowed: Self.rateLimitKeys) else { return .none }
        let before = problems.count
        if fields["requests"] == nil { report(Self.join(path, "requests"), "is required (requests allowed per per_seconds, >= 1)") }
        if fields["per_seconds"] == nil { report(Self.join(path, "per_seconds"), "is required (the period in seconds, > 0)") }
        let requests = fields["requests"].flatMap { integer($0, at: Self.join(path, "requests"), min: 1, max: 10_000) }
        let period = fields["per_seconds"].flatMap { seconds($0, at: Self.join(path, "per_seconds")) }
        if let period, period > .seconds(86_400) {
            report(Self.join(path, "per_seconds"), "must be at most 86400 (a day) (got \(Self.secondsText(period)))")
        }
        let group = string(fields["group"], at: Self.join(path, "group")) ?? defaultGroup
        if let group, !Self.isValidName(group) {
            report(Self.join(path, "group"), "must match [A-Za-z0-9][A-Za-z0-9_.-]{0,127} (got \"\(group)\")")
        }
        guard problems.count == before, let requests, let period, let group else { return .none }
        return .some(RateLimitSettings(requests: requests, period: period, group: group))
    }

    mutating func readBaseURL(_ node: Node?, at path: String) -> URL? {
        guard let text = string(node, at: path, required: true) else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else {
            report(path, "must be an absolute http:// or https:// URL (got \"\(text)\")")
            return nil
        }
        return url
    }

    mutating func readParams(_ node: Node?, kind: SourceKind?, at path: String) -> [String: String]? {
        var params: [String: String] = [:]
        if let node, !Self.isNull(node) {
            // Unknown keys can only be judged once the kind is known.
            let hint = kind.map { kind in
                kind.allowedParams.isEmpty
                    ? " (kind \(kind.rawValue) takes no params)"
                    : " for kind \(kind.rawValue) (expected: \(kind.allowedParams.joined(separator: ", ")))"
            } ?? ""
            guard let fields = mapping(node, at: path, allowed: kind?.allowedParams, hint: hint) else { return nil }
            for key in fields.keys.sorted() {
                guard let value = string(fields[key], at: Self.join(path, key)) else { continue }
                params[key] = value
            }
        }
        guard let kind else { return params }
        for key in kind.requiredParams where params[key] == nil {
            report(Self.join(path, key), "is required for kind \(kind.rawValue)")
        }
        switch kind {
        case .lunarcrush:
            let endpoint = params["endpoint"] ?? "coins"
            if !["coins", "topic"].contains(endpoint) {
                report(Self.join(path, "endpoint"), "unknown endpoint \"\(endpoint)\" (expected one of: coins, topic)")
            } else if endpoint == "topic", params["topic"] == nil {
                report(Self.join(path, "topic"), "is required when endpoint is topic")
            } else if endpoint == "coins", params["topic"] != nil {
                report(Self.join(path, "topic"), "only applies when endpoint is topic")
            }
        case .reddit:
            if let subreddit = params["subreddit"],
               !subreddit.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
                report(Self.join(path, "subreddit"), "must be a subreddit name such as Bitcoin, without r/ (got \"\(subreddit)\")")
            }
        case .glassnode:
            if let metric = params["metric"], metric.hasPrefix("/") || metric.contains("?") || metric.contains(" ") {
                report(Self.join(path, "metric"), "must be a metric path such as market/price_usd_close (got \"\(metric)\")")
            }
        case .moralis, .twitter, .httpJSON:
            break
        }
        return params
    }

    mutating func readBreaker(_ node: Node?, at path: String) -> BreakerSettings? {
        guard let node, !Self.isNull(node) else { return BreakerSettings() }
        let before = problems.count
        guard let f = mapping(node, at: path, allowed: Self.breakerKeys) else { return nil }
        func p(_ key: String) -> String { Self.join(path, key) }

        var settings = BreakerSettings()
        /// Whether a key is absent or held a valid value (so cross-field checks are meaningful).
        var valid: [String: Bool] = [:]
        func track<T>(_ key: String, _ value: T?) -> T? {
            valid[key] = f[key] == nil || Self.isNull(f[key]!) || value != nil
            return value
        }
        if let v = track("failure_threshold", integer(f["failure_threshold"], at: p("failure_threshold"), min: 1, ceiling: BreakerConfig.maximumCount)) {
            settings.failureThreshold = v
        }
        if let v = track("open_timeout_seconds", breakerSeconds(f["open_timeout_seconds"], at: p("open_timeout_seconds"))) {
            settings.openTimeout = v
        }
        if let v = track("half_open_max_calls", integer(f["half_open_max_calls"], at: p("half_open_max_calls"), min: 1, ceiling: BreakerConfig.maximumProbes)) {
            settings.halfOpenMaxCalls = v
        }
        if let v = track("half_open_success_threshold",
                         integer(f["half_open_success_threshold"], at: p("half_open_success_threshold"), min: 1, ceiling: BreakerConfig.maximumProbes)) {
            settings.halfOpenSuccessThreshold = v
        }
        if let v = number(f["backoff_multiplier"], at: p("backoff_multiplier"), min: 1, minExclusive: false, max: BreakerConfig.maximumBackoffMultiplier) {
            settings.backoffMultiplier = v
        }
        if let v = track("max_open_timeout_seconds", breakerSeconds(f["max_open_timeout_seconds"], at: p("max_open_timeout_seconds"))) {
            settings.maxOpenTimeout = v
        }
        if let v = integer(f["trip_quorum"], at: p("trip_quorum"), min: 1, ceiling: SharedBreakerLimits.maximumTripQuorum) { settings.tripQuorum = v }
        if let v = choice(f["on_store_failure"], at: p("on_store_failure"), as: StoreFailurePolicy.self, what: "policy") {
            settings.onStoreFailure = v
        }
        if let v = choice(f["mode"], at: p("mode"), as: BreakerMode.self, what: "mode") { settings.mode = v }
        settings.minimumOpen = seconds(f["minimum_open_seconds"], at: p("minimum_open_seconds"))
        settings.halfOpenMaxWait = breakerSeconds(f["half_open_max_wait_seconds"], at: p("half_open_max_wait_seconds"))

        // Cross-field rules, checked only when both sides were valid (or defaulted).
        if valid["half_open_success_threshold"] == true, valid["half_open_max_calls"] == true,
           settings.halfOpenSuccessThreshold > settings.halfOpenMaxCalls {
            report(p("half_open_success_threshold"),
                   "must be <= half_open_max_calls (\(settings.halfOpenMaxCalls)) (got \(settings.halfOpenSuccessThreshold))")
        }
        if valid["max_open_timeout_seconds"] == true, valid["open_timeout_seconds"] == true,
           settings.maxOpenTimeout < settings.openTimeout {
            report(p("max_open_timeout_seconds"),
                   "must be >= open_timeout_seconds (\(Self.secondsText(settings.openTimeout))) (got \(Self.secondsText(settings.maxOpenTimeout)))")
        }

        // Sliding time window: both keys or neither.
        let windowSeconds = seconds(f["failure_window_seconds"], at: p("failure_window_seconds"))
        let windowCount = integer(f["failure_window_count"], at: p("failure_window_count"), min: 1, ceiling: BreakerConfig.maximumCount)
        switch (f["failure_window_seconds"] != nil, f["failure_window_count"] != nil) {
        case (true, false): report(p("failure_window_count"), "is required with failure_window_seconds")
        case (false, true): report(p("failure_window_seconds"), "is required with failure_window_count")
        default:
            if let windowSeconds, let windowCount {
                settings.failureWindow = .init(window: windowSeconds, count: windowCount)
            }
        }

        // Rate windows shared by the failure-rate and slow-call-rate policies.
        let failurePercent = number(f["failure_rate_percent"], at: p("failure_rate_percent"), min: 0, minExclusive: true, max: 100)
        let slowPercent = number(f["slow_call_rate_percent"], at: p("slow_call_rate_percent"), min: 0, minExclusive: true, max: 100)
        let slowCall = seconds(f["slow_call_seconds"], at: p("slow_call_seconds"))
        let windowCalls = integer(f["rate_window_calls"], at: p("rate_window_calls"), min: 1, ceiling: SharedBreakerLimits.maximumCountWindow)
        let windowTime = seconds(f["rate_window_seconds"], at: p("rate_window_seconds"))
        let minimumCalls = integer(f["minimum_calls"], at: p("minimum_calls"), min: 1, ceiling: BreakerConfig.maximumCount)
        let usesRate = f["failure_rate_percent"] != nil || f["slow_call_rate_percent"] != nil
        if !usesRate {
            for key in ["rate_window_calls", "rate_window_seconds", "minimum_calls"] where f[key] != nil {
                report(p(key), "only applies with failure_rate_percent or slow_call_rate_percent")
            }
        }
        if f["rate_window_calls"] != nil, f["rate_window_seconds"] != nil {
            report(p("rate_window_seconds"), "rate_window_calls and rate_window_seconds are mutually exclusive; give one")
        }
        if let windowCalls, let minimumCalls, minimumCalls > windowCalls {
            report(p("minimum_calls"), "must be <= rate_window_calls (\(windowCalls)) (got \(minimumCalls))")
        }
        switch (f["slow_call_rate_percent"] != nil, f["slow_call_seconds"] != nil) {
        case (true, false): report(p("slow_call_seconds"), "is required with slow_call_rate_percent")
        case (false, true): report(p("slow_call_rate_percent"), "is required with slow_call_seconds")
        default: break
        }
        let window: BreakerSettings.RateWindow = windowTime.map { .time($0) } ?? .calls(windowCalls ?? 100)
        let minimum: Int
        if let minimumCalls {
            minimum = minimumCalls
        } else if case .calls(let n) = window {
            minimum = Swift.min(10, n)
        } else {
            minimum = 10
        }
        if let failurePercent {
            settings.failureRate = .init(percent: failurePercent, window: window, minimumCalls: minimum)
        }
        if let slowPercent, let slowCall {
            settings.slowCallRate = .init(rate: .init(percent: slowPercent, window: window, minimumCalls: minimum), slowCall: slowCall)
        }

        return problems.count == before ? settings : nil
    }

    /// `300` or `0.5`: a duration as seconds, for messages.
    static func secondsText(_ duration: Duration) -> String {
        format(duration.secondsValue)
    }
}
