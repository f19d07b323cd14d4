import Foundation
import PackagePlugin

/// Turns every `.lua` file of a target into a Swift file holding it as a string constant,
/// so scripts live in readable `.lua` files (runnable with `redis-cli --eval`) and the binary
/// needs no resource bundle at run time.
@main
struct EmbedLua: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let tool = try context.tool(named: "embed-lua")
        return module.sourceFiles(withSuffix: "lua").map { file in
            let base = file.url.deletingPathExtension().lastPathComponent
            let output = context.pluginWorkDirectoryURL.appending(path: "\(base)+Lua.swift")
            return .buildCommand(
                displayName: "Embedding \(file.url.lastPathComponent)",
                executable: tool.url,
                arguments: [file.url.path, output.path],
                inputFiles: [file.url],
                outputFiles: [output]
            )
        }
    }
}
