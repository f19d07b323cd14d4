import Foundation
import PackagePlugin

/// Turns text files of a target into Swift string constants at build time, so scripts and
/// pages stay readable files of their own and the binary needs no resource bundle:
/// `*.lua` → `LuaSource.<name>` (runnable with `redis-cli --eval`), `*.html` → `WebAsset.<name>`.
/// The target declares the (empty) `enum LuaSource` / `enum WebAsset` the constants extend.
@main
struct EmbedText: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let tool = try context.tool(named: "embed-text")
        let kinds: [(suffix: String, type: String)] = [("lua", "LuaSource"), ("html", "WebAsset")]
        return kinds.flatMap { kind in
            module.sourceFiles(withSuffix: kind.suffix).map { file in
                let base = file.url.deletingPathExtension().lastPathComponent
                let output = context.pluginWorkDirectoryURL.appending(path: "\(base)+\(kind.type).swift")
                return .buildCommand(
                    displayName: "Embedding \(file.url.lastPathComponent)",
                    executable: tool.url,
                    arguments: [file.url.path, output.path, kind.type],
                    inputFiles: [file.url],
                    outputFiles: [output]
                )
            }
        }
    }
}
