// `cli-duration`: `breakwater force-open/force-close NAME --for TEXT`. The CLI is an
// executable target (swift-argument-parser, the daemon), so scripts/fuzz copies
// parseOverrideDuration(_:) and CommandFailure out of Sources/breakwater into this module.

@_cdecl("breakwater_fuzz_cli_duration")
public func breakwaterFuzzCLIDuration(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let duration = try parseOverrideDuration(text)
        precondition(duration >= .milliseconds(1) && duration <= .seconds(365 * 86_400),
                     "--for \(text.debugDescription) gave \(duration), outside 1 ms...365 d")
    } catch let failure as CommandFailure {
        precondition(failure.exitCode == 2 && !failure.message.isEmpty)
    } catch {
        preconditionFailure("unexpected error \(error)")
    }
    return 0
}
