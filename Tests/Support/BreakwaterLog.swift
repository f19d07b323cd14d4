import Foundation

/// Reading a `breakwater` process's log in tests.
public enum BreakwaterLog {
    /// Text that only appears when a Redis script failed or a stored breaker did not have the
    /// layout a process expected: script errors as Redis reports them, replies a process could
    /// not decode, repaired or corrupted state, events it had to ignore.
    public static let incompatibilityMarkers = [
        ": script ", "SCRIPT LOAD", "NOSCRIPT", "user_script", "Error running script", "unexpected reply",
        "corrupted", "repaired", "malformed", "impossible version", "unknown state",
    ]

    /// The lines of `log` that contain one of ``incompatibilityMarkers``.
    public static func incompatibilities(in log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { line in
            incompatibilityMarkers.contains { line.contains($0) }
        }
    }

    /// The lines of `log` logged at `warning` level or above (`<timestamp> <level> <label>: …`).
    public static func warnings(in log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { line in
            let fields = line.split(separator: " ", maxSplits: 2)
            return fields.count > 1 && ["warning", "error", "critical"].contains(String(fields[1]))
        }
    }
}
