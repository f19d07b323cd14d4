import ArgumentParser
import BreakerSchema
import Foundation
import RedisClient

/// `breakwater schema`: the shared-state contract of this build — keys, stored fields,
/// script operations — as a table, as JSON for tools, or one script as Redis runs it.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Show the Redis keys, stored fields and script operations of this version.",
        discussion: """
        --json prints the contract for tools. --script NAME prints a script (breaker, schedule, \
        quota, commit) exactly as it is loaded, to run by hand: \
        breakwater schema --script breaker > breaker.lua; \
        redis-cli --eval breaker.lua cb_state:NAME cb_log:NAME , touch cli-1 NAME
        """
    )

    @Flag(name: .long, help: "Print the contract as JSON.") var json = false
    @Option(name: .long, help: "Print one script (breaker, schedule, quota or commit) as Redis runs it.") var script: String?

    func run() throws {
        if let script {
            guard let found = SchemaDescription.script(named: script) else {
                let names = SchemaScripts.all.map(\.name).joined(separator: ", ")
                throw CommandFailure(message: "no script named \"\(script.prefix(64))\" (scripts: \(names))", exitCode: 2)
            }
            print(found.source)
            return
        }
        let description = SchemaDescription.current
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(description), as: UTF8.self))
            return
        }
        print("stored layout (schema field): \(description.schema)")
        print("")
        print(BreakerOutput.table(["ROLE", "KEY"], description.keys.sorted { $0.key < $1.key }.map { [$0.key, $0.value] }))
        print("")
        print(BreakerOutput.table(["FIELD", "KIND", "GROUP", "MEANING"], description.fields.map { [$0.name, $0.kind.rawValue, $0.group.rawValue, $0.summary] }))
        print("")
        print(BreakerOutput.table(["SCRIPT", "OPERATIONS"], description.operations.sorted { $0.key < $1.key }.map { [$0.key, $0.value.joined(separator: " ")] }))
    }
}
