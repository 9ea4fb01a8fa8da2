"""Tests of the FIT-Connect delivery-service double (simulators/fitconnect.py) and its portal double.

The test plays the receiver (Stadtbus's part) with an implementation independent of the double's:
the double and the portal use joserfc; here JWEs are decrypted and SETs signed and verified with
``cryptography``'s primitives directly (RSA-OAEP with SHA-256, AES-256-GCM, RSASSA-PSS with SHA-512
and a 64-byte salt), callback HMACs are recomputed with the standard library's ``hmac`` (the double
uses ``cryptography``'s), and the destination's keys and JWKs are made here, not with the double's
``keys`` command (which has a test of its own). Every refusal of the double is tested next to the
happy path. Offline, ports bound to 0, no sleeps.

Run from the repository root: ``run/venv/bin/python -m unittest discover -s simulators/tests -t .``
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SIMULATORS = Path(__file__).resolve().parent.parent
REPO = SIMULATORS.parent
if str(SIMULATORS) not in sys.path:
    sys.path.insert(0, str(SIMULATORS))
os.environ.setdefault("STADTBUS_SHARED", str(REPO.parent / "shared"))

import jsonschema  # noqa: E402
from cryptography.exceptions import InvalidSignature, InvalidTag  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

import common  # noqa: E402
import fitconnect  # noqa: E402
import fitconnect_portal  # noqa: E402

SHARED = Path(os.environ["STADTBUS_SHARED"])
METADATA_SCHEMA = json.loads((SHARED / "fit-connect" / "metadata.schema.v1.0.0.json").read_text(encoding="utf-8"))
XBETEILIGUNG_XSD = SHARED / "xoev" / "xbeteiligung-1.2" / "schemas" / "xbeteiligung-kommunaleBauleitplanung.xsd"
EVENTS = "https://schema.fitko.de/fit-connect/events/"
SET_SCHEMA = "https://schema.fitko.de/fit-connect/set-payload/{}/set-payload.schema.json"
REGION = "DE010610046046"
SERVICE = "urn:de:fim:leika:leistung:99000000000000"
CALLBACK_SECRET = "test-callback-secret-" + "x" * 40



# --------------------------------------------------------------------------- independent JOSE (cryptography)

def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str, key_ops: list[str]) -> dict:
    numbers = key.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "kid": kid, "alg": alg, "key_ops": key_ops, "n": b64e(n), "e": b64e(e)}


def public_key_of(jwk: dict) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(int.from_bytes(b64d(jwk["e"]), "big"),
                                int.from_bytes(b64d(jwk["n"]), "big")).public_key()


def jwe_decrypt(token: str, key: rsa.RSAPrivateKey) -> tuple[dict, bytes]:
    """RFC 7516 compact, RSA-OAEP-256 + A256GCM, by hand: (protected header, plaintext)."""
    protected, encrypted_key, iv, ciphertext, tag = token.split(".")
    header = json.loads(b64d(protected))
    assert header["alg"] == "RSA-OAEP-256" and header["enc"] == "A256GCM", header
    cek = key.decrypt(b64d(encrypted_key), padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                        label=None))
    plaintext = AESGCM(cek).decrypt(b64d(iv), b64d(ciphertext) + b64d(tag), protected.encode("ascii"))
    return header, plaintext


PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)


def jws_sign(header: dict, claims: dict, key: rsa.RSAPrivateKey) -> str:
    signing_input = b64e(json.dumps(header).encode()) + "." + b64e(json.dumps(claims).encode())
    return signing_input + "." + b64e(key.sign(signing_input.encode("ascii"), PSS, hashes.SHA512()))


def jws_verify(token: str, jwk: dict) -> tuple[dict, dict]:
    header, payload, signature = token.split(".")
    public_key_of(jwk).verify(b64d(signature), f"{header}.{payload}".encode("ascii"), PSS, hashes.SHA512())
    return json.loads(b64d(header)), json.loads(b64d(payload))


# --------------------------------------------------------------------------- fixtures

KEYS: dict = {}


def setUpModule() -> None:  # noqa: N802 (unittest naming)
    KEYS["log_stream"] = common.log_stream
    common.log_stream = open(os.devnull, "w")  # the double's event lines would drown the test output
    KEYS["service"] = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    KEYS["encryption"] = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    KEYS["signing"] = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    KEYS["other"] = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    KEYS["small"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def tearDownModule() -> None:  # noqa: N802
    common.log_stream.close()
    common.log_stream = KEYS["log_stream"]


class CallbackSink:
    """A callback receiver on a free port that records what arrives (headers, raw body, time)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.condition = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.condition:
                    sink.received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                                          "at": time.time()})
                    sink.condition.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/callback"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict]:
        with self.condition:
            self.condition.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class DoubleTestCase(unittest.TestCase):
    """A fresh double per test with one active destination (keys made here) and two clients."""

    def setUp(self) -> None:
        self.server, self.service = fitconnect.make_server(service_key=KEYS["service"], routing_key=KEYS["other"])
        self.server.start_background()
        self.addCleanup(self.server.httpd.server_close)
        self.addCleanup(self.server.shutdown)
        self.base = f"http://127.0.0.1:{self.server.port}"
        self.destination_id = str(uuid.uuid4())
        self.encryption_jwk = public_jwk(KEYS["encryption"], "enc-" + uuid.uuid4().hex[:12], "RSA-OAEP-256",
                                         ["wrapKey"])
        self.signing_jwk = public_jwk(KEYS["signing"], "sig-" + uuid.uuid4().hex[:12], "PS512", ["verify"])
        self.sink = CallbackSink()
        self.addCleanup(self.sink.close)
        status, answer = self.control({"destination": self.destination_config()})
        self.assertEqual(200, status, answer)
        self.receiver = ("stadtbus", "receiver-secret-0123456789")
        self.sender = ("portal", "sender-secret-0123456789")

    def destination_config(self, **changes: object) -> dict:
        config = {
            "destinationId": self.destination_id, "status": "active",
            "encryptionPublicKey": self.encryption_jwk, "signingPublicKey": self.signing_jwk,
            "services": [{"identifier": SERVICE, "regions": [REGION],
                          "submissionSchemas": [{"schemaUri": "https://www.xleitstelle.de/xbeteiligung/12",
                                                 "mimeType": "application/xml"}]}],
            "metadataVersions": ["1.0.0"],
            "callback": {"url": self.sink.url, "secret": CALLBACK_SECRET},
            "clients": [{"clientId": "stadtbus", "clientSecret": "receiver-secret-0123456789",
                         "scopes": [f"subscribe:destination:{self.destination_id}"]},
                        {"clientId": "portal", "clientSecret": "sender-secret-0123456789",
                         "scopes": ["send:region:DE01061"]}],
        }
        config.update(changes)
        return config

    # ---- HTTP

    def control(self, body: dict) -> tuple[int, dict]:
        return common.post_json(self.base + "/control", body)

    def call(self, method: str, path: str, body: bytes | str | dict | None = None, token: str | None = None,
             content_type: str | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
        if isinstance(body, dict):
            body, content_type = json.dumps(body).encode(), content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        request_headers = dict(headers or {})
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
        if content_type:
            request_headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=body, headers=request_headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()

    def token(self, client: tuple[str, str], **extra: str) -> str:
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": client[0],
                                       "client_secret": client[1], **extra})
        status, _, body = self.call("POST", "/token", form, content_type="application/x-www-form-urlencoded")
        self.assertEqual(200, status, body)
        return json.loads(body)["access_token"]

    def assert_problem(self, answer: tuple[int, dict, bytes], status: int, code: str | None = None) -> dict:
        got_status, headers, body = answer
        self.assertEqual(status, got_status, body[:500])
        self.assertEqual("application/problem+json", headers.get("content-type"))
        problem = json.loads(body)
        for member in ("type", "title", "status", "detail", "instance"):
            self.assertIn(member, problem)
        self.assertEqual(status, problem["status"])
        if code:
            self.assertEqual(fitconnect.PROBLEM_BASE + code, problem["type"], problem["detail"])
        return problem

    # ---- the portal double and the receiver's steps

    def portal(self) -> fitconnect_portal.PortalClient:
        return fitconnect_portal.PortalClient(self.base, *self.sender)

    def send(self, variant: str = "ok") -> tuple[dict, fitconnect_portal.Prepared]:
        return fitconnect_portal.send(self.portal(), self.destination_id, variant)

    def fetch(self, submission_id: str, token: str | None = None) -> dict:
        status, _, body = self.call("GET", f"/v1/submissions/{submission_id}", token=token or self.token(self.receiver))
        self.assertEqual(200, status, body)
        return json.loads(body)

    def receive(self, submission_id: str) -> dict:
        """Fetches and decrypts a submission like a receiver: metadata, data, attachments and their tags."""
        token = self.token(self.receiver)
        submission = self.fetch(submission_id, token)
        header, metadata = jwe_decrypt(submission["encryptedMetadata"], KEYS["encryption"])
        self.assertEqual(self.encryption_jwk["kid"], header["kid"])
        self.assertNotIn("zip", header)
        result = {"submission": submission, "metadata": json.loads(metadata), "metadataHeader": header,
                  "attachments": {}, "tags": {"metadata": submission["encryptedMetadata"].split(".")[4],
                                              "data": submission["encryptedData"].split(".")[4], "attachments": {}}}
        try:
            result["dataHeader"], result["data"] = jwe_decrypt(submission["encryptedData"], KEYS["encryption"])
        except InvalidTag:
            result["data"] = None
        for aid in submission["attachments"]:
            status, headers, body = self.call("GET", f"/v1/submissions/{submission_id}/attachments/{aid}",
                                              token=token)
            self.assertEqual(200, status)
            self.assertEqual("application/jose", headers["content-type"])
            jwe = body.decode("ascii")
            result["attachments"][aid] = jwe_decrypt(jwe, KEYS["encryption"])[1]
            result["tags"]["attachments"][aid] = jwe.split(".")[4]
        return result

    def set_claims(self, submission: dict, event: str = "accept-submission", payload: dict | None = None,
                   **changes: object) -> dict:
        claims = {"$schema": SET_SCHEMA.format("1.2.2"), "jti": str(uuid.uuid4()), "iss": self.destination_id,
                  "iat": int(time.time()), "sub": f"submission:{submission['submissionId']}",
                  "txn": f"case:{submission['caseId']}", "events": {EVENTS + event: payload or {}}}
        claims.update(changes)
        return claims

    def post_set(self, case_id: str, claims: dict, header: dict | None = None, key: rsa.RSAPrivateKey | None = None,
                 content_type: str = "application/jose") -> tuple[int, dict, bytes]:
        header = header or {"typ": "secevent+jwt", "alg": "PS512", "kid": self.signing_jwk["kid"]}
        token = jws_sign(header, claims, key or KEYS["signing"])
        return self.call("POST", f"/v1/cases/{case_id}/events", token, token=self.token(self.receiver),
                         content_type=content_type)

    def event_log(self, case_id: str) -> list[str]:
        status, _, body = self.call("GET", f"/v1/cases/{case_id}/events", token=self.token(self.receiver))
        self.assertEqual(200, status, body)
        return json.loads(body)["eventLog"]


