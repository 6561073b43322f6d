import Testing

@testable import MCPAuthzPolicy

@Suite struct GlobTests {
    @Test(arguments: [
        ("get_todo", "get_todo", true),
        ("get_todo", "get_todos", false),
        ("get_todo", "Get_todo", false),
        ("delete_*", "delete_todo", true),
        ("delete_*", "delete_", true),
        ("delete_*", "undelete_todo", false),
        ("*", "", true),
        ("*", "anything/at all", true),
        ("*_admin", "db_admin", true),
        ("*_admin", "db_admin_x", false),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXbYY", false),
        ("a*b*c", "abcabc", true),
        ("file:///docs/*", "file:///docs/a/b.md", true),
        ("file:///docs/*", "file:///etc/passwd", false),
        ("tool?", "tool1", true),
        ("tool?", "tool", false),
        ("tool?", "tool12", false),
        ("tool?", "toolé", true),
        (#"literal\*"#, "literal*", true),
        (#"literal\*"#, "literalX", false),
        ("notifications/*", "notifications/initialized", true),
    ])
    func matches(pattern: String, name: String, expected: Bool) {
        #expect(Glob(pattern).matches(name) == expected, "\(pattern) vs \(name)")
    }

    @Test func manyStarsDoNotBacktrackExponentially() {
        let pattern = Glob(String(repeating: "a*", count: 30) + "b")
        #expect(!pattern.matches(String(repeating: "a", count: 5_000)))
    }

    @Test(
        arguments: [
            ("", nil),
            (" tool", "starts or ends with white space, which no name has"),
            ("tool ", "starts or ends with white space, which no name has"),
            ("a**b", "'**' is the same as '*'; write a single '*'"),
            (#"tool\"#, #"ends with a lone '\'"#),
            ("to\u{7}ol", "contains control characters"),
            ("get_*", nil),
        ] as [(String, String?)])
    func problems(pattern: String, problem: String?) {
        #expect(Glob.problem(in: pattern) == problem)
    }

    @Test func literalPatternsAreIndexedAsExactNames() {
        #expect(Glob("get_todo").exactName == "get_todo")
        #expect(Glob(#"get\*"#).exactName == "get*")
        #expect(Glob("get_*").exactName == nil)
    }
}
