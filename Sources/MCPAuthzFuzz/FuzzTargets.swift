import Foundation
import MCPAuthzPolicy
import MCPAuthzServer
import MCPAuthzTokens

/// The readers of hostile input, each fed whatever bytes libFuzzer makes. A target returns
/// normally for any input, accepted or refused; a crash, a hang, a sanitizer report or a broken
/// invariant (`check`) is a finding.
enum FuzzTarget: String, CaseIterable {
    /// A policy file: bounded read, YAML pre-scan, parse, validation, compilation, one decision.
    case policy
    /// A bearer token: header checks, compact JWS parsing, claims, signature and claim checks;
    /// the same bytes as a DPoP proof and as an introspection answer.
    case token
    /// A JSON-RPC request body, as read for a decision.
    case body
    /// A forward-auth call: the proxy's headers, then the body they describe.
    case forward
    /// A call's arguments: `Mcp-Param-*` header lines, an empty line, then a JSON-RPC body;
    /// each read as the sidecar reads it and decided against argument conditions.
    case arguments
}

/// What the targets share, built once before the first input.
struct FuzzContext {
    /// The policy the token and forward targets decide with (`fuzz/policy.yaml`).
    var snapshot: PolicySnapshot
    /// Keys of the policy's issuer, from the JWKS written next to the seeds.
    var keys: IssuerKeys
    /// A scratch file the policy target writes each input to, so it is read as a policy is.
    var policyFile: String
    /// Time the token target verifies at: inside the validity of the seed tokens.
    var now: Double
    /// DPoP proofs the token target's inputs are also read as.
    let dpop = DPoPVerifier()

    func run(_ target: FuzzTarget, _ bytes: UnsafeBufferPointer<UInt8>) {
        switch target {
        case .policy: policy(bytes)
        case .token: token(bytes)
        case .body: body(bytes)
        case .forward: forward(bytes)
        case .arguments: arguments(bytes)
        }
    }

    private func policy(_ bytes: UnsafeBufferPointer<UInt8>) {
        FileManager.default.createFile(atPath: policyFile, contents: Data(buffer: bytes))
        guard let (snapshot, _) = try? PolicySnapshot.load(path: policyFile) else { return }
        for (serverID, server) in snapshot.servers {
            for issuer in server.config.issuers {
                guard let url = snapshot.issuersByURL.first(where: { $0.value.id == issuer })?.key,
                    let identity = snapshot.identity(fromClaims: ["iss": .string(url), "sub": .string("fuzz"), "scope": .string("a b")])
                else { continue }
                for operation in [MCPOperation(method: "tools/call", name: "x"), MCPOperation(method: "initialize")] {
                    let decision = snapshot.decide(DecisionInput(serverID: serverID, identity: identity, operation: operation))
                    check(decision.isAllowed == (decision.status == 200), "a decision's status disagrees with its effect")
                }
            }
        }
        if let issuer = snapshot.issuersByURL.values.first {
            let identity = Identity(claims: [:], issuer: issuer)
            let unknown = snapshot.decide(DecisionInput(serverID: "\u{0}no such server", identity: identity, operation: MCPOperation(method: "ping")))
            check(!unknown.isAllowed, "an unknown server was allowed")
        }
    }

    private func token(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let text = String(validating: bytes, as: UTF8.self) else { return }
        dpopProof(text)
        // An introspection answer is active only when its `active` is the JSON boolean true.
        if case .active = Introspector.answer(Array(bytes), ttl: 60, now: now) {
            check(
                (try? ClaimValue.parseJSON(Array(bytes), maxDepth: 16)).flatMap { value -> Bool? in
                    guard case let .object(members) = value else { return nil }
                    return members["active"] == .bool(true)
                } == true, "an introspection answer without active: true was read as active")
        }
        guard let token = try? BearerTokenExtractor.checked(text), let server = snapshot.servers.values.first?.config else { return }
        guard let verified = try? TokenVerifier().verify(token, for: server, in: snapshot, keys: { _ in keys }, now: now) else { return }
        // Whatever was accepted carried a signature by the issuer's key and a live exp.
        check(verified.expiresAt + 60 >= now, "an expired token was accepted")
        check(verified.issuerID == server.issuers.first?.value, "a token of another issuer was accepted")
    }