# --------------------------------------------------------------------------- token endpoint and scopes

class TokenTests(DoubleTestCase):
    def form(self, **fields: str) -> str:
        return urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "stadtbus",
                                       "client_secret": "receiver-secret-0123456789", **fields})

    def test_client_secret_post_issues_a_bearer_token_with_the_clients_scopes(self) -> None:
        status, headers, body = self.call("POST", "/token", self.form(),
                                          content_type="application/x-www-form-urlencoded")
        self.assertEqual(200, status)
        token = json.loads(body)
        self.assertEqual("Bearer", token["token_type"])
        self.assertEqual(1800, token["expires_in"])
        self.assertEqual(f"subscribe:destination:{self.destination_id}", token["scope"])
        self.assertEqual("no-store", headers.get("cache-control"))

    def test_http_basic_is_refused_even_with_the_right_secret(self) -> None:
        basic = base64.b64encode(b"stadtbus:receiver-secret-0123456789").decode()
        answer = self.call("POST", "/token", "grant_type=client_credentials",
                           content_type="application/x-www-form-urlencoded",
                           headers={"Authorization": f"Basic {basic}"})
        problem = self.assert_problem(answer, 401, "oauth-invalid-client")
        self.assertEqual("invalid_client", problem["error"])

    def test_wrong_secret_unknown_client_grant_type_scope_and_content_type(self) -> None:
        form = "application/x-www-form-urlencoded"
        self.assert_problem(self.call("POST", "/token", self.form(client_secret="wrong"), content_type=form),
                            401, "oauth-invalid-client")
        self.assert_problem(self.call("POST", "/token", self.form(client_id="nobody"), content_type=form),
                            401, "oauth-invalid-client")
        self.assert_problem(self.call("POST", "/token", self.form(grant_type="password"), content_type=form),
                            400, "oauth-unsupported-grant-type")
        self.assert_problem(self.call("POST", "/token", self.form(scope="send:region:DE01"), content_type=form),
                            400, "oauth-invalid-scope")
        self.assert_problem(self.call("POST", "/token", {"grant_type": "client_credentials"}), 415,
                            "unsupported-media-type")

    def test_api_calls_need_a_valid_unexpired_token(self) -> None:
        path = f"/v1/submissions?destinationId={self.destination_id}"
        self.assert_problem(self.call("GET", path), 401, "unauthorized")
        self.assert_problem(self.call("GET", path, token="forged"), 401, "invalid-token")
        token = self.token(self.receiver)
        self.assertEqual(200, self.call("GET", path, token=token)[0])
        self.assertEqual(200, self.control({"clock-offset": 1801})[0])
        self.assert_problem(self.call("GET", path, token=token), 401, "token-expired")
        self.assertEqual(200, self.call("GET", path, token=self.token(self.receiver))[0])

    def test_scopes_are_bound_to_the_client(self) -> None:
        receiver, sender = self.token(self.receiver), self.token(self.sender)
        create = {"destinationId": self.destination_id, "announcedAttachments": [],
                  "serviceType": {"name": "x", "identifier": SERVICE}}
        self.assert_problem(self.call("POST", "/v1/submissions", create, token=receiver), 403, "forbidden")
        self.assert_problem(self.call("GET", f"/v1/submissions?destinationId={self.destination_id}", token=sender),
                            403, "forbidden")
        self.assert_problem(self.call("GET", f"/v1/submissions?destinationId={uuid.uuid4()}", token=receiver),
                            403, "forbidden")
        # a sender whose region does not cover the destination's
        self.control({"client": {"clientId": "bayern", "clientSecret": "bayern-secret-0123456789",
                                  "scopes": ["send:region:DE09"]}})
        other = self.token(("bayern", "bayern-secret-0123456789"))
        self.assert_problem(self.call("POST", "/v1/submissions", create, token=other), 403, "forbidden")
        self.assert_problem(self.call("GET", f"/v1/destinations/{self.destination_id}", token=other), 403)
        # the sender's own submission is readable by the subscriber only
        created = json.loads(self.call("POST", "/v1/submissions", create, token=sender)[2])
        self.assert_problem(self.call("PUT", f"/v1/submissions/{created['submissionId']}", {}, token=other),
                            403, "forbidden")

    def test_a_client_with_an_invalid_scope_is_refused_at_registration(self) -> None:
        status, answer = self.control({"client": {"clientId": "x", "clientSecret": "y" * 20,
                                                  "scopes": ["send:everything"]}})
        self.assertEqual(400, status, answer)


