import Foundation
import Testing

@testable import MCPAuthzPolicy

/// `policies/schema.json` is what editors validate against; it must accept exactly the keys the
/// loader accepts, and require what the loader requires.
@Suite struct SchemaTests {
    let schema: [String: Any]

    init() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../policies/schema.json")
        let data = try Data(contentsOf: url.standardized)
        schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func object(_ name: String?) throws -> [String: Any] {
        guard let name else { return schema }
        let defs = try #require(schema["$defs"] as? [String: Any])
        return try #require(defs[name] as? [String: Any], "schema has no $defs/\(name)")
    }

    @Test(
        arguments: [
            (nil, PolicyKeys.document, PolicyKeys.documentRequired),
            ("issuer", PolicyKeys.issuer, PolicyKeys.issuerRequired),
            ("server", PolicyKeys.server, PolicyKeys.serverRequired),
            ("match", PolicyKeys.match, []),
            ("rule", PolicyKeys.rule, PolicyKeys.ruleRequired),
            ("limit", PolicyKeys.limit, PolicyKeys.limitRequired),
            ("introspection", PolicyKeys.introspection, PolicyKeys.introspectionRequired),
            ("condition", PolicyKeys.condition, []),
            ("targets", PolicyKeys.targets, []),
        ] as [(String?, [String], [String])])
    func schemaKeysAreTheLoaderKeys(definition: String?, keys: [String], required: [String]) throws {
        let object = try object(definition)
        let properties = try #require(object["properties"] as? [String: Any])
        #expect(Set(properties.keys) == Set(keys))
        #expect(Set(object["required"] as? [String] ?? []) == Set(required))
        #expect(object["additionalProperties"] as? Bool == false, "unknown keys must be rejected, as the loader does")
    }

    @Test func schemaAlgorithmsAreTheSupportedOnes() throws {
        let algorithm = try object("algorithm")
        #expect(algorithm["enum"] as? [String] == IssuerConfig.supportedAlgorithms + IssuerConfig.sharedSecretAlgorithms.map(\.name))
    }
}
