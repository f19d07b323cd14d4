import BreakwaterTestSupport
import Foundation
import Testing

/// The README's library example is real code: it is the `library-example` target, and it runs.
@Suite("README library example", .tags(.integration))
struct LibraryExampleTests {
    static let source = Built.repository.appendingPathComponent("Examples/library-example/LibraryExample.swift")

    @Test("the README shows exactly the compiled example")
    func readmeMatchesSource() throws {
        let file = try String(contentsOf: Self.source, encoding: .utf8)
        let begin = try #require(file.range(of: "// snippet:begin\n"))
        let end = try #require(file.range(of: "// snippet:end"))
        let snippet = String(file[begin.upperBound..<end.lowerBound])
        let readme = try String(contentsOf: Built.repository.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("```swift\n" + snippet + "```"), "README.md's library example differs from \(Self.source.path)")
    }

    @Test("the example runs against Redis: a call, three failures trip the breaker, reset")
    func exampleRuns() async throws {
        let example = Built.binDirectory.appendingPathComponent("library-example").path
        let process = try ChildProcess(example, [], environment: ["REDIS_URL": ProcessInfo.processInfo.environment["REDIS_URL"] ?? ""])
        #expect(await process.exited(within: .seconds(60)) == 0, "\(process.output)")
        #expect(process.output.contains("run returned 42"))
        #expect(process.output.contains("after 3 failures: open"), "\(process.output)")
    }
}