# --------------------------------------------------------------------------- destinations and keys

class DestinationTests(DoubleTestCase):
    def test_subscriber_sees_the_private_destination_sender_the_public_one(self) -> None:
        status, headers, body = self.call("GET", f"/v1/destinations/{self.destination_id}",
                                          token=self.token(self.receiver))
        self.assertEqual(200, status)
        self.assertEqual("no-cache", headers["cache-control"])
        private = json.loads(body)
        self.assertEqual(self.encryption_jwk["kid"], private["encryptionKid"])
        self.assertEqual("active", private["status"])
        self.assertIn("contactInformation", private)
        self.assertEqual({"url": self.sink.url}, private["callback"])  # never the secret
        public = json.loads(self.call("GET", f"/v1/destinations/{self.destination_id}",
                                      token=self.token(self.sender))[2])
        self.assertNotIn("contactInformation", public)
        self.assertNotIn("callback", public)
        self.assertEqual(["1.0.0"], public["metadataVersions"])
        self.assert_problem(self.call("GET", f"/v1/destinations/{uuid.uuid4()}", token=self.token(self.sender)),
                            404, "destination-not-found")

    def test_keys_are_served_by_kid(self) -> None:
        for jwk in (self.encryption_jwk, self.signing_jwk):
            status, _, body = self.call("GET", f"/v1/destinations/{self.destination_id}/keys/{jwk['kid']}")
            self.assertEqual(200, status)
            self.assertEqual(jwk, json.loads(body))
        self.assert_problem(self.call("GET", f"/v1/destinations/{self.destination_id}/keys/unknown-kid"),
                            404, "key-not-found")

    def test_keys_that_break_the_rules_are_refused(self) -> None:
        small = public_jwk(KEYS["small"], "small-key-1", "RSA-OAEP-256", ["wrapKey"])
        cases = {
            "key_ops": {**self.encryption_jwk, "key_ops": ["encrypt"]},
            "alg": {**self.encryption_jwk, "alg": "RSA-OAEP"},
            "kid": {**self.encryption_jwk, "kid": "short"},
            "e": {**self.encryption_jwk, "e": "AQAC"},
            "4096 bit": small,
            "private members": {**self.encryption_jwk, "d": "AQAB"},
            "x5c": {**self.encryption_jwk, "x5c": ["bm90IGEgY2VydGlmaWNhdGU="]},
        }
        for name, jwk in cases.items():
            with self.subTest(name):
                status, answer = self.control({"destination": self.destination_config(
                    destinationId=str(uuid.uuid4()), encryptionPublicKey=jwk)})
                self.assertEqual(400, status, answer)
        status, answer = self.control({"destination": self.destination_config(
            destinationId=str(uuid.uuid4()), signingPublicKey={**self.signing_jwk, "key_ops": ["wrapKey"]})})
        self.assertEqual(400, status, answer)

    def test_x5c_must_certify_the_key_and_can_be_required(self) -> None:
        import datetime
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        def certificate(key: rsa.RSAPrivateKey) -> str:
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Stadt Itzehoe Zustellpunkt (test)")])
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now)
                    .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
            return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

        with_chain = {**self.encryption_jwk, "x5c": [certificate(KEYS["encryption"])]}
        status, answer = self.control({"destination": self.destination_config(
            destinationId=str(uuid.uuid4()), encryptionPublicKey=with_chain, requireX5c=True,
            signingPublicKey={**self.signing_jwk, "x5c": [certificate(KEYS["signing"])]})})
        self.assertEqual(200, status, answer)
        foreign = {**self.encryption_jwk, "x5c": [certificate(KEYS["other"])]}
        status, answer = self.control({"destination": self.destination_config(
            destinationId=str(uuid.uuid4()), encryptionPublicKey=foreign)})
        self.assertEqual(400, status, answer)
        self.assertIn("another key", answer["error"])
        status, answer = self.control({"destination": self.destination_config(
            destinationId=str(uuid.uuid4()), requireX5c=True)})
        self.assertEqual(400, status, answer)
        self.assertIn("x5c", answer["error"])

    def test_the_service_publishes_its_set_key(self) -> None:
        status, _, body = self.call("GET", "/.well-known/jwks.json")
        self.assertEqual(200, status)
        (key,) = json.loads(body)["keys"]
        self.assertEqual(("RSA", "PS512", ["verify"], "AQAB"), (key["kty"], key["alg"], key["key_ops"], key["e"]))
        self.assertGreaterEqual(len(key["n"]), 683)
        self.assertNotIn("d", key)
        self.assertEqual({"version": {"major": 1, "minor": 1, "patch": 3}}, json.loads(self.call("GET", "/v1/info")[2]))


# --------------------------------------------------------------------------- sender side

