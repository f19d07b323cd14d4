import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

/// Fleet-coordinated collection with real processes: `breakwater run` daemons on one Redis, and loopback fake
/// upstreams that log every request they receive (arrival time, query, Authorization).
///
/// Each test owns its redis-server: these tests count requests per interval, and the shared
/// test Redis is stalled now and then by other suites' heavy scripts.
@Suite("Fleet-coordinated collection: real daemons, counting upstreams", .serialized, .tags(.integration))
struct FleetEndToEndTests {
    let redis: RedisServerProcess
    let pool: RedisConnectionPool

    init() throws {
        redis = try RedisServerProcess()
        pool = RedisConnectionPool(configuration: try RedisConfiguration(url: redis.url), size: 1)
    }

    func daemon(_ instance: String, _ yaml: String) throws -> DaemonProcess {
        try DaemonProcess(instance: instance, yaml: yaml, redisURL: redis.url)
    }

    static func uniqueName(_ label: String) -> String { "\(label)-\(UUID().uuidString.prefix(8).lowercased())" }

    func cleanUp(_ names: [String], groups: [String] = []) async {
        for name in names { _ = try? await pool.execute("DEL", "cb_state:" + name, "cb_log:" + name, "cb_sched:" + name, "collector:" + name) }
        for group in groups { _ = try? await pool.execute("DEL", "cb_quota:" + group) }
    }

    /// Runs `body`, then deletes the collectors' and groups' keys (``cleanUp(_:groups:)``) on every path.
    func withKeysCleanedUp<Result>(_ names: [String], groups: [String] = [], _ body: () async throws -> Result) async throws -> Result {
        try await withCleanup((), cleanUp: { _ in await cleanUp(names, groups: groups) }) { _ in try await body() }
    }

    /// One `collectors:` entry of kind http_json.
    static func httpCollector(_ name: String, url: String, interval: Double, schedule: String = "fleet", extra: String = "") -> String {
        """
          - name: \(name)
            kind: http_json
            base_url: \(url)
            interval_seconds: \(interval)
            timeout_seconds: 2
            schedule: \(schedule)
            breaker: { failure_threshold: 50 }
        \(extra)
        """
    }

    /// Waits until the upstream's own clock reaches `time` (a measurement window, not a sync).
    func waitForUpstreamClock(_ upstream: FlakyUpstream, until time: Double, timeout: Duration = .seconds(120)) async throws {
        let reached = await eventually(timeout: timeout, interval: .milliseconds(100)) { ((try? upstream.requestLog().now) ?? 0) >= time }
        #expect(reached, "the upstream clock never reached \(time)")
    }

    /// Arrival times of requests to `path` in [from, to).
    static func arrivals(_ log: [FlakyUpstream.LoggedRequest], path: String? = nil, from: Double, to: Double) -> [Double] {
        log.filter { (path == nil || $0.path == path) && $0.time >= from && $0.time < to }.map(\.time)
    }

    @Test("4 daemons, interval 0.5 s, 20 s: the upstream sees 40 ± 2 requests; kill -9 of the last poller leaves no gap over 2 intervals")
    func onePollPerInterval() async throws {
        let name = Self.uniqueName("fleet")
        let upstream = try FlakyUpstream()
        let yaml = "collectors:\n" + Self.httpCollector(name, url: upstream.baseURL + "/data", interval: 0.5)
        let daemons = try (1...4).map { try daemon("fleet-\($0)-\(name.suffix(4))", yaml) }
        try await withKeysCleanedUp([name]) {
            #expect(await eventually(timeout: .seconds(30)) { ((try? upstream.requestCount()) ?? 0) >= 2 })
            // Every daemon is up (its HTTP endpoint answers) before the window starts.
            for daemon in daemons {
                #expect(await eventually(timeout: .seconds(30)) { (try? Loopback.http(port: daemon.httpPort, path: "/healthz").status) == 200 })
            }
            let start = try upstream.requestLog().now
            try await waitForUpstreamClock(upstream, until: start + 20)
            let inWindow = Self.arrivals(try upstream.requestLog().requests, from: start, to: start + 20).count
            #expect((38...42).contains(inWindow), "\(inWindow) upstream requests in 20 s at interval 0.5 s with 4 replicas")
            print("FLEET-COUNT 4 replicas, interval 0.5 s, 20 s: \(inWindow) upstream requests")

            // kill -9 the replica that polled last, right after its poll.
            let lastBy = try await pool.execute("HGET", "cb_sched:" + name, "last_poll_by").string
            let victim = try #require(daemons.first { $0.instance == lastBy }, "last_poll_by = \(lastBy ?? "nil")")
            kill(victim.process.pid, SIGKILL)
            let killedAt = try upstream.requestLog().now
            try await waitForUpstreamClock(upstream, until: killedAt + 6)
            let times = Self.arrivals(try upstream.requestLog().requests, from: killedAt - 1, to: killedAt + 6)
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            // A replica killed mid-poll costs its one slot: 2 intervals between polls, plus the
            // next replica's wake jitter (at most a tenth of the interval) and 50 ms of slack.
            #expect((gaps.max() ?? 99) <= 1.0 + 0.05 + 0.05, "largest gap after kill -9: \(gaps.max() ?? 99) s (2 intervals = 1 s); arrivals \(times)")
            #expect(times.count >= 11, "\(times.count) requests in the 7 s around the kill")
            print("FLEET-KILL largest gap around kill -9 of the last poller: \(String(format: "%.3f", gaps.max() ?? 99)) s")
        }
    }