    /// The same bytes as a DPoP proof for a token bound to a key nobody has: never accepted.
    private func dpopProof(_ text: String) {
        guard let issuer = snapshot.issuersByURL.values.first else { return }
        let bound = VerifiedToken(
            identity: Identity(claims: ["cnf": .object(["jkt": .string("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")])], issuer: issuer),
            issuerID: issuer.id.value, kid: nil, expiresAt: now + 60
        )
        let presented = PresentedToken(
            token: "t", scheme: .dpop, proofs: [text], request: DPoPRequest(method: "POST", url: "https://server.example.com/token")
        )
        let accepted = (try? dpop.check(presented, token: bound, mode: .allowed, leeway: 60, now: now)) != nil
        check(!accepted, "a fuzzed DPoP proof was accepted for a key nobody holds")
    }

    private func body(_ bytes: UnsafeBufferPointer<UInt8>) {
        let limits = MCPBodyLimits()
        guard let messages = try? MCPRequestBody.messages(bytes, limits: limits) else { return }
        check(!messages.isEmpty && messages.count <= limits.maxBatch, "a body gave \(messages.count) messages")
    }

    /// Input: header lines (`Name: value`), an empty line, then the body.
    private func forward(_ bytes: UnsafeBufferPointer<UInt8>) {
        let all = Array(bytes)
        let split = all.indices.first { all[$0] == 10 && $0 + 1 < all.count && all[$0 + 1] == 10 }
        let head = String(decoding: all[..<(split ?? all.count)], as: UTF8.self)
        var headers: [(String, String)] = []
        for line in head.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        func header(_ name: String) -> [String] {
            headers.filter { $0.0.caseInsensitiveCompare(name) == .orderedSame }.map(\.1)
        }
        guard var request = try? ForwardedRequest(header: header, callMethod: "GET", pathAfterAuth: nil, authority: "fuzz.example") else {
            return
        }
        // Whatever the query holds, the path that routes the request starts with '/' and has no
        // dot segment and no '//' (bytes, as the proxy sees them, not Swift characters).
        let path = Array(request.path.utf8)
        let segments = path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        check(
            path.first == UInt8(ascii: "/") && !segments.contains { $0.elementsEqual("..".utf8) || $0.elementsEqual(".".utf8) }
                && segments.dropLast().allSatisfy { !$0.isEmpty },
            "a non-canonical path was accepted: \(request.path)"
        )
        if let split { request.body = Array(all[(split + 2)...]) }
        _ = snapshot.router.serverID(host: request.host, path: String(request.path))
        _ = try? request.messages(limits: MCPBodyLimits())
    }

    /// Input: `Name: value` lines for `Mcp-Param-{Name}`, an empty line, then the body.
    private func arguments(_ bytes: UnsafeBufferPointer<UInt8>) {
        let all = Array(bytes)
        let split = all.indices.first { all[$0] == 10 && $0 + 1 < all.count && all[$0 + 1] == 10 }
        var parameters: [(String, String)] = []
        for line in String(decoding: all[..<(split ?? all.count)], as: UTF8.self).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            parameters.append(("Mcp-Param-" + line[..<colon], String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        func header(_ name: String) -> [String] {
            parameters.filter { $0.0.caseInsensitiveCompare(name) == .orderedSame }.map(\.1)
        }
        guard let server = snapshot.servers["fuzz"], let catalog = server.config.catalog,
            let issuer = snapshot.issuers["fuzz-idp"]
        else { fatalError("the fuzz policy has no server 'fuzz' with a catalog") }
        let identity = Identity(claims: ["sub": .string("fuzz-user"), "scope": .string("read")], issuer: issuer)
        var operations: [MCPOperation] = []
        if let arguments = try? ForwardedRequest.headerArguments(of: "export", catalog: catalog, header: header) {
            operations.append(MCPOperation(method: "tools/call", name: "export", arguments: arguments))
        }
        if let split, let messages = try? MCPRequestBody.messages(all[(split + 2)...], limits: MCPBodyLimits()) {
            for case let .call(operation) in messages {
                operations.append(operation)
                _ = try? ForwardedRequest.checkParameters(operation, catalog: catalog, header: header)
            }
        }
        for operation in operations {
            let decision = snapshot.decide(DecisionInput(serverID: "fuzz", identity: identity, operation: operation))
            check(decision.isAllowed == (decision.status == 200), "a decision's status disagrees with its effect")
            // A call that is allowed could be allowed: listing never hides what may be called.
            var anyCall = operation
            anyCall.arguments = .any
            if decision.isAllowed {
                check(
                    snapshot.decide(DecisionInput(serverID: "fuzz", identity: identity, operation: anyCall)).isAllowed,
                    "an allowed call's tool would be hidden from a list")
            }
            // Arguments the decision could not see never allow what seen arguments would not.
            if decision.reason == .argumentsUnavailable { check(!decision.isAllowed, "unseen arguments allowed a call") }
        }
    }

    private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("invariant broken: \(message())") }
    }
}
