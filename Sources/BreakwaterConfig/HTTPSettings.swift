/// The `http:` block: where `/healthz`, `/readyz`, `/metrics` and `/breakers` are served.
public struct HTTPSettings: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Host or IP address to bind, without brackets (`::1`, not `[::1]`).
    public var host: String
    /// TCP port, 0…65535 (0 lets the system choose).
    public var port: Int

    /// Creates HTTP settings; the default is `127.0.0.1:9464`.
    ///
    /// - Parameters:
    ///   - host: Host or address to bind.
    ///   - port: TCP port.
    public init(host: String = "127.0.0.1", port: Int = 9464) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with IPv6 addresses in brackets.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Parses `host:port` or `[ipv6]:port`.
    ///
    /// - Parameter listen: The text of `http.listen`.
    /// - Returns: The settings, or `nil` when the text is not `host:port` with a port in 0…65535.
    public static func parse(listen: String) -> HTTPSettings? {
        let host: Substring
        let portText: Substring
        if listen.hasPrefix("[") {
            guard let close = listen.firstIndex(of: "]") else { return nil }
            host = listen[listen.index(after: listen.startIndex)..<close]
            let afterClose = listen[listen.index(after: close)...]
            guard afterClose.hasPrefix(":") else { return nil }
            portText = afterClose.dropFirst()
        } else {
            guard let colon = listen.lastIndex(of: ":") else { return nil }
            host = listen[..<colon]
            portText = listen[listen.index(after: colon)...]
            if host.contains(":") { return nil }  // bare IPv6 needs brackets
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }),
              !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
              portText.count <= 5, let port = Int(portText), (0...65_535).contains(port)
        else { return nil }
        return HTTPSettings(host: String(host), port: port)
    }
}
