extension RedisConfiguration {
    /// TLS settings for `rediss://` and `rediss-sentinel://` URLs.
    ///
    /// Every connection (commands, pub/sub, the Sentinel queries and watcher) speaks TLS
    /// when these are set; there is no plaintext fallback. The files are read on every
    /// connect, so a rotated CA, certificate or key is picked up by the next reconnect.
    public struct TLS: Sendable, Hashable, CustomStringConvertible {
        /// How the server's certificate is checked.
        public enum Verification: String, Sendable, Hashable, CaseIterable {
            /// The chain must lead to a trusted CA and the certificate must carry the host
            /// name or IP connected to (or ``TLS/serverName``). The default.
            case full
            /// No check at all: for development only (logged as a warning at start).
            case none
        }

        /// A PEM file of CA certificates to trust; `nil`: the system trust store.
        public var caFile: String?
        /// A PEM client certificate (chain) for servers with `tls-auth-clients yes`.
        public var certFile: String?
        /// The PEM private key of ``certFile`` (`nil`: the key is in ``certFile``).
        public var keyFile: String?
        /// The name sent as SNI and checked against the certificate instead of the host
        /// connected to (e.g. when Sentinel answers with an IP).
        public var serverName: String?
        /// How the server's certificate is checked.
        public var verify: Verification

        /// Creates TLS settings (defaults: system trust store, full verification).
        public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, serverName: String? = nil, verify: Verification = .full) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
            self.serverName = serverName
            self.verify = verify
        }

        /// The environment variables that set these (same names as the config file's keys).
        public static let environmentNames = [
            "REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE", "REDIS_TLS_SERVER_NAME", "REDIS_TLS_VERIFY",
        ]

        /// Overrides fields from `REDIS_TLS_*` (empty values are ignored).
        ///
        /// - Throws: ``RedisError`` `invalidConfiguration` for a `REDIS_TLS_VERIFY` other
        ///   than `full` or `none`.
        public mutating func apply(environment: [String: String]) throws(RedisError) {
            func value(_ name: String) -> String? {
                guard let text = environment[name], !text.isEmpty else { return nil }
                return text
            }
            if let file = value("REDIS_TLS_CA_FILE") { caFile = file }
            if let file = value("REDIS_TLS_CERT_FILE") { certFile = file }
            if let file = value("REDIS_TLS_KEY_FILE") { keyFile = file }
            if let name = value("REDIS_TLS_SERVER_NAME") { serverName = name }
            if let text = value("REDIS_TLS_VERIFY") {
                guard let mode = Verification(rawValue: text.lowercased()) else {
                    throw RedisError(.invalidConfiguration, "REDIS_TLS_VERIFY must be \(Verification.allCases.map(\.rawValue).joined(separator: " or ")) (got \"\(text.prefix(40))\")")
                }
                verify = mode
            }
        }

        /// Checks that the settings are usable together.
        ///
        /// - Throws: ``RedisError`` `invalidConfiguration` naming the problem.
        public func validate() throws(RedisError) {
            if keyFile != nil && certFile == nil {
                throw RedisError(.invalidConfiguration, "TLS key_file is set without cert_file (a client key needs its certificate)")
            }
            if let serverName, serverName.isEmpty || serverName.utf8.count > 253 || serverName.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false }) {
                throw RedisError(.invalidConfiguration, "TLS server_name must be a host name or IP of 1-253 characters without spaces (got \"\(serverName.prefix(60))\")")
            }
            for (name, path) in [("ca_file", caFile), ("cert_file", certFile), ("key_file", keyFile)] {
                if let path, path.isEmpty || path.utf8.contains(0) {
                    throw RedisError(.invalidConfiguration, "TLS \(name) must be a file path (got \"\(path.prefix(60))\")")
                }
            }
        }

        /// Loads the CA, certificate and key now, as a connect would (the `SIGHUP` check).
        ///
        /// - Throws: ``RedisError`` `tls` with cause ``TLSFailure/files`` naming the file.
        public func checkFiles() throws(RedisError) {
            try HiredisConnection.checkTLSFiles(self)
        }

        /// Paths and mode, for logs.
        public var description: String {
            var parts = ["verify=\(verify.rawValue)", "ca=\(caFile ?? "system")"]
            if let certFile { parts.append("cert=\(certFile)") }
            if let serverName { parts.append("server_name=\(serverName)") }
            return "tls(" + parts.joined(separator: " ") + ")"
        }
    }
}

/// Why a TLS connection failed, in the words an operator acts on.
public enum TLSFailure: String, Sendable, Hashable, CaseIterable {
    /// A CA, certificate or key file cannot be read or used.
    case files
    /// The server's certificate does not lead to a trusted CA.
    case unknownCA = "unknown CA"
    /// The server's certificate has expired.
    case expired
    /// The server's certificate is not valid yet.
    case notYetValid = "not yet valid"
    /// The certificate is for another host name or IP.
    case nameMismatch = "name mismatch"
    /// No TLS answer within the connect timeout.
    case handshakeTimeout = "handshake timeout"
    /// The server answered, but not with TLS.
    case plaintextServer = "plaintext server"
    /// The server requires a client certificate and none is configured.
    case clientCertificateRequired = "client certificate required"
    /// The server refused the client certificate.
    case clientCertificateRejected = "client certificate rejected"
    /// Any other handshake or record-layer failure.
    case other = "handshake failed"
}
