/// Bounds on what a policy file may cost to read. Policy files come from people, but a bad
/// merge or a hostile change must give an error, never a crash or a hang.
package struct PolicyLoadLimits: Sendable {
    /// Largest policy or policy-test file accepted, in bytes.
    package var maxFileBytes: Int
    /// Deepest nesting of YAML collections accepted (an upper estimate made before parsing).
    package var maxNestingDepth: Int
    /// Most YAML nodes read from one file.
    package var maxNodes: Int

    package init(maxFileBytes: Int = 8 << 20, maxNestingDepth: Int = 64, maxNodes: Int = 2_000_000) {
        self.maxFileBytes = maxFileBytes
        self.maxNestingDepth = maxNestingDepth
        self.maxNodes = maxNodes
    }

    package static let `default` = PolicyLoadLimits()
}
