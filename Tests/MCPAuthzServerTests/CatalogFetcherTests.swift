import MCPAuthzPolicy
import MCPAuthzServer
import Testing

/// How `mcp-authz catalog fetch` reads a server's answers: one JSON body or an SSE stream.
@Suite struct CatalogFetcherTests {
    func messages(_ text: String, _ type: String) throws -> [ClaimValue] {
        try CatalogFetcher.messages(in: Array(text.utf8), contentType: type)
    }

    @Test func readsJSONBodiesAndBatches() throws {
        #expect(try messages(#"{"jsonrpc":"2.0","id":1,"result":{}}"#, "application/json; charset=utf-8").count == 1)
        #expect(try messages(#"[{"id":1},{"id":2}]"#, "application/json").count == 2)
    }

    @Test func readsCompleteEventsOfAStreamOnly() throws {
        let stream = ": comment\r\nevent: message\r\nid: 1\r\ndata: {\"id\": 1,\r\ndata: \"result\": {}}\r\n\r\nevent: message\ndata: {\"id\": 2}\n\n"
        let read = try messages(stream, "text/event-stream")
        #expect(read.count == 2)
        #expect(read.first?.description == #"{"id": 1, "result": {}}"#)
        // An event the stream ended inside is never dispatched.
        #expect(try messages("data: {\"id\": 1}\n\ndata: {\"id\": 2}\n", "text/event-stream").count == 1)
    }

    @Test func refusesWhatItCannotRead() {
        #expect(throws: CatalogFetchError.self) { try messages("<html>", "text/html") }
        #expect(throws: CatalogFetchError.self) { try messages("{", "application/json") }
        #expect(throws: CatalogFetchError.self) { try messages("data: nope\n\n", "text/event-stream") }
    }
}
