import Foundation
import MCPAuthzPolicy
import MCPAuthzTokens
import Testing

@testable import MCPAuthzServer

/// `docs/troubleshooting.md` explains every reason code a denial can carry: a code added to the
/// code base without its entry there fails here.
@Suite struct TroubleshootingDocTests {
    static let document: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("docs/troubleshooting.md"), encoding: .utf8)) ?? ""
    }()

    static let codes: [String] =
        Decision.Reason.allCases.map(\.rawValue) + TokenFailure.Reason.allCases.map(\.rawValue)
        + RequestRejection.Reason.allCases.map(\.rawValue) + [Authorizer.auditUnavailable, HeaderOverflowHandler.reason]

    @Test(arguments: codes)
    func everyReasonCodeHasItsRow(code: String) {
        let rows = Self.document.split(separator: "\n").filter { $0.hasPrefix("| `") }
        #expect(rows.contains { $0.contains("`\(code)`") }, "docs/troubleshooting.md has no row for \(code)")
    }
}
