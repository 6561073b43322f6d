#!/usr/bin/env python3
"""Mint JWTs for mcp-authz's token tests with an independent library (PyJWT + cryptography).

Usage: mint-test-tokens.py OUTDIR [ISSUER]

Writes, into OUTDIR, fresh keys every run (no key is ever committed):
  jwks.json    the issuer's public keys, plus keys a verifier must skip (enc, oct, weak RSA, private)
  jwks_rotated.json  the same issuer after a rotation: only the key "rsa-next"
  jwks_shapes.json   {provider: JWKS} in the shapes Auth0, Google, Entra ID, Keycloak and
                     Cloudflare Access publish (x5c chains, no alg, several keys, enc keys, extra
                     top-level fields); tokens "shape_<provider>" are signed by their first key
  tokens.json  {case name: compact JWS}
  meta.json    {"now": seconds used as the current time, "issuer", "resource", "audience"}
The Swift tests verify these tokens with mcp-authz and assert each case's outcome.
"""
import base64
import datetime
import hashlib
import hmac
import json
import pathlib
import sys
import time
import warnings

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

ISSUER = sys.argv[2] if len(sys.argv) > 2 else "https://idp.test.example/"
RESOURCE = "https://mcp.test.example/mcp"
AUDIENCE = "urn:mcp-api"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key, kid, alg=None, use="sig"):
    """The JWK of a public key; without alg it may serve every algorithm of its type."""
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg or "RS256"].to_jwk(key))
    jwk.pop("alg", None)
    jwk["kid"] = kid
    if alg:
        jwk["alg"] = alg
    if use:
        jwk["use"] = use
    return jwk


