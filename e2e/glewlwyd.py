"""A real OpenID Connect server for the end-to-end suite: glewlwyd (Debian's package), set up at
start with a fresh SQLite database, an RS256 key made now, the OIDC plugin with discovery and
JWKS, a `read:todos` scope whose tokens may name the todos MCP server as their resource
(RFC 8707), and a confidential client allowed the client_credentials grant. Its access tokens
are RFC 9068 JWTs (`typ: at+jwt`). A second OIDC plugin, `opaque` (its own issuer URL and key),
serves RFC 7662 introspection and RFC 7009 revocation; glewlwyd lets a client introspect the
tokens it was issued, so the sidecar introspects as that client.
"""
import gzip
import http.cookiejar
import json
import pathlib
import sqlite3
import subprocess
import time
import urllib.parse
import urllib.request

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

SCHEMA = pathlib.Path("/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz")
CONFIG = pathlib.Path("/etc/glewlwyd/glewlwyd.conf")


class Glewlwyd:
    client_id, client_secret = "mcp-agent", "agent-secret"

    def __init__(self, work, port, resource):
        self.work, self.port = work, port
        self.api = f"http://127.0.0.1:{port}/api"
        self.issuer = self.api + "/oidc"
        self.opaque_issuer = self.api + "/opaque"
        database = work / "glewlwyd.db"
        connection = sqlite3.connect(database)
        connection.executescript(gzip.decompress(SCHEMA.read_bytes()).decode())
        connection.commit()
        connection.close()
        config = CONFIG.read_text().replace("port=4593", f"port={port}")
        config = config.replace('external_url="http://localhost:4593/"', f'external_url="http://127.0.0.1:{port}"')
        config = config.replace('log_file="/var/log/glewlwyd.log"', f'log_file="{work}/glewlwyd-server.log"')
        config = config.replace('@include "/etc/glewlwyd/glewlwyd-db.conf"',
                                f'database =\n{{\n  type = "sqlite3"\n  path = "{database}"\n}};')
        (work / "glewlwyd.conf").write_text(config)
        log = open(work / "glewlwyd.log", "w")
        self.process = subprocess.Popen(["glewlwyd", f"--config-file={work / 'glewlwyd.conf'}"], stdout=log, stderr=subprocess.STDOUT)
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        deadline = time.time() + 30
        while True:
            try:
                self.admin("POST", "/auth/", {"username": "admin", "password": "password"})
                break
            except OSError:
                if time.time() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"glewlwyd did not start: see {work}/glewlwyd.log")
                time.sleep(0.1)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
        private.update({"kid": "glewlwyd-1", "alg": "RS256", "use": "sig"})
        self.admin("POST", "/scope/", {"name": "read:todos", "display_name": "Read todos", "description": "Read todos",
                                       "password_required": False, "password_max_age": 0, "scheme": {}})
        self.admin("POST", "/mod/plugin/", {"module": "oidc", "name": "oidc", "display_name": "OIDC", "enabled": True,
                                            "parameters": self.plugin_parameters(self.issuer, private, resource)})
        second = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        second_private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(second))
        second_private.update({"kid": "glewlwyd-opaque-1", "alg": "RS256", "use": "sig"})
        self.admin("POST", "/mod/plugin/", {"module": "oidc", "name": "opaque", "display_name": "Introspected", "enabled": True, "parameters": {
            **self.plugin_parameters(self.opaque_issuer, second_private, resource),
            "introspection-revocation-allowed": True, "introspection-revocation-allow-target-client": True,
            "introspection-revocation-auth-scope": []}})
        self.admin("POST", "/client/?source=database", {
            "client_id": self.client_id, "name": "MCP agent", "password": self.client_secret, "confidential": True, "enabled": True,
            "scope": ["read:todos"], "authorization_type": ["client_credentials"],
            "token_endpoint_auth_method": ["client_secret_basic"], "redirect_uri": []})

    @staticmethod
    def plugin_parameters(issuer, private, resource):
        return {
            "iss": issuer, "jwks-private": json.dumps({"keys": [private]}), "default-kid": private["kid"], "jwks-show": True,
            "jwt-type": "rsa", "jwt-key-size": "256", "access-token-duration": 3600, "refresh-token-duration": 1209600,
            "code-duration": 600, "refresh-token-rolling": False, "allow-non-oidc": True, "auth-type-client-enabled": True,
            "auth-type-code-enabled": False, "auth-type-token-enabled": False, "auth-type-password-enabled": False,
            "auth-type-refresh-enabled": False, "auth-type-implicit-enabled": False, "auth-type-device-enabled": False,
            "auth-type-none-enabled": False, "subject-type": "public", "scope": [], "claims": [], "resource-allowed": True,
            "resource-scope": {"read:todos": [resource]}, "resource-client-property": "", "restrict-scope-client-property": "",
            "oauth-as-iss-id": False, "pkce-allowed": False, "introspection-revocation-allowed": False,
            "register-client-allowed": False, "session-management-allowed": False, "request-parameter-allow": False}

    def admin(self, method, path, body):
        request = urllib.request.Request(self.api + path, data=json.dumps(body).encode(), method=method,
                                         headers={"Content-Type": "application/json"})
        with self.opener.open(request, timeout=10) as response:
            return response.status

    def basic(self):
        return "Basic " + __import__("base64").b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()

    def token(self, scope="read:todos", resource=None, issuer=None):
        """An access token by the client_credentials grant (from the `opaque` plugin when
        `issuer` is its URL)."""
        form = {"grant_type": "client_credentials", "scope": scope}
        if resource:
            form["resource"] = resource
        request = urllib.request.Request((issuer or self.issuer) + "/token", data=urllib.parse.urlencode(form).encode(),
                                         headers={"Authorization": self.basic()})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["access_token"]

    def revoke(self, token):
        """Revokes a token of the `opaque` plugin (RFC 7009)."""
        request = urllib.request.Request(self.opaque_issuer + "/revoke", data=urllib.parse.urlencode({"token": token}).encode(),
                                         headers={"Authorization": self.basic()})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
