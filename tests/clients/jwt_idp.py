"""A stand-in identity provider for the gateway's JWT mode: an RSA and an EC key pair made at
start, their public halves served as a JWKS at http://127.0.0.1:PORT/jwks.json (the EC key only
after POST /rotate, as a provider rotating keys would), a fetch counter at /fetches, and tokens for
every case the gateway must accept or refuse, printed as one JSON line on standard output.

Usage: python3 jwt_idp.py ISSUER AUDIENCE
The first line printed is {"port": ..., "tokens": {...}}; then it serves until killed."""

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

issuer, audience = sys.argv[1], sys.argv[2]
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_key = ec.generate_private_key(ec.SECP256R1())
other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(public, kid, alg):
    algorithm = RSAAlgorithm if alg.startswith("RS") else ECAlgorithm
    key = json.loads(algorithm.to_jwk(public))
    key.update({"kid": kid, "alg": alg, "use": "sig"})
    return key


state = {"rotated": False, "fetches": 0}


def jwks():
    keys = [jwk(rsa_key.public_key(), "rsa-1", "RS256")]
    if state["rotated"]:
        keys.append(jwk(ec_key.public_key(), "ec-2", "ES256"))
    return {"keys": keys}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


now = int(time.time())
claims = {"iss": issuer, "aud": audience, "sub": "alice", "email": "alice@example.com",
          "groups": ["family"], "iat": now, "nbf": now - 5, "exp": now + 600}


def sign(key, alg, kid, **changes):
    body = dict(claims, **changes)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


public_pem = rsa_key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
unsigned = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode()) + "."
# The classic confusion: HS256 with the RSA public key (as published) as the HMAC secret.
import hmac, hashlib  # noqa: E402
hs_head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
hs_body = b64(json.dumps(claims).encode())
hs_sig = b64(hmac.new(public_pem, f"{hs_head}.{hs_body}".encode(), hashlib.sha256).digest())

tokens = {
    "alice": sign(rsa_key, "RS256", "rsa-1"),
    "bob": sign(rsa_key, "RS256", "rsa-1", sub="bob", email="bob@example.com", groups=["guests"]),
    "stranger": sign(rsa_key, "RS256", "rsa-1", sub="carol", email="carol@example.com", groups=[]),
    "expired": sign(rsa_key, "RS256", "rsa-1", exp=now - 120, iat=now - 720, nbf=now - 720),
    "not_yet": sign(rsa_key, "RS256", "rsa-1", nbf=now + 300),
    "wrong_audience": sign(rsa_key, "RS256", "rsa-1", aud="https://other.example/mcp"),
    "wrong_issuer": sign(rsa_key, "RS256", "rsa-1", iss="https://evil.example"),
    "no_expiry": sign(rsa_key, "RS256", "rsa-1", exp=None),
    "tampered": sign(rsa_key, "RS256", "rsa-1")[:-4] + "AAAA",
    "foreign_key": sign(other_key, "RS256", "rsa-1"),
    "alg_none": unsigned,
    "hs256_public_key": f"{hs_head}.{hs_body}.{hs_sig}",
    "rotated": sign(ec_key, "ES256", "ec-2"),
    "unknown_kid": sign(other_key, "RS256", "nobody"),
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/jwks.json":
            state["fetches"] += 1
            self.answer(200, jwks())
        elif self.path == "/fetches":
            self.answer(200, {"fetches": state["fetches"]})
        else:
            self.answer(404, {})

    def do_POST(self):
        if self.path == "/rotate":
            state["rotated"] = True
            self.answer(200, {})
        else:
            self.answer(404, {})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"port": server.server_address[1], "tokens": tokens}), flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
