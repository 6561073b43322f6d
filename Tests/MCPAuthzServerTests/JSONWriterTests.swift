import MCPAuthzPolicy
import MCPAuthzServer
import Testing

/// The hand-written JSON of answers and audit records: every string comes back as written.
@Suite struct JSONWriterTests {
    static func roundTrip(_ value: String) throws -> ClaimValue {
        var json = JSONWriter()
        json.field("v", value)
        return try ClaimValue.parseJSON(json.finish())
    }

    @Test func everyASCIIByteRoundTrips() throws {
        for byte in UInt8(0)...0x7F {
            let value = "a\(Character(Unicode.Scalar(byte)))b"
            #expect(try Self.roundTrip(value) == .object(["v": .string(value)]), "byte \(byte)")
        }
    }

    @Test(arguments: ["", "plain", "\"quoted\"", "back\\slash", "line\nbreak\r\n", "\u{7F}\u{1B}[31m", "é 😀 \u{2028}", "\\\"\\\"", "\n"])
    func stringsRoundTrip(_ value: String) throws {
        #expect(try Self.roundTrip(value) == .object(["v": .string(value)]))
    }

    @Test func controlCharactersAreEscapedNotWrittenRaw() {
        var json = JSONWriter()
        json.field("v", "a\n\u{0}\u{1F}\"")
        #expect(String(decoding: json.finish(), as: UTF8.self) == #"{"v":"a\n\u0000\u001f\""}"#)
    }
}
