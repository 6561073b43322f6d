import Testing

@testable import MCPAuthzPolicy

/// The strict JSON reader used for token headers, claims and `explain --claims`.
@Suite struct ClaimJSONTests {
    func parse(_ text: String) -> Result<ClaimValue, ClaimValue.JSONError> {
        Result { () throws(ClaimValue.JSONError) in try ClaimValue.parseJSON(Array(text.utf8)) }
    }

    @Test func valuesKeepTheirJSONTypes() throws {
        let value = try parse(#" {"s":"x","i":42,"n":-1.5e2,"b":true,"z":null,"a":[1,"1"],"o":{"k":false}} "#).get()
        #expect(
            value
                == .object([
                    "s": .string("x"), "i": .integer(42), "n": .number(-150), "b": .bool(true), "z": .null,
                    "a": .array([.integer(1), .string("1")]), "o": .object(["k": .bool(false)]),
                ])
        )
    }

    @Test func escapesAndSurrogatePairsDecode() throws {
        #expect(try parse(#""a\"\\\/\n\u00e9\ud83d\ude00""#).get() == .string("a\"\\/\né😀"))
    }

    @Test func largeIntegersBecomeNumbers() throws {
        #expect(try parse("9223372036854775807").get() == .integer(.max))
        #expect(try parse("9223372036854775808").get() == .number(9_223_372_036_854_775_808))
    }

    @Test(arguments: [
        (#"{"sub":"a","sub":"b"}"#, #"member "sub" appears more than once"#),
        (String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "JSON nested deeper than 32 levels"),
        (#"{"a":1} x"#, "unexpected data after the JSON value"),
        (#"{"a":01}"#, "expected ',' or '}'"),
        (#"{"a":1,}"#, "expected a member name"),
        ("[1,]", "unexpected character"),
        (#""\ud800""#, "lone surrogate in \\u escape"),
        ("\"a\u{1}\"", "control character in string"),
        (#"{'a':1}"#, "expected a member name"),
        ("1e999", "number out of range"),
        ("tru", "unexpected end of JSON"),
        ("", "unexpected end of JSON"),
    ])
    func invalidJSONIsRefused(text: String, message: String) {
        guard case let .failure(error) = parse(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(error.message == message)
    }

    @Test func invalidUTF8InAStringIsRefused() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]
        #expect(throws: ClaimValue.JSONError.self) { try ClaimValue.parseJSON(bytes) }
    }
}
