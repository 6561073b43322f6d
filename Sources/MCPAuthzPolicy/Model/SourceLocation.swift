/// Where something was written in a policy file, so every message can point a person at it.
package struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    package var file: String
    /// 1-based line.
    package var line: Int
    /// 1-based column, counted in Unicode scalars as libyaml does.
    package var column: Int

    package init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    package var description: String { "\(file):\(line):\(column)" }
}

/// A value read from a policy file together with the place it was read from.
package struct Located<Value: Sendable>: Sendable {
    package var value: Value
    package var location: SourceLocation

    package init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}

extension Located: Equatable where Value: Equatable {}
