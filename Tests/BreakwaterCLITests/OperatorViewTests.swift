import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

/// The operator's side of the shared state: overrides with expiry and a reason, the ledger and
/// `history`, `status` summary and filter, `reset --all`, and the dashboard's HTTP surface.
@Suite("Operator view: overrides, ledger, status, dashboard", .tags(.integration))
struct OperatorViewTests {
    let pool: RedisConnectionPool

    init() throws {
        pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 1)
    }

    func uniqueName(_ label: String) -> String { "ops-\(UUID().uuidString.prefix(8).lowercased())-\(label)" }

    func fields(_ name: String) async throws -> [String: String] {
        try await pool.execute("HGETALL", "cb_state:" + name).fieldDictionary ?? [:]
    }

    @Test("force-open --for lapses by server time to half-open; the ledger records actor, note and the lapse")
    func forceOpenLapses() async throws {
        let name = uniqueName("lapse")
        try await withKeysDeleted(["cb_state:" + name, "cb_log:" + name], pool: pool) {
            let opened = try await breakwater(["force-open", name, "--for", "1s", "--note", "deploy <b>42</b>", "--actor", "alice@ops"])
            #expect(opened.exitCode == 0, "\(opened.output)")
            #expect(opened.output.contains("lapses in"))
            let stored = try await fields(name)
            #expect(stored["forced"] == "open" && stored["forced_note"] == "deploy <b>42</b>" && stored["forced_actor"] == "alice@ops")
            // Reading it after the deadline (Redis server time) shows the lapsed override: half-open.
            #expect(await eventually(timeout: .seconds(20), interval: .milliseconds(200)) {
                (try? await breakwater(["status", name, "--json"]))?.output.contains("\"state\" : \"half-open\"") == true
            })
            let after = try await fields(name)
            #expect(after["state"] == "half-open" && after["forced"] == "" && after["forced_note"] == "")
            let history = try await breakwater(["history", name, "--json"])
            #expect(history.exitCode == 0, "\(history.output)")
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(history.output.utf8)) as? [[String: Any]])
            #expect(entries.first?["reason"] as? String == "override_expired")
            let forced = try #require(entries.last)
            #expect(forced["reason"] as? String == "forced_open")
            #expect(forced["actor"] as? String == "alice@ops")
            #expect(forced["note"] as? String == "deploy <b>42</b>")
            #expect((forced["until_ms"] as? Int ?? 0) > 0)
        }
    }

    @Test("a lapsed force-close closes with trip counters cleared; history lists newest first")
    func forceCloseLapses() async throws {
        let name = uniqueName("lapse-close")
        try await withKeysDeleted(["cb_state:" + name, "cb_log:" + name], pool: pool) {
            #expect(try await breakwater(["force-close", name, "--for", "0.5s", "--note", "ok"]).exitCode == 0)
            _ = try await pool.execute("HSET", "cb_state:" + name, "failure_count", "3")
            let deadline = Int64(try await fields(name)["forced_until_ms"] ?? "") ?? 0
            #expect(await eventually(timeout: .seconds(20)) {
                let time = (try? await pool.execute("TIME").array) ?? []
                return (time.first?.int ?? 0) * 1000 + (time.last?.int ?? 0) / 1000 > deadline
            })
            // The next manual action (a reset) first applies the lapse: two ledger entries.
            #expect(try await breakwater(["reset", name, "--note", "after"]).exitCode == 0)
            let history = try await breakwater(["history", name, "--json", "--limit", "10"])
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(history.output.utf8)) as? [[String: Any]])
            #expect(entries.map { $0["reason"] as? String ?? "" } == ["reset", "override_expired", "forced_closed"])
            #expect(entries.map { $0["version"] as? Int ?? 0 } == [3, 2, 1])
            let table = try await breakwater(["history", name])
            #expect(table.output.contains("override_expired") && table.output.contains("REASON"))
        }
    }

    @Test("--for rejects nonsense with exit 2 naming the value", arguments: ["soon", "-5m", "0s", "400d"])
    func badDuration(value: String) async throws {
        let result = try await breakwater(["force-open", uniqueName("bad"), "--for", value])
        #expect(result.exitCode == 2)
        #expect(result.output.contains("--for"), "\(result.output)")
    }

    @Test("status prints a summary line and filters by --state; reset --all needs --yes")
    func statusSummaryAndResetAll() async throws {
        try await withRedisServer { server in
            let env = ["REDIS_URL": server.url]
            #expect(try await breakwater(["force-open", "a1"], environment: env).exitCode == 0)
            #expect(try await breakwater(["force-close", "b1"], environment: env).exitCode == 0)
            #expect(try await breakwater(["reset", "c1"], environment: env).exitCode == 0)
            let status = try await breakwater(["status"], environment: env)
            #expect(status.output.contains("3 breakers: 2 closed, 1 open, 0 half-open, 2 forced"), "\(status.output)")
            let open = try await breakwater(["status", "--state", "open"], environment: env)
            let rows = open.output.split(separator: "\n").filter { $0.hasPrefix("a1") || $0.hasPrefix("b1") || $0.hasPrefix("c1") }
            #expect(rows.count == 1 && rows[0].hasPrefix("a1"), "\(open.output)")
            #expect(try await breakwater(["reset", "--all"], environment: env).exitCode == 2)
            let all = try await breakwater(["reset", "--all", "--yes"], environment: env)
            #expect(all.exitCode == 0)
            let after = try await breakwater(["status"], environment: env)
            #expect(after.output.contains("3 breakers: 3 closed, 0 open, 0 half-open, 0 forced"), "\(after.output)")
        }
    }

    @Test("dashboard serves the page, every breaker with statistics and ledger, and live events over SSE")
    func dashboardHTTP() async throws {
        try await withRedisServer { server in
            let env = ["REDIS_URL": server.url]
            #expect(try await breakwater(["force-open", "dash-1", "--note", "<script>x</script>"], environment: env).exitCode == 0)
            let port = try Loopback.freePort()
            let dashboard = try ChildProcess(Built.breakwater, ["dashboard", "--listen", "127.0.0.1:\(port)"], environment: env)
            defer { dashboard.stop(signal: SIGTERM) }
            #expect(await eventually(timeout: .seconds(30)) { Loopback.canConnect(port: port) })
            let page = try await httpGet("http://127.0.0.1:\(port)/")
            #expect(page.contains("<title>Breakwater breakers</title>"))
            let api = try await httpGet("http://127.0.0.1:\(port)/api/breakers")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(api.utf8)) as? [String: Any])
            let breakers = try #require(object["breakers"] as? [[String: Any]])
            let entry = try #require(breakers.first { $0["name"] as? String == "dash-1" })
            #expect(entry["state"] as? String == "open" && entry["forced"] as? String == "open")
            #expect(entry["forced_note"] as? String == "<script>x</script>")
            #expect((entry["recent"] as? [[String: Any]])?.first?["reason"] as? String == "forced_open")
            // SSE: a transition made with the CLI arrives on an open stream.
            let stream = try ChildProcess("curl", ["-sN", "--max-time", "30", "http://127.0.0.1:\(port)/events"])
            defer { stream.stop(signal: SIGKILL) }
            #expect(await eventually(timeout: .seconds(15)) { stream.output.contains(": connected") })
            #expect(try await breakwater(["reset", "dash-1"], environment: env).exitCode == 0)
            #expect(await eventually(timeout: .seconds(15)) { stream.output.contains("event: transition") && stream.output.contains("\"reason\":\"reset\"") }, "\(stream.output)")
            // SIGTERM drains promptly even with an event stream open.
            dashboard.stop(signal: SIGTERM)
            #expect(await dashboard.exited(within: .seconds(15)) == 0)
        }
    }

    func httpGet(_ url: String) async throws -> String {
        let curl = try ChildProcess("curl", ["-sf", "--max-time", "10", url])
        #expect(await curl.exited(within: .seconds(15)) == 0, "GET \(url) failed: \(curl.output)")
        return curl.output
    }
}

