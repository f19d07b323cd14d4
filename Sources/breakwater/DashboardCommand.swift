import ArgumentParser
import BreakwaterDaemon
import Foundation
import Logging

/// `breakwater dashboard --listen ADDR`: the fleet page without running collectors.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dashboard", abstract: "Serve the live breaker dashboard (/, /api/breakers, /events) for every breaker in Redis.")

    @OptionGroup var redis: RedisOptions
    @Option(name: .long, help: "HOST:PORT to listen on (e.g. 127.0.0.1:9480).") var listen: String = "127.0.0.1:9480"

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (1...65535).contains(port) else {
            throw CommandFailure.usage("--listen must be HOST:PORT with a port from 1 to 65535, got \(listen.debugDescription)")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw CommandFailure.usage("--listen needs a host, got \(listen.debugDescription)") }
        let configuration = try redis.configuration()
        do {
            try await DashboardServer.run(redis: configuration, host: host, port: port, logger: Logger(label: "breakwater.dashboard"))
        } catch {
            throw runtimeFailure(error)
        }
    }
}
