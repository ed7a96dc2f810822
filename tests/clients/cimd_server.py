"""An https server of Client ID Metadata Documents for the gateway's tests: a test CA and a
certificate for 127.0.0.1 made at start (the CA written to CA_FILE, for the gateway's
SSL_CERT_FILE), and on https://127.0.0.1:PORT/
  client.json  a good document (its client_id is its own URL, a loopback redirect URI),
  wrong.json   a document naming another client_id,
  huge.json    10 MB.
Usage: python3 cimd_server.py CA_FILE
Prints {"port": ...} once listening; serves until killed."""

import datetime
import ipaddress
import json
import ssl
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ca_file = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
ca_key = ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "immich-mcp-gateway test CA")])
ca = (
    x509.CertificateBuilder()
    .subject_name(ca_name)
    .issuer_name(ca_name)
    .public_key(ca_key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(minutes=5))
    .not_valid_after(now + datetime.timedelta(days=1))
    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    .sign(ca_key, hashes.SHA256())
)
leaf_key = ec.generate_private_key(ec.SECP256R1())
leaf = (
    x509.CertificateBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
    .issuer_name(ca_name)
    .public_key(leaf_key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(minutes=5))
    .not_valid_after(now + datetime.timedelta(days=1))
    .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    .sign(ca_key, hashes.SHA256())
)
with open(ca_file, "wb") as f:
    f.write(ca.public_bytes(serialization.Encoding.PEM))
chain = tempfile.NamedTemporaryFile(suffix=".pem", delete=False)
chain.write(leaf.public_bytes(serialization.Encoding.PEM))
chain.write(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
chain.close()

port = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        base = f"https://127.0.0.1:{port['n']}"
        if self.path == "/client.json":
            body = json.dumps({"client_id": f"{base}/client.json", "client_name": "CIMD test client",
                               "redirect_uris": ["http://127.0.0.1:33418/callback"],
                               "grant_types": ["authorization_code", "refresh_token"],
                               "response_types": ["code"], "token_endpoint_auth_method": "none"}).encode()
        elif self.path == "/wrong.json":
            body = json.dumps({"client_id": "https://elsewhere.example/client.json",
                               "redirect_uris": ["http://127.0.0.1:33418/callback"]}).encode()
        elif self.path == "/huge.json":
            body = b" " * (10 * 1024 * 1024)
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that stops reading (the 10 MB document) is expected


server = Server(("127.0.0.1", 0), Handler)
port["n"] = server.server_address[1]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(chain.name)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(json.dumps({"port": port["n"]}), flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