class SenderTests(DoubleTestCase):
    def create(self, announced: list[str] | None = None, **changes: object) -> tuple[int, dict, bytes]:
        body = {"destinationId": self.destination_id, "announcedAttachments": announced or [],
                "serviceType": {"name": "Beteiligung", "identifier": SERVICE}, **changes}
        return self.call("POST", "/v1/submissions", body, token=self.token(self.sender))

    def jwe(self, **header: object) -> str:
        """A JWE of the right shape for the destination, with header changes."""
        protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": self.encryption_jwk["kid"], **header}
        cek = os.urandom(32)
        iv = os.urandom(12)
        encrypted_key = KEYS["encryption"].public_key().encrypt(cek, padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        encoded = b64e(json.dumps(protected).encode())
        sealed = AESGCM(cek).encrypt(iv, b"%PDF-1.4 test", encoded.encode())
        return ".".join([encoded, b64e(encrypted_key), b64e(iv), b64e(sealed[:-16]), b64e(sealed[-16:])])

    def test_destination_must_be_active_offer_the_service_and_exist(self) -> None:
        self.assertEqual(200, self.control({"destination-status": "inactive"})[0])
        self.assert_problem(self.create(), 422, "destination-not-active")
        self.control({"destination-status": "active"})
        self.assert_problem(self.create(serviceType={"name": "x", "identifier": "urn:de:fim:leika:leistung:1234567"}),
                            422, "service-not-offered")
        self.assert_problem(self.create(destinationId=str(uuid.uuid4())), 404, "destination-not-found")
        self.assert_problem(self.create(announcedAttachments="not-a-list"), 400, "invalid-submission")
        self.assert_problem(self.create(caseId=str(uuid.uuid4())), 404, "case-not-found")
        self.assertEqual(201, self.create()[0])

    def test_attachment_upload_checks_announcement_content_type_and_jwe_shape(self) -> None:
        aid = str(uuid.uuid4())
        created = json.loads(self.create([aid])[2])
        path = f"/v1/submissions/{created['submissionId']}/attachments/"
        token = self.token(self.sender)
        good = self.jwe(cty="application/pdf")
        self.assert_problem(self.call("PUT", path + str(uuid.uuid4()), good, token=token,
                                      content_type="application/jose"), 422, "attachment-not-announced")
        self.assert_problem(self.call("PUT", path + aid, good, token=token, content_type="application/octet-stream"),
                            415, "unsupported-media-type")
        shapes = {
            "four parts": good.rsplit(".", 1)[0],
            "alg": self.jwe(alg="RSA1_5"),
            "enc": self.jwe(enc="A128GCM"),
            "kid": self.jwe(kid="some-other-key"),
            "not base64url": good.replace(good.split(".")[3][:4], "!!!!", 1),
            "short encrypted key": ".".join([good.split(".")[0], b64e(b"x" * 256)] + good.split(".")[2:]),
        }
        for name, jwe in shapes.items():
            with self.subTest(name):
                self.assert_problem(self.call("PUT", path + aid, jwe, token=token, content_type="application/jose"),
                                    400, "invalid-jwe")
        answer = self.call("PUT", path + aid, good, token=token, content_type="application/jose")
        self.assertEqual(204, answer[0], answer[2])

    def test_submit_needs_every_announced_attachment_json_and_valid_jwes(self) -> None:
        aid = str(uuid.uuid4())
        created = json.loads(self.create([aid])[2])
        sid = created["submissionId"]
        token = self.token(self.sender)
        body = {"encryptedMetadata": self.jwe(cty="application/json"), "encryptedData": self.jwe(cty="application/xml")}
        self.assert_problem(self.call("PUT", f"/v1/submissions/{sid}", body, token=token), 422, "attachments-missing")
        self.assert_problem(self.call("PUT", f"/v1/submissions/{sid}", json.dumps(body), token=token,
                                      content_type="text/plain"), 415, "unsupported-media-type")
        self.call("PUT", f"/v1/submissions/{sid}/attachments/{aid}", self.jwe(), token=token,
                  content_type="application/jose")
        self.assert_problem(self.call("PUT", f"/v1/submissions/{sid}", {**body, "encryptedMetadata": "a.b.c"},
                                      token=token), 400, "invalid-jwe")
        self.assert_problem(self.call("PUT", f"/v1/submissions/{sid}", {"encryptedData": body["encryptedData"]},
                                      token=token), 400, "invalid-jwe")
        # not yet submitted: invisible to the receiver
        self.assert_problem(self.call("GET", f"/v1/submissions/{sid}", token=self.token(self.receiver)), 404,
                            "submission-not-found")
        status, _, answer = self.call("PUT", f"/v1/submissions/{sid}", body, token=token)
        self.assertEqual(202, status, answer)
        reduced = json.loads(answer)
        self.assertEqual([aid], reduced["attachments"])
        self.assertNotIn("encryptedMetadata", reduced)
        self.assert_problem(self.call("PUT", f"/v1/submissions/{sid}", body, token=token), 422,
                            "submission-not-incomplete")
        self.assert_problem(self.call("PUT", f"/v1/submissions/{sid}/attachments/{aid}", self.jwe(), token=token,
                                      content_type="application/jose"), 422, "submission-not-incomplete")

    @unittest.skipUnless(shutil.which("openssl"), "openssl CLI not installed")
    def test_openssl_verifies_the_services_submit_set(self) -> None:
        """A third implementation: the openssl CLI checks the PS512 signature of the double's SET."""
        result, _ = self.send()
        token = self.event_log(result["caseId"])[1]
        (jwk,) = json.loads(self.call("GET", "/.well-known/jwks.json")[2])["keys"]
        directory = Path(tempfile.mkdtemp(prefix="fitconnect-openssl-"))
        self.addCleanup(shutil.rmtree, directory, True)
        (directory / "key.pem").write_bytes(public_key_of(jwk).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        header, payload, signature = token.split(".")
        (directory / "input").write_bytes(f"{header}.{payload}".encode())
        (directory / "signature").write_bytes(b64d(signature))

        def verify() -> subprocess.CompletedProcess:
            return subprocess.run(["openssl", "dgst", "-sha512", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                                   "rsa_pss_saltlen:64", "-verify", str(directory / "key.pem"), "-signature",
                                   str(directory / "signature"), str(directory / "input")],
                                  capture_output=True, text=True, timeout=30)

        checked = verify()
        self.assertEqual(0, checked.returncode, checked.stdout + checked.stderr)
        self.assertIn("Verified OK", checked.stdout)
        (directory / "input").write_bytes(f"{header}.{payload}x".encode())
        self.assertNotEqual(0, verify().returncode)

    def test_chunked_uploads_are_read_and_oversized_bodies_are_413(self) -> None:
        aid = str(uuid.uuid4())
        created = json.loads(self.create([aid])[2])
        path = f"/v1/submissions/{created['submissionId']}/attachments/{aid}"
        headers = {"Authorization": f"Bearer {self.token(self.sender)}", "Content-Type": "application/jose"}
        jwe = self.jwe().encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        self.addCleanup(connection.close)
        connection.request("PUT", path, body=iter([jwe[:100], jwe[100:]]), headers=headers, encode_chunked=True)
        answer = connection.getresponse()
        self.assertEqual(204, answer.status, answer.read())
        self.server.max_body = len(jwe) - 1
        self.assert_problem(self.call("PUT", path, jwe, headers=headers), 413, "too-large")

    def test_the_service_signs_create_and_submit_events_with_its_published_key(self) -> None:
        result, _ = self.send()
        submission = self.fetch(result["submissionId"])
        jwks = json.loads(self.call("GET", "/.well-known/jwks.json")[2])["keys"]
        log = self.event_log(result["caseId"])
        self.assertEqual(2, len(log))
        decoded = []
        for token in log:
            header, claims = jws_verify(token, jwks[0])
            self.assertEqual({"typ": "secevent+jwt", "alg": "PS512", "kid": jwks[0]["kid"]}, header)
            self.assertEqual(self.base, claims["iss"])
            self.assertEqual(f"submission:{result['submissionId']}", claims["sub"])
            self.assertEqual(f"case:{result['caseId']}", claims["txn"])
            uuid.UUID(claims["jti"])
            self.assertEqual(1, len(claims["events"]))
            decoded.append(claims["events"])
        self.assertEqual({EVENTS + "create-submission": {}}, decoded[0])
        tags = decoded[1][EVENTS + "submit-submission"]["authenticationTags"]
        self.assertEqual(submission["encryptedMetadata"].split(".")[4], tags["metadata"])
        self.assertEqual(submission["encryptedData"].split(".")[4], tags["data"])
        (aid,) = submission["attachments"]
        attachment = self.call("GET", f"/v1/submissions/{result['submissionId']}/attachments/{aid}",
                               token=self.token(self.receiver))[2].decode()
        self.assertEqual({aid: attachment.split(".")[4]}, tags["attachments"])
        # a tampered SET of the service does not verify
        header, payload, signature = log[1].split(".")
        forged = b64e(json.dumps({**json.loads(b64d(payload)), "txn": "case:other"}).encode())
        with self.assertRaises(InvalidSignature):
            jws_verify(f"{header}.{forged}.{signature}", jwks[0])


# --------------------------------------------------------------------------- receiver side

class RoundTripTests(DoubleTestCase):
    def test_sender_to_receiver_round_trip_with_an_independent_receiver(self) -> None:
        result, prepared = self.send()
        token = self.token(self.receiver)
        listed = json.loads(self.call("GET", f"/v1/submissions?destinationId={self.destination_id}&limit=500",
                                      token=token)[2])
        self.assertEqual({"count": 1, "offset": 0, "totalCount": 1,
                          "submissions": [{"destinationId": self.destination_id,
                                           "submissionId": result["submissionId"], "caseId": result["caseId"]}]},
                         listed)
        received = self.receive(result["submissionId"])
        submission, metadata = received["submission"], received["metadata"]
        self.assertEqual({"name": "Beteiligung Bauleitplanung", "identifier": SERVICE}, submission["serviceType"])
        self.assertEqual("application/json", received["metadataHeader"]["cty"])
        self.assertEqual("application/xml", received["dataHeader"]["cty"])
        # metadata: valid against the shared schema 1.0.0, hashes of the unencrypted data and attachment
        jsonschema.Draft202012Validator(METADATA_SCHEMA).validate(metadata)
        structure = metadata["contentStructure"]
        self.assertEqual(hashlib.sha512(received["data"]).hexdigest(), structure["data"]["hash"]["content"])
        self.assertEqual("application/xml", structure["data"]["submissionSchema"]["mimeType"])
        self.assertEqual(set(submission["attachments"]), {a["attachmentId"] for a in structure["attachments"]})
        for entry in structure["attachments"]:
            content = received["attachments"][entry["attachmentId"]]
            self.assertEqual(hashlib.sha512(content).hexdigest(), entry["hash"]["content"])
            self.assertTrue(content.startswith(b"%PDF-1.4") and content.rstrip().endswith(b"%%EOF"))
        self.assertEqual(prepared.data, received["data"])
        valid, reason = common.xmllint_validate(received["data"], XBETEILIGUNG_XSD)
        self.assertTrue(valid, reason)
        self.assertIn(prepared.message_id.encode(), received["data"])
        # accept with the authentication tags of what was received
        answer = self.post_set(result["caseId"], self.set_claims(
            submission, payload={"authenticationTags": received["tags"]}))
        self.assertEqual(204, answer[0], answer[2])
        self.assertEqual([], json.loads(self.call("GET", f"/v1/submissions?destinationId={self.destination_id}",
                                                  token=token)[2])["submissions"])
        # a second answer is a conflict, whatever it says
        self.assert_problem(self.post_set(result["caseId"], self.set_claims(
            submission, payload={"authenticationTags": received["tags"]})), 409, "invalid-state-transition")
        self.assert_problem(self.post_set(result["caseId"], self.set_claims(
            submission, "reject-submission", {"problems": [self.problem()]})), 409, "invalid-state-transition")
        log = self.event_log(result["caseId"])
        self.assertEqual(3, len(log))
        self.assertEqual(EVENTS + "accept-submission", list(json.loads(b64d(log[2].split(".")[1]))["events"])[0])
        self.assert_problem(self.call("GET", f"/v1/submissions/{result['submissionId']}", token=token), 404,
                            "submission-not-found")
        summary = json.loads(self.call("GET", "/received")[2])
        self.assertEqual("accepted", summary["submissions"][0]["state"])
        self.assertEqual(1, summary["answers"])

    def test_a_lost_response_then_the_same_set_again_gives_409_and_one_answer(self) -> None:
        result, _ = self.send()
        received = self.receive(result["submissionId"])
        header = {"typ": "secevent+jwt", "alg": "PS512", "kid": self.signing_jwk["kid"]}
        token = jws_sign(header, self.set_claims(received["submission"], payload={
            "authenticationTags": received["tags"]}), KEYS["signing"])
        self.assertEqual(200, self.control({"lose-answer-responses": 1})[0])
        path = f"/v1/cases/{result['caseId']}/events"
        bearer = self.token(self.receiver)
        with self.assertRaises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            self.call("POST", path, token, token=bearer, content_type="application/jose")
        # the receiver resends exactly what it stored: already answered
        self.assert_problem(self.call("POST", path, token, token=bearer, content_type="application/jose"), 409,
                            "invalid-state-transition")
        summary = json.loads(self.call("GET", "/received")[2])
        self.assertEqual((1, "accepted", []), (summary["answers"], summary["submissions"][0]["state"],
                                               [r["code"] for r in summary["refusals"] if r["status"] == 422]))

    @staticmethod
    def problem() -> dict:
        return {"type": "https://schema.fitko.de/fit-connect/events/problems/hash-mismatch",
                "title": "Prüfsumme stimmt nicht", "detail": "SHA-512 of the data differs", "instance": "data"}

    def test_reject_needs_problems(self) -> None:
        result, _ = self.send("tamper-hash")
        submission = self.fetch(result["submissionId"])
        for payload in ({}, {"problems": []}, {"problems": [{"type": "x:y", "title": "t"}]},
                        {"problems": [{**self.problem(), "type": "not a uri"}]}):
            with self.subTest(payload=payload):
                self.assert_problem(self.post_set(result["caseId"], self.set_claims(
                    submission, "reject-submission", payload)), 422, "reject-problems")
        answer = self.post_set(result["caseId"], self.set_claims(submission, "reject-submission",
                                                                 {"problems": [self.problem()]}))
        self.assertEqual(204, answer[0], answer[2])
        summary = json.loads(self.call("GET", "/received")[2])
        self.assertEqual("rejected", summary["submissions"][0]["state"])
        self.assertEqual([self.problem()], summary["submissions"][0]["answer"]["problems"])

    def test_every_wrong_set_is_refused_with_422(self) -> None:
        result, _ = self.send()
        received = self.receive(result["submissionId"])
        submission = received["submission"]
        tags = received["tags"]
        accept = {"authenticationTags": tags}
        header = {"typ": "secevent+jwt", "alg": "PS512", "kid": self.signing_jwk["kid"]}
        other = {"submissionId": str(uuid.uuid4()), "caseId": submission["caseId"]}
        cases = [
            ("set-header-typ", self.set_claims(submission, payload=accept), {**header, "typ": "JWT"}, None),
            ("set-header-alg", self.set_claims(submission, payload=accept), {**header, "alg": "RS512"}, None),
            ("set-header-kid", self.set_claims(submission, payload=accept), {**header, "kid": "unknown-kid"}, None),
            ("set-header-extra", self.set_claims(submission, payload=accept), {**header, "jku": "https://x"}, None),
            ("set-signature", self.set_claims(submission, payload=accept), header, KEYS["other"]),
            ("set-claim-iss", self.set_claims(submission, payload=accept, iss=str(uuid.uuid4())), header, None),
            ("set-claim-sub", self.set_claims(other, payload=accept), header, None),
            ("set-claim-sub", self.set_claims(submission, payload=accept, sub=submission["submissionId"]), header,
             None),
            ("set-claim-txn", self.set_claims(submission, payload=accept, txn=f"case:{uuid.uuid4()}"), header, None),
            ("set-claim-jti", self.set_claims(submission, payload=accept, jti="1"), header, None),
            ("set-claim-iat", self.set_claims(submission, payload=accept, iat=int(time.time()) + 3600), header, None),
            ("set-claim-iat", self.set_claims(submission, payload=accept, iat="yesterday"), header, None),
            ("set-events-count", self.set_claims(submission, payload=accept, events={
                EVENTS + "accept-submission": accept, EVENTS + "reject-submission": {"problems": [self.problem()]}}),
             header, None),
            ("set-events-count", self.set_claims(submission, events={}), header, None),
            ("set-event-unknown", self.set_claims(submission, "approve-submission", accept), header, None),
            ("set-event-not-allowed", self.set_claims(submission, "submit-submission", accept), header, None),
            ("set-schema-version", self.set_claims(submission, payload=accept, **{"$schema": SET_SCHEMA.format(
                "9.9.9")}), header, None),
            ("accept-tags-missing", self.set_claims(submission, payload={}), header, None),
            ("accept-tags-mismatch", self.set_claims(submission, payload={"authenticationTags": {
                **tags, "metadata": tags["data"]}}), header, None),
            ("accept-tags-mismatch", self.set_claims(submission, payload={"authenticationTags": {
                **tags, "data": tags["metadata"]}}), header, None),
            ("accept-tags-mismatch", self.set_claims(submission, payload={"authenticationTags": {
                **tags, "attachments": {}}}), header, None),
            ("accept-tags-mismatch", self.set_claims(submission, payload={"authenticationTags": {
                "metadata": tags["metadata"], "attachments": tags["attachments"]}}), header, None),
        ]
        for code, claims, set_header, key in cases:
            with self.subTest(code, claims=claims.get("events"), header=set_header):
                self.assert_problem(self.post_set(submission["caseId"], claims, set_header, key), 422, code)
        self.assertEqual(len(cases), len(json.loads(self.call("GET", "/received")[2])["refusals"]))
        # none of them changed anything: the right answer is still taken
        answer = self.post_set(submission["caseId"], self.set_claims(submission, payload=accept))
        self.assertEqual(204, answer[0], answer[2])

    def test_set_payload_schema_versions_are_configurable(self) -> None:
        result, _ = self.send()
        received = self.receive(result["submissionId"])
        accept = {"authenticationTags": received["tags"]}
        self.assertEqual(200, self.control({"set-schema-versions": ["1.2.2"]})[0])
        claims = self.set_claims(received["submission"], payload=accept, **{"$schema": SET_SCHEMA.format("1.0.0")})
        self.assert_problem(self.post_set(result["caseId"], claims), 422, "set-schema-version")
        answer = self.post_set(result["caseId"], self.set_claims(received["submission"], payload=accept))
        self.assertEqual(204, answer[0], answer[2])

    def test_replayed_jti_malformed_jws_content_type_and_unknown_case(self) -> None:
        first, _ = self.send("tamper-hash")
        second, _ = self.send()
        one, two = self.fetch(first["submissionId"]), self.receive(second["submissionId"])
        claims = self.set_claims(one, "reject-submission", {"problems": [self.problem()]})
        self.assertEqual(204, self.post_set(first["caseId"], claims)[0])
        replay = self.set_claims(two["submission"], payload={"authenticationTags": two["tags"]}, jti=claims["jti"])
        self.assert_problem(self.post_set(second["caseId"], replay), 422, "set-jti-replay")
        token = self.token(self.receiver)
        good = self.set_claims(two["submission"], payload={"authenticationTags": two["tags"]})
        self.assert_problem(self.post_set(second["caseId"], good, content_type="application/json"), 415,
                            "unsupported-media-type")
        self.assert_problem(self.call("POST", f"/v1/cases/{second['caseId']}/events", "not.a-jws", token=token,
                                      content_type="application/jose"), 400, "invalid-jws")
        self.assert_problem(self.post_set(str(uuid.uuid4()), good), 404, "case-not-found")
        self.assertEqual(204, self.post_set(second["caseId"], good)[0])

    def test_answers_outside_submitted_or_forwarded_are_404_and_forwarded_can_be_answered(self) -> None:
        sender = self.token(self.sender)
        created = json.loads(self.call("POST", "/v1/submissions", {
            "destinationId": self.destination_id, "announcedAttachments": [],
            "serviceType": {"name": "x", "identifier": SERVICE}}, token=sender)[2])
        incomplete = {"submissionId": created["submissionId"], "caseId": created["caseId"]}
        self.assert_problem(self.post_set(created["caseId"], self.set_claims(
            incomplete, "reject-submission", {"problems": [self.problem()]})), 404, "submission-not-found")
        result, _ = self.send()
        self.assertEqual(200, self.control({"forward": result["submissionId"]})[0])
        received = self.receive(result["submissionId"])  # forwarded stays readable
        token = self.token(self.receiver)
        self.assertEqual([], json.loads(self.call("GET", "/v1/submissions", token=token)[2])["submissions"])
        answer = self.post_set(result["caseId"], self.set_claims(received["submission"], payload={
            "authenticationTags": received["tags"]}))
        self.assertEqual(204, answer[0], answer[2])

    def test_listing_pages_and_bounds(self) -> None:
        ids = [self.send()[0]["submissionId"] for _ in range(3)]
        token = self.token(self.receiver)
        base = f"/v1/submissions?destinationId={self.destination_id}"
        page = json.loads(self.call("GET", base + "&limit=2&offset=1", token=token)[2])
        self.assertEqual((2, 1, 3), (page["count"], page["offset"], page["totalCount"]))
        self.assertEqual(ids[1:], [s["submissionId"] for s in page["submissions"]])
        everything = json.loads(self.call("GET", "/v1/submissions", token=token)[2])
        self.assertEqual(ids, [s["submissionId"] for s in everything["submissions"]])
        for query in ("&limit=0", "&limit=501", "&offset=-1", "&limit=ten"):
            with self.subTest(query):
                self.assert_problem(self.call("GET", base + query, token=token), 400, "invalid-paging")
        self.assert_problem(self.call("GET", "/v1/submissions?destinationId=nope", token=token), 400)
        self.assert_problem(self.call("GET", f"/v1/submissions/{ids[0]}/attachments/{uuid.uuid4()}", token=token),
                            404, "attachment-not-found")
        self.assert_problem(self.call("GET", f"/v1/submissions/{uuid.uuid4()}", token=token), 404,
                            "submission-not-found")
        self.assert_problem(self.call("DELETE", f"/v1/submissions/{ids[0]}", token=token), 405)
        self.assert_problem(self.call("GET", "/v2/submissions", token=token), 404, "no-such-endpoint")


# --------------------------------------------------------------------------- callbacks

class CallbackTests(DoubleTestCase):
    @staticmethod
    def expected_hmac(timestamp: str, body: bytes, secret: str = CALLBACK_SECRET) -> str:
        return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha512).hexdigest()

    def test_a_new_submission_is_announced_with_a_valid_hmac(self) -> None:
        result, _ = self.send()
        (callback,) = self.sink.wait_for(1)
        headers, body = callback["headers"], callback["body"]
        self.assertEqual("application/json", headers["content-type"])
        self.assertTrue(hmac.compare_digest(self.expected_hmac(headers["callback-timestamp"], body),
                                            headers["callback-authentication"]))
        self.assertLessEqual(abs(int(headers["callback-timestamp"]) - callback["at"]), 5)
        self.assertEqual({"type": "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-submissions",
                          "submissions": [{"destinationId": self.destination_id,
                                           "submissionId": result["submissionId"], "caseId": result["caseId"]}]},
                         json.loads(body))
        # and a wrong secret would not have produced it
        self.assertNotEqual(self.expected_hmac(headers["callback-timestamp"], body, CALLBACK_SECRET + "x"),
                            headers["callback-authentication"])

    def test_fault_injection_sends_a_duplicate_a_stale_and_a_forged_callback(self) -> None:
        status, answer = self.control({"callback-faults": ["duplicate", "stale", "bad-hmac"]})
        self.assertEqual(200, status, answer)
        result, _ = self.send()
        callbacks = self.sink.wait_for(4)
        self.assertEqual(4, len(callbacks))
        valid, duplicate, stale, forged = callbacks
        for callback in (valid, duplicate, stale):
            headers = callback["headers"]
            self.assertEqual(self.expected_hmac(headers["callback-timestamp"], callback["body"]),
                             headers["callback-authentication"])
        self.assertEqual(valid["body"], duplicate["body"])
        self.assertGreater(stale["at"] - int(stale["headers"]["callback-timestamp"]), 300)
        self.assertLess(abs(int(forged["headers"]["callback-timestamp"]) - forged["at"]), 5)
        self.assertNotEqual(self.expected_hmac(forged["headers"]["callback-timestamp"], forged["body"]),
                            forged["headers"]["callback-authentication"])
        announced = [json.loads(c["body"])["submissions"][0]["submissionId"] for c in callbacks]
        self.assertEqual([result["submissionId"]] * 2, announced[:2])
        self.assertNotIn(result["submissionId"], announced[2:])  # decoys: trusting them shows as unknown-fetches
        self.fetch(result["submissionId"])
        self.call("GET", f"/v1/submissions/{announced[3]}", token=self.token(self.receiver))
        summary = json.loads(self.call("GET", "/received")[2])
        self.assertEqual([announced[3]], summary["unknown-fetches"])
        self.assertEqual(["valid", "duplicate", "stale", "bad-hmac"], [c["kind"] for c in summary["callbacks"]])

    def test_callbacks_on_demand_and_callback_url_through_control(self) -> None:
        second = CallbackSink()
        self.addCleanup(second.close)
        status, answer = self.control({"callback-url": second.url, "callback-secret": "s" * 32})
        self.assertEqual(200, status, answer)
        self.assertEqual(200, self.control({"emit-callback": "stale"})[0])
        (callback,) = second.wait_for(1)
        headers = callback["headers"]
        self.assertEqual(self.expected_hmac(headers["callback-timestamp"], callback["body"], "s" * 32),
                         headers["callback-authentication"])
        self.assertEqual(400, self.control({"emit-callback": "sometimes"})[0])
        self.assertEqual(400, self.control({"callback-url": "ftp://x"})[0])
        self.assertEqual(400, self.control({"callback-faults": ["late"]})[0])
        self.assertEqual([], self.sink.received)


# --------------------------------------------------------------------------- routing

class RoutingTests(DoubleTestCase):
    LEIKA = SERVICE.rsplit(":", 1)[1]

    def routes(self, query: str) -> dict:
        status, _, body = self.call("GET", "/routing/v1/routes?" + query)
        self.assertEqual(200, status, body)
        return json.loads(body)

    def verified_claims(self, route: dict) -> dict:
        (key,) = json.loads(self.call("GET", "/routing/.well-known/jwks.json")[2])["keys"]
        self.assertEqual(("PS512", ["verify"]), (key["alg"], key["key_ops"]))
        header, claims = jws_verify(route["destinationSignature"], key)
        self.assertEqual({"kid": key["kid"], "typ": "jwt", "alg": "PS512"}, header)
        return claims

    def test_a_destination_is_found_by_service_key_and_ars_or_ags_with_a_valid_signature(self) -> None:
        for query in (f"leikaKey={self.LEIKA}&ars=010610046046", f"leikaKey={self.LEIKA}&ags=01061046"):
            with self.subTest(query):
                result = self.routes(query)
                self.assertEqual((1, 0, 1), (result["count"], result["offset"], result["totalCount"]))
                (route,) = result["routes"]
                self.assertEqual(self.destination_id, route["destinationId"])
                claims = self.verified_claims(route)
                self.assertEqual(self.destination_id, claims["destinationId"])
                self.assertEqual([{"gebietIDs": ["urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:"
                                                 "010610046046"], "leistungIDs": [SERVICE]}], claims["services"])
                self.assertEqual(f"127.0.0.1:{self.server.port}", claims["submissionHost"])
        for query in (f"leikaKey={self.LEIKA}&ags=01061017", f"leikaKey={self.LEIKA}&ars=01061",
                      "leikaKey=99123456760610&ars=010610046046"):
            with self.subTest(query):
                self.assertEqual([], self.routes(query)["routes"])
        self.control({"destination-status": "inactive"})
        self.assertEqual([], self.routes(f"leikaKey={self.LEIKA}&ars=010610046046")["routes"])

    def test_wrong_queries_are_400(self) -> None:
        for query in ("ars=010610046046", "leikaKey=12345&ars=010610046046",
                      f"leikaKey={self.LEIKA}", f"leikaKey={self.LEIKA}&ars=010610046046&ags=01061046",
                      f"leikaKey={self.LEIKA}&ars=0106", f"leikaKey={self.LEIKA}&ags=0106104",
                      f"leikaKey={self.LEIKA}&areaId=1024", f"leikaKey={self.LEIKA}&ars=01&limit=501"):
            with self.subTest(query):
                self.assert_problem(self.call("GET", "/routing/v1/routes?" + query), 400)

    def test_signature_faults(self) -> None:
        query = f"leikaKey={self.LEIKA}&ars=010610046046"
        self.assertEqual(200, self.control({"routing-signature": "tampered"})[0])
        with self.assertRaises(InvalidSignature):
            self.verified_claims(self.routes(query)["routes"][0])
        self.assertEqual(200, self.control({"routing-signature": "other-destination"})[0])
        route = self.routes(query)["routes"][0]
        self.assertNotEqual(route["destinationId"], self.verified_claims(route)["destinationId"])
        self.assertEqual(400, self.control({"routing-signature": "sometimes"})[0])
        self.assertEqual({"version": {"major": 2, "minor": 0, "patch": 0}},
                         json.loads(self.call("GET", "/routing/v1/info")[2]))


# --------------------------------------------------------------------------- the portal's variants

class PortalVariantTests(DoubleTestCase):
    def test_tamper_hash(self) -> None:
        received = self.receive(self.send("tamper-hash")[0]["submissionId"])
        jsonschema.Draft202012Validator(METADATA_SCHEMA).validate(received["metadata"])
        self.assertNotEqual(hashlib.sha512(received["data"]).hexdigest(),
                            received["metadata"]["contentStructure"]["data"]["hash"]["content"])

    def test_tamper_ciphertext(self) -> None:
        received = self.receive(self.send("tamper-ciphertext")[0]["submissionId"])
        self.assertIsNone(received["data"])  # AES-GCM refused the data: InvalidTag
        jsonschema.Draft202012Validator(METADATA_SCHEMA).validate(received["metadata"])

    def test_missing_attachment(self) -> None:
        received = self.receive(self.send("missing-attachment")[0]["submissionId"])
        listed = {a["attachmentId"] for a in received["metadata"]["contentStructure"]["attachments"]}
        self.assertEqual(2, len(listed))
        self.assertLess(set(received["submission"]["attachments"]), listed)

    def test_invalid_metadata(self) -> None:
        received = self.receive(self.send("invalid-metadata")[0]["submissionId"])
        errors = list(jsonschema.Draft202012Validator(METADATA_SCHEMA).iter_errors(received["metadata"]))
        self.assertEqual(["contentStructure", "attachments", 0, "purpose"], list(errors[0].absolute_path))
        self.assertEqual(hashlib.sha512(received["data"]).hexdigest(),
                         received["metadata"]["contentStructure"]["data"]["hash"]["content"])

    def test_invalid_fachdaten(self) -> None:
        received = self.receive(self.send("invalid-fachdaten")[0]["submissionId"])
        self.assertEqual(hashlib.sha512(received["data"]).hexdigest(),
                         received["metadata"]["contentStructure"]["data"]["hash"]["content"])
        valid, reason = common.xmllint_validate(received["data"], XBETEILIGUNG_XSD)
        self.assertFalse(valid)
        self.assertIn("nachrichtenInhaltUngueltig", reason)

    def test_the_portal_refuses_a_destination_key_that_breaks_the_rules(self) -> None:
        with self.assertRaises(fitconnect.JWKRuleError):
            fitconnect_portal.prepare({**self.encryption_jwk, "key_ops": ["encrypt"]}, {"identifier": SERVICE})


# --------------------------------------------------------------------------- the command line

class CommandLineTests(unittest.TestCase):
    def test_keys_serve_and_submit(self) -> None:
        python = sys.executable
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.subTest("keys"):
            out = Path(self.tmp())
            keys = subprocess.run([python, str(SIMULATORS / "fitconnect.py"), "keys", "--out", str(out)],
                                  capture_output=True, text=True, env=env, timeout=120)
            self.assertEqual(0, keys.returncode, keys.stderr)
            directory = Path(keys.stdout.strip())
            config = json.loads((directory / "destination.json").read_text())
            encryption = json.loads((directory / "encryption-private.jwk.json").read_text())
            signing = json.loads((directory / "signing-private.jwk.json").read_text())
            self.assertEqual((["unwrapKey"], "RSA-OAEP-256"), (encryption["key_ops"], encryption["alg"]))
            self.assertEqual((["sign"], "PS512"), (signing["key_ops"], signing["alg"]))
            self.assertEqual(0o600, (directory / "encryption-private.pem").stat().st_mode & 0o777)
            pem = serialization.load_pem_private_key((directory / "encryption-private.pem").read_bytes(), None)
            self.assertEqual(4096, pem.key_size)
            self.assertEqual(public_jwk(pem, encryption["kid"], "RSA-OAEP-256", ["wrapKey"]),
                             {k: config["encryptionPublicKey"][k] for k in ("kty", "kid", "alg", "key_ops", "n", "e")})
            self.assertEqual(config["encryptionKid"], encryption["kid"])
            signing_pem = serialization.load_pem_private_key((directory / "signing-private.pem").read_bytes(), None)
            self.assertEqual(config["signingPublicKey"]["n"],
                             public_jwk(signing_pem, "x" * 8, "PS512", ["verify"])["n"])
        service_key = directory / "service-key.pem"  # spares the double generating one
        service_key.write_bytes(KEYS["service"].private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
        serve = subprocess.Popen([python, str(SIMULATORS / "fitconnect.py"), "serve", "--port", "0",
                                  "--destination", str(directory / "destination.json"),
                                  "--service-key", str(service_key)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.addCleanup(serve.stdout.close)
        self.addCleanup(serve.wait, 10)
        self.addCleanup(serve.terminate)
        port = None
        for line in serve.stdout:
            if '"event": "listening"' in line:
                port = int(line.rsplit(":", 1)[1].split('"')[0])
                break
        self.assertIsNotNone(port)
        submit = subprocess.run([python, str(SIMULATORS / "fitconnect.py"), "submit", "--url",
                                 f"http://127.0.0.1:{port}", "--destination-dir", str(directory), "--count", "2",
                                 "--tamper-hash"], capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(0, submit.returncode, submit.stderr)
        output = json.loads(submit.stdout)
        self.assertEqual([], output["failed"])
        self.assertEqual(["tamper-hash"] * 2, [s["variant"] for s in output["submitted"]])
        # the receiver's side with the written private key and subscriber secret
        form = urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "client_id": config["clients"][0]["clientId"],
                                       "client_secret": (directory / "subscriber.secret").read_text().strip()})
        request = urllib.request.Request(f"http://127.0.0.1:{port}/token", data=form.encode(),
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        token = json.loads(urllib.request.urlopen(request, timeout=10).read())["access_token"]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/submissions/"
                                         f"{output['submitted'][0]['submissionId']}",
                                         headers={"Authorization": f"Bearer {token}"})
        submission = json.loads(urllib.request.urlopen(request, timeout=10).read())
        metadata = json.loads(jwe_decrypt(submission["encryptedMetadata"], pem)[1])
        self.assertEqual(output["submitted"][0]["nachrichtenUUID"],
                         metadata["additionalReferenceInfo"]["senderReference"])
        # the receiver double answers: tamper-hash → reject (hash-mismatch), then an ok one → accept
        ok = subprocess.run([python, str(SIMULATORS / "fitconnect.py"), "submit", "--url", f"http://127.0.0.1:{port}",
                             "--destination-dir", str(directory)], capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(0, ok.returncode, ok.stderr)
        invalid = subprocess.run([python, str(SIMULATORS / "fitconnect.py"), "submit", "--url",
                                  f"http://127.0.0.1:{port}", "--destination-dir", str(directory),
                                  "--invalid-fachdaten"], capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(0, invalid.returncode, invalid.stderr)
        receive = subprocess.run([python, str(SIMULATORS / "fitconnect.py"), "receive", "--url",
                                  f"http://127.0.0.1:{port}", "--destination-dir", str(directory)],
                                 capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(0, receive.returncode, receive.stderr)
        answered = json.loads(receive.stdout)["answered"]
        self.assertEqual([("reject", 204, "hash-mismatch", "data")] * 2 + [("accept", 204, None, None),
                                                                          ("reject", 204, "schema-violation", "data")],
                         [(a["answer"], a["status"], a.get("problem", {}).get("type", "/").rsplit("/", 1)[1] or None,
                           a.get("problem", {}).get("instance")) for a in answered])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/received", timeout=10) as answer:
            states = [s["state"] for s in json.loads(answer.read())["submissions"]]
        self.assertEqual(["rejected", "rejected", "accepted", "rejected"], states)
        # a refused submission is reported, with exit code 1
        control = common.post_json(f"http://127.0.0.1:{port}/control", {"destination-status": "inactive"})
        self.assertEqual(200, control[0])
        refused = subprocess.run([python, str(SIMULATORS / "fitconnect.py"), "submit", "--url",
                                  f"http://127.0.0.1:{port}", "--destination-dir", str(directory)],
                                 capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(1, refused.returncode)
        self.assertEqual([("create", 422)], [(f["step"], f["status"]) for f in json.loads(refused.stdout)["failed"]])

    def tmp(self) -> str:
        directory = tempfile.mkdtemp(prefix="fitconnect-test-")
        self.addCleanup(shutil.rmtree, directory, True)
        return directory


if __name__ == "__main__":
    unittest.main()
