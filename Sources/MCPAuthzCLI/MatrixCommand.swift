import ArgumentParser
import Foundation
import MCPAuthzPolicy

struct MatrixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Show who may do what: operations as rows, callers as columns.",
        discussion: """
            For each server (or the one --server names): a row per method, tool, prompt and \
            resource its rules or catalog name (a pattern is one row), a column per caller that \
            differs in one thing the rules name (a group, an email, a domain, a subject, a client, a \
            claim value, an issuer) beside 'any caller', who has none of them. A cell is allow, \
            deny, or 'with scope X' when the scope would open it (callers hold no scopes \
            otherwise); '(some arguments)' when an argument condition allows only some calls. \
            Operations no rule names are denied to everyone and not shown. --format md (default), \
            csv, or html: one self-contained file (no external assets) to open in a browser.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case md
        case csv
        case html
    }

    @Argument(help: "A policy file, or a folder of *.yaml policy files.")
    var path: String

    @Option(help: "Only this server (by id).")
    var server: String?

    @Option(help: "md, csv or html.")
    var format: Format = .md

    @Option(help: "Show at most this many caller columns per server.")
    var maxColumns = AccessMatrix.defaultMaxColumns

    @OptionGroup var options: PolicyOptions

    func validate() throws {
        guard maxColumns > 0 else { throw ValidationError("--max-columns must be positive") }
    }

    func run() throws {
        let snapshot = try options.snapshot(at: path, failing: 2)
        let ids = server.map { [$0] } ?? snapshot.policy.servers.map(\.id.value)
        var matrices: [AccessMatrix] = []
        for id in ids {
            guard let matrix = AccessMatrix(snapshot, server: id, maxColumns: maxColumns) else {
                printError("no server '\(id)' in the policy; servers: \(snapshot.policy.servers.map(\.id.value).joined(separator: ", "))")
                throw ExitCode(2)
            }
            matrices.append(matrix)
        }
        switch format {
        case .md: print(matrices.map(Self.markdown).joined(separator: "\n\n"))
        case .csv: print(Self.csv(matrices), terminator: "")
        case .html: print(Self.html(matrices, title: path))
        }
    }

    /// What the bounds left out, as a sentence; nil when nothing was.
    static func hidden(_ matrix: AccessMatrix) -> String? {
        var notes: [String] = []
        if matrix.hiddenColumns > 0 {
            notes.append("\(matrix.hiddenColumns) more caller column\(matrix.hiddenColumns == 1 ? "" : "s") not shown (--max-columns)")
        }
        if matrix.untried {
            notes.append(
                "search cut short: \(matrix.callersTried) callers tried, not every combination of the things the rules name, "
                    + "so a class only several of them together make may be missing")
        }
        return notes.isEmpty ? nil : notes.joined(separator: "; ")
    }

    static func markdown(_ matrix: AccessMatrix) -> String {
        func escaped(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }
        var lines = ["### \(escaped(matrix.server))", ""]
        lines.append("| operation | " + matrix.columns.map { escaped($0.label) }.joined(separator: " | ") + " |")
        lines.append("|---|" + String(repeating: "---|", count: matrix.columns.count))
        for row in matrix.rows { lines.append("| \(escaped(row.label)) | " + row.cells.map { escaped($0.text) }.joined(separator: " | ") + " |") }
        if matrix.rows.isEmpty { lines.append("| (no rule names an operation: everything is denied) |") }
        if let hidden = hidden(matrix) { lines += ["", hidden] }
        return lines.joined(separator: "\n")
    }

    /// One table: a server column, then the operation, then one column per caller label (the
    /// union over servers, empty where a server has no such caller).
    static func csv(_ matrices: [AccessMatrix]) -> String {
        func field(_ text: String) -> String {
            text.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var labels: [String] = []
        for matrix in matrices { for column in matrix.columns where !labels.contains(column.label) { labels.append(column.label) } }
        var lines = [(["server", "operation"] + labels).map(field).joined(separator: ",")]
        for matrix in matrices {
            for row in matrix.rows {
                let cells = labels.map { label in matrix.columns.firstIndex { $0.label == label }.map { row.cells[$0].text } ?? "" }
                lines.append(([matrix.server, row.label] + cells).map(field).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func html(_ matrices: [AccessMatrix], title: String) -> String {
        let escaped = markupEscaped
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>mcp-authz access matrix: \(escaped(title))</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1d1d1f; }
            table { border-collapse: collapse; margin-bottom: 2em; }
            caption { text-align: left; font-weight: 600; font-size: 1.2em; padding: 0.4em 0; }
            th, td { border: 1px solid #c8c8cc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
            thead th { background: #f2f2f5; position: sticky; top: 0; }
            tbody th { font-weight: normal; font-family: ui-monospace, monospace; white-space: nowrap; }
            td.allow { background: #dff3e2; }
            td.deny { background: #fbe3e1; color: #6e1a14; }
            td.scopes { background: #fff4d6; }
            p.note { color: #555; }
            </style>
            </head>
            <body>
            <h1>Who may do what</h1>
            <p class="note">Policy <code>\(escaped(title))</code>. Columns are callers that differ in one thing the rules name; \
            <em>any caller</em> has none of them. Callers hold no scopes; a cell a scope would open names it. \
            Operations no rule names are denied to everyone.</p>

            """
        for matrix in matrices {
            html += "<table data-server=\"\(escaped(matrix.server))\">\n<caption>\(escaped(matrix.server))</caption>\n<thead><tr><th>operation</th>"
            for column in matrix.columns { html += "<th>\(escaped(column.label))</th>" }
            html += "</tr></thead>\n<tbody>\n"
            for row in matrix.rows {
                html += "<tr><th scope=\"row\">\(escaped(row.label))</th>"
                for cell in row.cells { html += "<td class=\"\(cell.kind.rawValue)\">\(escaped(cell.text))</td>" }
                html += "</tr>\n"
            }
            html += "</tbody>\n</table>\n"
            if let hidden = hidden(matrix) { html += "<p class=\"note\">\(escaped(hidden))</p>\n" }
        }
        return html + "</body>\n</html>"
    }
}