    @Test("rate limit 10 per 5 s shared by 2 collectors on 3 daemons: never more than 10 requests in any 5 s window")
    func sharedRateLimit() async throws {
        let a = Self.uniqueName("rla"), b = Self.uniqueName("rlb"), group = Self.uniqueName("key")
        let upstream = try FlakyUpstream()
        let limit = "    rate_limit: { requests: 10, per_seconds: 5, group: \(group) }"
        let yaml = "collectors:\n" + Self.httpCollector(a, url: upstream.baseURL + "/a", interval: 0.2, extra: limit)
            + "\n" + Self.httpCollector(b, url: upstream.baseURL + "/b", interval: 0.2, extra: limit)
        let daemons = try (1...3).map { try daemon("rl-\($0)-\(group.suffix(4))", yaml) }
        try await withKeysCleanedUp([a, b], groups: [group]) {
            #expect(await eventually(timeout: .seconds(30)) { ((try? upstream.requestCount()) ?? 0) >= 1 })
            let start = try upstream.requestLog().requests.first?.time ?? 0
            try await waitForUpstreamClock(upstream, until: start + 13)
            let log = try upstream.requestLog().requests
            let times = log.map(\.time).sorted()
            var worst = 0
            for (index, begin) in times.enumerated() {
                worst = max(worst, times[index...].prefix { $0 < begin + 5 }.count)
            }
            #expect(worst <= 10, "\(worst) requests within one 5 s window")
            #expect(times.filter { $0 < start + 13 }.count >= 20, "the limit was not used: \(times.count) requests in 13 s")
            #expect(Set(log.map(\.path)) == ["/a", "/b"], "both collectors share the limit")
            for daemon in daemons { #expect(daemon.process.isRunning) }

            // The operator's view: last poll, by whom, next due, tokens left; and the metrics.
            let status = try await breakwater(["status", a], environment: ["REDIS_URL": redis.url])
            #expect(status.exitCode == 0, "\(status.output)")
            let row = status.output.split(separator: "\n").first { $0.hasPrefix(a + " ") && $0.contains("fleet") }
            #expect(row != nil, "no collection row for \(a):\n\(status.output)")
            #expect(status.output.contains("COLLECTOR") && status.output.contains("TOKENS") && status.output.contains("/10 (\(group))"), "\(status.output)")
            #expect(daemons.contains { row?.contains($0.instance) == true }, "no instance named as the last poller: \(row ?? "")")
            let metrics = String(decoding: try Loopback.http(port: daemons[0].httpPort, path: "/metrics").body, as: UTF8.self)
            #expect(metrics.contains("breakwater_schedule_lag_seconds{"), "no schedule lag metric")
            #expect(metrics.contains("result=\"polled\"") || metrics.contains("result=\"ok\""), "no polls by result")
        }
    }

    @Test("a 429 with Retry-After 3 seen by one replica: no replica calls for 3 s")
    func fleetPause() async throws {
        let name = Self.uniqueName("pause")
        // 10 good answers, one 429 with Retry-After: 3, then good answers again.
        let upstream = try FlakyUpstream(arguments: ["--schedule", "healthy:10,ratelimit:1,healthy:1000000", "--retry-after", "3"])
        let yaml = "collectors:\n" + Self.httpCollector(name, url: upstream.baseURL + "/data", interval: 0.2, schedule: "per_instance")
        let daemons = try (1...3).map { try daemon("pause-\($0)-\(name.suffix(4))", yaml) }
        try await withKeysCleanedUp([name]) {
            #expect(await eventually(timeout: .seconds(30)) { ((try? upstream.requestLog().requests) ?? []).contains { $0.status == 429 } })
            let throttled = try #require(try upstream.requestLog().requests.first { $0.status == 429 }).time
            try await waitForUpstreamClock(upstream, until: throttled + 5)
            let log = try upstream.requestLog().requests
            // Requests already on the wire when the 429 was answered may still land (< 250 ms).
            let during = Self.arrivals(log, from: throttled + 0.25, to: throttled + 2.95)
            #expect(during.isEmpty, "requests during the pause at +\(during.map { $0 - throttled })")
            #expect(!Self.arrivals(log, from: throttled + 2.95, to: throttled + 5).isEmpty, "polling did not resume after the pause")
            for daemon in daemons { #expect(daemon.process.isRunning) }
        }
    }

    @Test("a 429 with a Retry-After of any size: no crash, no hot loop, paused for max_pause and logged",
          arguments: ["99999999999999999", "4611686018427387", "99999999999999999999999999"])
    func hugeRetryAfter(retryAfter: String) async throws {
        let name = Self.uniqueName("huge-ra")
        let upstream = try FlakyUpstream(arguments: ["--schedule", "healthy:2,ratelimit:1,healthy:1000000", "--retry-after", retryAfter])
        let yaml = "collectors:\n" + Self.httpCollector(name, url: upstream.baseURL + "/data", interval: 0.1, extra: "    max_pause_seconds: 3600")
        let daemons = try (1...2).map { try daemon("ra-\($0)-\(name.suffix(4))", yaml) }
        try await withKeysCleanedUp([name]) {
            #expect(await eventually(timeout: .seconds(30)) { ((try? upstream.requestLog().requests) ?? []).contains { $0.status == 429 } })
            let throttled = try #require(try upstream.requestLog().requests.first { $0.status == 429 }).time
            try await waitForUpstreamClock(upstream, until: throttled + 3)
            let after = Self.arrivals(try upstream.requestLog().requests, from: throttled + 0.25, to: throttled + 3)
            #expect(after.isEmpty, "\(after.count) requests during a pause the upstream asked for")
            for daemon in daemons { #expect(daemon.process.isRunning, "a daemon died: \(daemon.process.output.suffix(1500))") }
            let paused = Int64(try await pool.execute("HGET", "cb_sched:" + name, "paused_until_ms").string ?? "")
            let now = try await pool.execute("TIME").array.flatMap { $0.first?.int }.map { $0 * 1000 } ?? 0
            let ahead = try #require(paused, "paused_until_ms is not an integer") - now
            #expect(ahead > 3_500_000 && ahead <= 3_601_000, "paused for \(ahead) ms, not max_pause (3600 s)")
            #expect(daemons.contains { $0.process.output.contains("longer than max_pause") }, "the clamp was not logged")
        }
    }

    @Test("a 429 seen by one collector pauses every collector of its rate-limit group")
    func groupPause() async throws {
        let name = Self.uniqueName("grp")
        let group = "g-" + name
        let limited = try FlakyUpstream(arguments: ["--schedule", "healthy:3,ratelimit:1,healthy:1000000", "--retry-after", "4"])
        let sibling = try FlakyUpstream()
        let limit = "    rate_limit: { requests: 100, per_seconds: 1, group: \(group) }"
        let yaml = "collectors:\n" + Self.httpCollector(name + "-a", url: limited.baseURL + "/data", interval: 0.2, extra: limit) + "\n"
            + Self.httpCollector(name + "-b", url: sibling.baseURL + "/data", interval: 0.2, extra: limit)
        let daemon = try daemon("grp-\(name.suffix(4))", yaml)
        try await withKeysCleanedUp([name + "-a", name + "-b"], groups: [group]) {
            #expect(await eventually(timeout: .seconds(30)) { ((try? limited.requestLog().requests) ?? []).contains { $0.status == 429 } })
            // The sibling's own clock: wait until it has seen 3 s more of requests (or none).
            let start = try sibling.requestLog().now
            try await waitForUpstreamClock(sibling, until: start + 3)
            let siblingDuring = Self.arrivals(try sibling.requestLog().requests, from: start + 0.5, to: start + 3)
            #expect(siblingDuring.isEmpty, "the other collector of the group polled \(siblingDuring.count) times during the group's pause")
            #expect(daemon.process.isRunning)
        }
    }

    @Test("cursor: 3 replicas polling overlapping Twitter pages, restarts and a kill -9 in between: each tweet id once in the stream")
    func cursorExactlyOnce() async throws {
        let name = Self.uniqueName("tw")
        let upstream = try FlakyUpstream(arguments: ["--tweets-per-page", "5"])
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("bw-key-\(name)").path
        try "token-1\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        // per_instance: all three poll every 0.1 s, so their pages overlap all the time.
        let yaml = """
        collectors:
          - name: \(name)
            kind: twitter
            base_url: \(upstream.baseURL)
            api_key_file: \(keyFile)
            interval_seconds: 0.1
            schedule: per_instance
            params: { query: bitcoin }
        """
        let daemons = try (1...3).map { try daemon("tw-\($0)-\(name.suffix(4))", yaml) }
        try await withKeysCleanedUp([name]) {
            func streamLength() async -> Int { ((try? await pool.execute("XLEN", "collector:" + name).int).map(Int.init)) ?? 0 }
            #expect(await eventually(timeout: .seconds(30)) { await streamLength() >= 20 })
            #expect(await daemons[0].terminate() == 0)
            try daemons[0].restart()
            kill(daemons[1].process.pid, SIGKILL)
            _ = await daemons[1].process.exited(within: .seconds(10))
            try daemons[1].restart()
            let before = await streamLength()
            #expect(await eventually(timeout: .seconds(30)) { await streamLength() >= before + 30 })
            for daemon in daemons { _ = await daemon.terminate() }

            let entries = try await pool.execute("XRANGE", "collector:" + name, "-", "+").array ?? []
            let ids = entries.compactMap { $0.array?.last?.fieldDictionary?["id"] }
            #expect(ids.count == entries.count)
            #expect(Set(ids).count == ids.count, "duplicates: \(Dictionary(grouping: ids, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted().prefix(5))")
            #expect(ids == ids.sorted { ($0.count, $0) < ($1.count, $1) }, "stream not in tweet order")
            let log = try upstream.requestLog().requests
            #expect(log.contains { $0.query.contains("since_id=") }, "no request carried the cursor as since_id")
            let stored = try await pool.execute("HGET", "cb_sched:" + name, "cursor").string
            #expect(stored == ids.last)
        }
    }

    @Test("transient failures are retried within the slot, each try counted by the breaker; a 429 is not retried")
    func retriesWithinSlot() async throws {
        let name = Self.uniqueName("retry")
        // Two 500s then good answers; the interval (30 s) is far longer than the test, so every
        // request the upstream sees belongs to the first slot.
        let upstream = try FlakyUpstream(arguments: ["--schedule", "error500:2,healthy:1000000"])
        let yaml = "collectors:\n" + Self.httpCollector(name, url: upstream.baseURL + "/data", interval: 30)
        let daemon = try self.daemon("retry-\(name.suffix(4))", yaml)
        try await withKeysCleanedUp([name]) {
            #expect(await eventually(timeout: .seconds(30)) { ((try? upstream.requestLog().requests) ?? []).count >= 3 })
            let statuses = try upstream.requestLog().requests.map(\.status)
            #expect(statuses == [500, 500, 200], "\(statuses)")
            #expect(await eventually(timeout: .seconds(10)) {
                let fields = (try? await pool.execute("HGETALL", "cb_state:" + name).fieldDictionary) ?? [:]
                return fields["total_failures"] == "2" && fields["total_successes"] == "1"
            }, "the breaker did not count every try")
            // The slot's result is stored after the breaker's outcomes, by another round trip.
            #expect(await eventually(timeout: .seconds(10)) { (try? await pool.execute("HGET", "cb_sched:" + name, "last_result").string) == "ok" })
            _ = await daemon.terminate()

            // A 429 ends the slot at once (and pauses the fleet): no retry before Retry-After.
            let limited = Self.uniqueName("retry429")
            let throttling = try FlakyUpstream(arguments: ["--mode", "ratelimit", "--retry-after", "20"])
            let yaml429 = "collectors:\n" + Self.httpCollector(limited, url: throttling.baseURL + "/data", interval: 0.2)
            let second = try self.daemon("retry429-\(limited.suffix(4))", yaml429)
            try await withKeysCleanedUp([limited]) {
                #expect(await eventually(timeout: .seconds(30)) { ((try? throttling.requestCount()) ?? 0) >= 1 })
                #expect(await eventually(timeout: .seconds(10)) { (try? await pool.execute("HGET", "cb_sched:" + limited, "last_result").string) == "rate_limited" })
                let paused = try await pool.execute("HGET", "cb_sched:" + limited, "paused_until_ms").string
                #expect(paused != nil)
                // Wait for the metrics to show the slot ended, then check no second request went out.
                #expect(await eventually(timeout: .seconds(10)) {
                    String(decoding: (try? Loopback.http(port: second.httpPort, path: "/metrics").body) ?? Data(), as: UTF8.self).contains("result=\"rate_limited\"")
                })
                #expect(try throttling.requestCount() == 1)
                _ = await second.terminate()
            }
        }
    }

    @Test("SIGHUP re-reads the API key file without a restart")
    func sighupReloadsKeys() async throws {
        let name = Self.uniqueName("hup")
        let upstream = try FlakyUpstream()
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("bw-key-\(name)").path
        try "old-token\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        let yaml = """
        collectors:
          - name: \(name)
            kind: twitter
            base_url: \(upstream.baseURL)
            api_key_file: \(keyFile)
            interval_seconds: 0.1
            params: { query: bitcoin }
        """
        let daemon = try self.daemon("hup-\(name.suffix(4))", yaml)
        try await withKeysCleanedUp([name]) {
            func auths() -> [String] { ((try? upstream.requestLog().requests) ?? []).map(\.authorization) }
            #expect(await eventually(timeout: .seconds(30)) { auths().contains("Bearer old-token") })
            try "new-token\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
            let pid = daemon.process.pid
            kill(pid, SIGHUP)
            #expect(await eventually(timeout: .seconds(15)) { auths().contains("Bearer new-token") })
            #expect(daemon.process.isRunning && daemon.process.pid == pid)
            // A broken key file keeps the previous key, and the daemon keeps running.
            try FileManager.default.removeItem(atPath: keyFile)
            kill(pid, SIGHUP)
            let count = auths().count
            #expect(await eventually(timeout: .seconds(15)) { auths().count >= count + 5 })
            #expect(auths().suffix(3).allSatisfy { $0 == "Bearer new-token" })
            #expect(daemon.process.isRunning)
            #expect(await daemon.terminate() == 0)
            #expect(daemon.process.output.contains("could not reload an API key"))
            #expect(!daemon.process.output.contains("new-token") && !daemon.process.output.contains("old-token"), "a key was logged")
        }
    }

    @Test("figures: upstream requests per interval with 1, 2 and 4 replicas, fleet and per_instance")
    func requestsPerInterval() async throws {
        var rows: [String] = []
        for schedule in ["fleet", "per_instance"] {
            for replicas in [1, 2, 4] {
                let name = Self.uniqueName("fig")
                let upstream = try FlakyUpstream()
                let yaml = "collectors:\n" + Self.httpCollector(name, url: upstream.baseURL + "/data", interval: 0.25, schedule: schedule)
                let daemons = try (1...replicas).map { try daemon("fig-\($0)-\(name.suffix(4))", yaml) }
                for daemon in daemons {
                    #expect(await eventually(timeout: .seconds(30)) { (try? Loopback.http(port: daemon.httpPort, path: "/healthz").status) == 200 })
                }
                let start = try upstream.requestLog().now
                try await waitForUpstreamClock(upstream, until: start + 5)
                let perInterval = Double(Self.arrivals(try upstream.requestLog().requests, from: start, to: start + 5).count) / 20
                rows.append("| \(schedule) | \(replicas) | \(String(format: "%.2f", perInterval)) |")
                let expected = schedule == "fleet" ? 1.0 : Double(replicas)
                #expect(abs(perInterval - expected) <= 0.2 * expected, "\(schedule) × \(replicas): \(perInterval) requests per interval")
                for daemon in daemons { _ = await daemon.terminate() }
                await cleanUp([name])
            }
        }
        print("FLEET-FIGURES upstream requests per 0.25 s interval over 5 s\n| schedule | replicas | requests/interval |\n|---|---|---|\n" + rows.joined(separator: "\n"))
    }
}