@Suite("Operator view in a running daemon: /breakers, /, shadow mode", .tags(.integration))
struct DaemonOperatorViewTests {
    func get(_ url: String) async throws -> String {
        let curl = try ChildProcess("curl", ["-sf", "--max-time", "10", url])
        #expect(await curl.exited(within: .seconds(15)) == 0, "GET \(url) failed: \(curl.output)")
        return curl.output
    }

    @Test("a shadow-mode daemon trips the shared breaker but keeps calling; /breakers shows fleet statistics")
    func shadowDaemon() async throws {
        let name = "ops-\(UUID().uuidString.prefix(8).lowercased())-shadowd"
        try await withPool(try TestRedis.configuration(), size: 1) { pool in
            try await withKeysDeleted(["cb_state:" + name, "cb_log:" + name, "collector:" + name], pool: pool) {
                let upstream = try FlakyUpstream(arguments: ["--mode", "error500"])
                let daemon = try DaemonProcess(instance: "shadow-1", collectorName: name, upstream: upstream, openTimeoutSeconds: 60, threshold: 2, mode: "shadow")
                #expect(await eventually(timeout: .seconds(30)) { (try? await pool.execute("HGET", "cb_state:" + name, "state").string) == "open" })
                let atTrip = try upstream.requestCount()
                // Enforcement would stop calling for 60 s; shadow mode keeps polling.
                #expect(await eventually(timeout: .seconds(30)) { ((try? upstream.requestCount()) ?? 0) >= atTrip + 5 }, "shadow mode rejected calls")
                let base = "http://127.0.0.1:\(daemon.httpPort)"
                let breakers = try #require(try JSONSerialization.jsonObject(with: Data(try await get(base + "/breakers").utf8)) as? [[String: Any]])
                let status = try #require(breakers.first { $0["name"] as? String == name })
                #expect(status["mode"] as? String == "shadow")
                #expect(status["state"] as? String == "open")
                #expect((status["version"] as? Int ?? 0) >= 1)
                let thresholds = try #require(status["thresholds"] as? [String: Any])
                #expect(thresholds["failure_threshold"] as? Int == 2)
                let fleet = status  // the fleet statistics keys are top-level
                #expect(fleet["health_score"] as? Double == 0)
                #expect(((fleet["statistics"] as? [String: Any])?["total_failures"] as? Int ?? 0) >= 2)
                #expect(fleet["last_failure_time"] as? Int != nil && fleet["last_state_change"] as? Int != nil)
                #expect((fleet["half_open"] as? [String: Any])?["max_calls"] as? Int == 1)
                let metrics = try await get(base + "/metrics")
                let wouldReject = metrics.split(separator: "\n").first { $0.hasPrefix("breakwater_would_reject_total{") && $0.contains(name) }
                #expect(wouldReject.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0 > 0, "would-reject not counted")
                #expect(try await get(base + "/").contains("Breakwater breakers"))
                #expect(await daemon.terminate() == 0)
            }
        }
    }
}
