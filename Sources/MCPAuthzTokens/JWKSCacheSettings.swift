/// How an issuer's keys are fetched and kept. Defaults suit public identity providers.
package struct JWKSCacheSettings: Sendable {
    /// Deadline for one HTTP fetch (discovery or JWKS).
    package var fetchTimeout: Duration = .seconds(5)
    /// At most one refresh caused by an unknown `kid` per issuer in this interval.
    package var minRefreshInterval: Duration = .seconds(30)
    /// Refresh interval when the JWKS response has no usable `Cache-Control: max-age`.
    package var defaultRefreshInterval: Duration = .seconds(300)
    /// `max-age` is honoured within these bounds.
    package var minMaxAge: Duration = .seconds(60)
    package var maxMaxAge: Duration = .seconds(86_400)
    /// Wait before retrying after a failed refresh.
    package var retryInterval: Duration = .seconds(15)
    /// How long last good keys keep serving after they were due for refresh, while refreshes
    /// fail (stale-if-error). Past it the issuer is unavailable and its tokens are refused.
    package var maxStale: Duration = .seconds(86_400)
    /// Largest discovery or JWKS document read.
    package var maxDocumentBytes = 512 * 1024
    /// Most keys read from one JWKS.
    package var maxKeys = 100

    package init() {}
}