def self_signed_der(key, name):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def provider_shapes(rsa_keys, ec_key):
    """JWKS documents shaped like those real providers publish, around freshly made keys."""
    def rsa_fields(key):
        numbers = key.public_key().public_numbers()
        return {"kty": "RSA", "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                "e": b64url(numbers.e.to_bytes(3, "big"))}

    def x5(key, name):
        der = self_signed_der(key, name)
        return {"x5c": [base64.b64encode(der).decode()], "x5t": b64url(hashlib.sha1(der).digest()),
                "x5t#S256": b64url(hashlib.sha256(der).digest())}

    a, b, c = rsa_keys
    auth0 = {"keys": [
        {"alg": "RS256", "use": "sig", "kid": "auth0-1", **rsa_fields(a), **{k: v for k, v in x5(a, "auth0").items() if k != "x5t#S256"}},
        {"alg": "RS256", "use": "sig", "kid": "auth0-2", **rsa_fields(b), **{k: v for k, v in x5(b, "auth0").items() if k != "x5t#S256"}},
    ]}
    google = {"keys": [
        {"e": rsa_fields(a)["e"], "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "google-1", "n": rsa_fields(a)["n"]},
        {"e": rsa_fields(b)["e"], "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "google-2", "n": rsa_fields(b)["n"]},
    ]}
    entra = {"keys": [
        {"kty": "RSA", "use": "sig", "kid": "entra-1", **rsa_fields(a), **x5(a, "accounts.accesscontrol.windows.net"),
         "cloud_instance_name": "microsoftonline.com", "issuer": "https://login.microsoftonline.com/tenant/v2.0"},
        {"kty": "RSA", "use": "sig", "kid": "entra-2", **rsa_fields(b), **x5(b, "accounts.accesscontrol.windows.net"),
         "cloud_instance_name": "microsoftonline.com"},
    ]}
    ec_numbers = ec_key.public_key().public_numbers()
    keycloak = {"keys": [
        {"kid": "keycloak-1", "kty": "RSA", "alg": "RS256", "use": "sig", **rsa_fields(a), **x5(a, "platform")},
        {"kid": "keycloak-enc", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc", **rsa_fields(c), **x5(c, "platform")},
        {"kid": "keycloak-ec", "kty": "EC", "alg": "ES256", "use": "sig", "crv": "P-256",
         "x": b64url(ec_numbers.x.to_bytes(32, "big")), "y": b64url(ec_numbers.y.to_bytes(32, "big"))},
    ]}
    cloudflare = {
        "keys": [
            {"kid": "cf-1", "kty": "RSA", "alg": "RS256", "use": "sig", **rsa_fields(a)},
            {"kid": "cf-2", "kty": "RSA", "alg": "RS256", "use": "sig", **rsa_fields(b)},
        ],
        "public_cert": {"kid": "cf-1", "cert": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"},
        "public_certs": [{"kid": "cf-1", "cert": "..."}, {"kid": "cf-2", "cert": "..."}],
    }
    return {"auth0": auth0, "google": google, "entra": entra, "keycloak": keycloak, "cloudflare": cloudflare}


def main() -> int:
    warnings.simplefilter("ignore")  # the deliberately weak test key makes PyJWT warn
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    now = int(time.time())

    rsa_main = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    rsa_next = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_main = ec.generate_private_key(ec.SECP256R1())
    ed_main = ed25519.Ed25519PrivateKey.generate()

    jwks = {"keys": [
        public_jwk(rsa_main.public_key(), "rsa-1"),            # no alg: serves RS* and PS*
        public_jwk(ec_main.public_key(), "ec-1", "ES256"),
        public_jwk(ed_main.public_key(), "ed-1", "EdDSA"),
        public_jwk(rsa_weak.public_key(), "rsa-weak"),        # below 2048 bits: skipped
        dict(public_jwk(rsa_other.public_key(), "rsa-enc"), use="enc"),  # encryption key: skipped
        {"kty": "oct", "kid": "hmac-1", "k": b64url(b"shared secret")},  # symmetric: skipped
    ]}

    def claims(**overrides):
        base = {"iss": ISSUER, "sub": "user-1", "aud": RESOURCE, "iat": now - 10, "exp": now + 600,
                "email": "alice@example.com", "scope": "read:todos write:todos"}
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def sign(key, alg, kid, payload=None, **header):
        headers = {"kid": kid} if kid is not None else {}
        headers.update(header)
        return jwt.encode(payload or claims(), key, algorithm=alg, headers=headers)

    rsa_public_pem = rsa_main.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def handmade(header, payload, signature=b""):
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
        return signing_input + "." + b64url(signature), signing_input

    none_token, _ = handmade({"alg": "none", "kid": "rsa-1"}, claims())
    none_upper, _ = handmade({"alg": "NONE", "kid": "rsa-1"}, claims())
    hs_header = {"alg": "HS256", "kid": "rsa-1"}
    _, hs_input = handmade(hs_header, claims())
    hs_token = hs_input + "." + b64url(hmac.new(rsa_public_pem, hs_input.encode(), hashlib.sha256).digest())
    valid = sign(rsa_main, "RS256", "rsa-1")
    # Two "sub" members, validly signed: which one would a relying party read? Refused.
    dup_input = (b64url(json.dumps({"alg": "RS256", "kid": "rsa-1"}).encode()) + "." +
                 b64url(('{"iss":"%s","sub":"alice","sub":"admin","aud":"%s","exp":%d}' % (ISSUER, RESOURCE, now + 600)).encode()))
    duplicated = dup_input + "." + b64url(rsa_main.sign(dup_input.encode(), padding.PKCS1v15(), hashes.SHA256()))
    stripped = valid.rsplit(".", 1)[0] + "."

    tokens = {
        "valid_rs256": valid,
        "valid_ps256": sign(rsa_main, "PS256", "rsa-1"),
        "valid_es256": sign(ec_main, "ES256", "ec-1"),
        "valid_eddsa": sign(ed_main, "EdDSA", "ed-1"),
        "valid_at_jwt": sign(rsa_main, "RS256", "rsa-1", typ="at+jwt"),
        "valid_application_at_jwt": sign(rsa_main, "RS256", "rsa-1", typ="application/at+jwt"),
        "aud_array_with_audience": sign(rsa_main, "RS256", "rsa-1", claims(aud=["other", AUDIENCE])),
        "aud_wrong": sign(rsa_main, "RS256", "rsa-1", claims(aud="https://elsewhere.example/mcp")),
        "aud_missing": sign(rsa_main, "RS256", "rsa-1", claims(aud=None)),
        "iss_wrong": sign(rsa_main, "RS256", "rsa-1", claims(iss="https://evil.example/")),
        "iss_missing": sign(rsa_main, "RS256", "rsa-1", claims(iss=None)),
        "expired": sign(rsa_main, "RS256", "rsa-1", claims(exp=now - 3600)),
        "expired_within_leeway": sign(rsa_main, "RS256", "rsa-1", claims(exp=now - 30)),
        "exp_missing": sign(rsa_main, "RS256", "rsa-1", claims(exp=None)),
        "exp_string": sign(rsa_main, "RS256", "rsa-1", claims(exp=str(now + 600))),
        "exp_huge": sign(rsa_main, "RS256", "rsa-1", claims(exp=10**30)),
        "exp_negative": sign(rsa_main, "RS256", "rsa-1", claims(exp=-1)),
        "nbf_huge": sign(rsa_main, "RS256", "rsa-1", claims(nbf=2**63)),
        "nbf_future": sign(rsa_main, "RS256", "rsa-1", claims(nbf=now + 3600)),
        "iat_future": sign(rsa_main, "RS256", "rsa-1", claims(iat=now + 3600)),
        "unknown_kid": sign(rsa_other, "RS256", "rsa-9"),
        "unknown_kid_signed_by_known_key": sign(rsa_main, "RS256", "rsa-9"),
        "known_kid_other_key": sign(rsa_other, "RS256", "rsa-1"),
        "no_kid": sign(rsa_main, "RS256", None),
        "weak_key_kid": sign(rsa_weak, "RS256", "rsa-weak"),
        "enc_key_kid": sign(rsa_other, "RS256", "rsa-enc"),
        "alg_not_allowed_rs384": sign(rsa_main, "RS384", "rsa-1"),
        "es256_claiming_rsa_kid": sign(ec_main, "ES256", "rsa-1"),
        "alg_none": none_token,
        "alg_none_upper": none_upper,
        "hs256_with_rsa_public_key": hs_token,
        "signature_stripped": stripped,
        "duplicated_claims": duplicated,
        "jku_elsewhere": sign(rsa_main, "RS256", "rsa-1", jku="https://attacker.example/jwks.json"),
        # Headers pointing at the issuer's own host, so a test can see that nothing fetches them.
        "key_urls_on_issuer_host": sign(rsa_main, "RS256", "rsa-9", jku=ISSUER + "attacker/jwks.json",
                                        x5u=ISSUER + "attacker/cert.pem",
                                        jwk=public_jwk(rsa_main.public_key(), "rsa-9")),
        "crit_unknown": sign(rsa_main, "RS256", "rsa-1", crit=["exp-ext"], **{"exp-ext": 1}),
        "typ_jwt": sign(rsa_main, "RS256", "rsa-1", typ="JWT"),
        "signed_by_next_key": sign(rsa_next, "RS256", "rsa-next"),
        "identity_claims": sign(rsa_main, "RS256", "rsa-1", claims(
            email="Bob@Example.COM", email_verified=True, azp="cli-app", groups=["admins", "devs"],
            scp=["read:billing"], permissions=["write:billing"])),
    }

    (out / "jwks.json").write_text(json.dumps(jwks, indent=1))
    shapes = provider_shapes((rsa_main, rsa_other, rsa_next), ec_main)
    for provider, document in shapes.items():
        tokens["shape_" + provider] = sign(rsa_main, "RS256", document["keys"][0]["kid"])
    (out / "jwks_shapes.json").write_text(json.dumps(shapes, indent=1))
    (out / "jwks_rotated.json").write_text(json.dumps({"keys": [public_jwk(rsa_next.public_key(), "rsa-next", "RS256")]}))
    (out / "tokens.json").write_text(json.dumps(tokens, indent=1))
    (out / "meta.json").write_text(json.dumps({"now": now, "issuer": ISSUER, "resource": RESOURCE, "audience": AUDIENCE}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
