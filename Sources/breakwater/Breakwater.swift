import ArgumentParser
import BreakwaterConfig
import Foundation

/// The `breakwater` command: the collector daemon and operator tools.
///
/// Exit codes: 0 ok, 1 runtime failure (one-line reason), 2 usage or config error.
@main
struct Breakwater: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breakwater",
        abstract: "Collectors behind circuit breakers whose state is shared through Redis.",
        subcommands: [
            RunCommand.self, CheckConfigCommand.self, StatusCommand.self, ListCommand.self,
            ForceOpenCommand.self, ForceCloseCommand.self, ResetCommand.self, WatchCommand.self,
            HistoryCommand.self, DashboardCommand.self, SchemaCommand.self,
        ]
    )

    static func main() async {
        do {
            var command = try parseAsRoot(globalOptionsMovedAfterSubcommand(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data("breakwater: \(failure.message)\n".utf8))
            Foundation.exit(failure.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            // ArgumentParser reports usage errors as 64; the contract says 2.
            let message = fullMessage(for: error)
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// `--redis-url` is a global option: `breakwater --redis-url URL status` means
/// `breakwater status --redis-url URL`. Moves it (either `--redis-url URL` or
/// `--redis-url=URL`) from before the subcommand to after it.
func globalOptionsMovedAfterSubcommand(_ arguments: [String]) -> [String] {
    var leading: [String] = []
    var index = 0
    while index < arguments.count {
        let argument = arguments[index]
        if argument == "--redis-url", index + 1 < arguments.count {
            leading += [argument, arguments[index + 1]]
            index += 2
        } else if argument.hasPrefix("--redis-url=") {
            leading.append(argument)
            index += 1
        } else {
            break
        }
    }
    guard !leading.isEmpty, index < arguments.count else { return arguments }
    return [arguments[index]] + leading + arguments[(index + 1)...]
}

/// A failure with the exit code the contract assigns to it.
struct CommandFailure: Error {
    var message: String
    var exitCode: Int32

    /// Exit 1: something at run time (Redis unreachable, …).
    static func runtime(_ message: String) -> CommandFailure { CommandFailure(message: message, exitCode: 1) }
    /// Exit 2: bad usage or configuration.
    static func usage(_ message: String) -> CommandFailure { CommandFailure(message: message, exitCode: 2) }
}
