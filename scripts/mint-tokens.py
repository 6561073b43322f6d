#!/usr/bin/env python3
"""Mint JWTs with chosen claims by an independent library (PyJWT + cryptography).

Reads a JSON spec on stdin:
  {"issuer": "...", "kid": "k1", "tokens": {"name": {claims...}, ...}}
Claims may use "exp_in", "nbf_in", "iat_in": seconds from now, replaced by absolute times
("exp_in" defaults to 3600; "iat" defaults to now). A "_header" object adds JOSE header fields.
Writes {"jwks": {...}, "tokens": {"name": "compact JWS"}, "now": seconds} to stdout.
A fresh RSA-2048 key is made every run and never written anywhere.
"""
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

spec = json.load(sys.stdin)
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
kid = spec.get("kid", "k1")
jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
now = int(time.time())
tokens = {}
for name, claims in spec["tokens"].items():
    claims = dict(claims)
    header = {"kid": kid, **claims.pop("_header", {})}
    claims.setdefault("iss", spec["issuer"])
    claims.setdefault("iat", now)
    claims["exp"] = now + claims.pop("exp_in", 3600)
    for relative, absolute in (("nbf_in", "nbf"), ("iat_in", "iat")):
        if relative in claims:
            claims[absolute] = now + claims.pop(relative)
    tokens[name] = jwt.encode(claims, key, algorithm="RS256", headers=header)
json.dump({"jwks": {"keys": [jwk]}, "tokens": tokens, "now": now}, sys.stdout)
