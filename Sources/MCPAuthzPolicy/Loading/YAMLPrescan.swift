/// A single pass over YAML text before it reaches the parser.
///
/// The YAML composer recurses once per nesting level and expands aliases, so a deeply nested
/// or alias-bomb document could exhaust the stack or memory inside the parser, where no error can
/// be reported. This pass estimates the nesting depth from above (indentation levels, sequence
/// dashes and flow brackets) and refuses anchors and aliases, which policies never need.
struct YAMLPrescan {
    struct Finding {
        var line: Int
        var column: Int
        var message: String
    }

    static func tooDeep(_ maxDepth: Int) -> String {
        "YAML nesting is deeper than the limit of \(maxDepth) levels"
    }

    static func check(_ text: String, maxDepth: Int) -> Finding? {
        var indentStack: [Int] = []
        var flowDepth = 0
        var blockScalarIndent: Int?  // skipping the body of a `|` or `>` scalar more indented than this
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = Array(rawLine.unicodeScalars)
            var i = 0
            while i < line.count, line[i] == " " { i += 1 }
            let indent = i
            let isBlank = i == line.count || line[i] == "#" || line[i] == "\r"
            if let parentIndent = blockScalarIndent {
                if isBlank || indent > parentIndent { continue }
                blockScalarIndent = nil
            }
            if isBlank { continue }
            if flowDepth == 0 {
                while let last = indentStack.last, last >= indent { indentStack.removeLast() }
                indentStack.append(indent)
            }
            var dashes = 0
            var atNodeStart = true
            var quote: Unicode.Scalar?
            var lastSignificant: Unicode.Scalar = " "
            while i < line.count {
                let c = line[i]
                if let q = quote {
                    if q == "\"", c == "\\" { i += 2; continue }
                    if c == q { quote = nil }
                    i += 1
                    continue
                }
                switch c {
                case "\"", "'":
                    if atNodeStart { quote = c }
                    atNodeStart = false
                case "#" where i == 0 || line[i - 1] == " " || line[i - 1] == "\t":
                    i = line.count
                    continue
                case "[", "{":
                    if atNodeStart || lastSignificant == "[" || lastSignificant == "{" || lastSignificant == "," {
                        flowDepth += 1
                        atNodeStart = true
                        if 2 * (indentStack.count + dashes) + flowDepth + 1 > maxDepth {
                            return Finding(line: lineNumber, column: i + 1, message: Self.tooDeep(maxDepth))
                        }
                    }
                case "]", "}":
                    if flowDepth > 0 { flowDepth -= 1 }
                    atNodeStart = false
                case ",":
                    atNodeStart = flowDepth > 0
                case "-", "?", ":":
                    let followedBySpace = i + 1 == line.count || line[i + 1] == " " || line[i + 1] == "\t" || line[i + 1] == "\r"
                    if followedBySpace && (c == ":" || atNodeStart) {
                        if c != ":" { dashes += 1 }
                        atNodeStart = true
                    } else {
                        atNodeStart = false
                    }
                case "&", "*":
                    if atNodeStart, i + 1 < line.count, line[i + 1] != " " {
                        return Finding(
                            line: lineNumber, column: i + 1,
                            message:
                                "anchors and aliases (&name, *name) are not supported in policy files; write the values out, or quote a value that starts with '\(c)'"
                        )
                    }
                    atNodeStart = false
                case "|", ">":
                    if atNodeStart && flowDepth == 0 {
                        blockScalarIndent = indent
                        i = line.count
                        continue
                    }
                    atNodeStart = false
                case " ", "\t", "\r":
                    break
                default:
                    atNodeStart = false
                }
                if c != " " && c != "\t" { lastSignificant = c }
                i += 1
            }
            // Each indentation level and each dash can open a mapping and a sequence.
            let estimate = 2 * (indentStack.count + dashes) + flowDepth + 1
            if estimate > maxDepth {
                return Finding(line: lineNumber, column: indent + 1, message: Self.tooDeep(maxDepth))
            }
        }
        return nil
    }
}
