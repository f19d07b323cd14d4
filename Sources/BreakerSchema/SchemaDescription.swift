import RedisClient

/// The contract as data, for tools and docs: `breakwater schema --json`.
///
/// Tools (the scripts in `scripts/`, dashboards, exporters) read the key layout, the stored
/// fields and the operations from here instead of copying them.
public struct SchemaDescription: Sendable, Encodable {
    /// One stored field.
    public struct Field: Sendable, Encodable {
        public var name: String
        public var kind: StoredField.Kind
        public var group: StoredField.Group
        public var summary: String
    }

    /// The stored layout version (the `schema` field).
    public var schema: Int
    /// Key templates by role: `{name}` is a breaker or collector name, `{group}` a rate-limit group.
    public var keys: [String: String]
    /// Every field of `cb_state:<name>`, in layout order.
    public var fields: [Field]
    /// Each script's operations.
    public var operations: [String: [String]]
    /// The policy keys a caller may send to the breaker script.
    public var policyKeys: [String]

    enum CodingKeys: String, CodingKey {
        case schema, keys, fields, operations
        case policyKeys = "policy_keys"
    }

    /// The contract of this build.
    public static let current = SchemaDescription(
        schema: StoredField.layoutVersion,
        keys: Dictionary(uniqueKeysWithValues: BreakerKeys.Prefix.allCases.map {
            ($0.role, $0.rawValue + ($0 == .quota ? "{group}" : "{name}"))
        }),
        fields: StoredField.allCases.map { Field(name: $0.name, kind: $0.kind, group: $0.group, summary: $0.summary) },
        operations: [
            "breaker": BreakerOperation.allCases.map(\.rawValue),
            "schedule": ScheduleOperation.allCases.map(\.rawValue),
            "quota": QuotaOperation.allCases.map(\.rawValue),
            "commit": ["commit"],
        ],
        policyKeys: PolicyKey.allCases.map(\.rawValue)
    )

    /// A script as Redis runs it, by name (`breaker`, `schedule`, `quota`, `commit`).
    public static func script(named name: String) -> RedisScript? {
        SchemaScripts.all.first { $0.name == name }
    }
}
