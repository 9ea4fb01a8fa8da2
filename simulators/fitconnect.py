#!/usr/bin/env python3
"""FIT-Connect simulator: a local double of the federal delivery service (Submission API v1).

In reality this is FITKO's Zustelldienst: online services (portals) hand it end-to-end encrypted
submissions for a destination (Zustellpunkt) of an authority; the authority's receiving system
(here Stadtbus) fetches, decrypts and checks them and answers with a signed Security Event Token.
This double follows ``../shared/fit-connect/submission-api-1.1.3.yaml`` and the facts in
``../shared/design/fit-connect.md``. It never decrypts anything: like the real service it only
sees JWE strings and checks their shape.

Commands:

* ``serve``: the delivery service (OAuth2 token endpoint ``POST /token`` included), with the
  common ``/control``, ``/received`` and ``/health`` (see README.md, section fitconnect).
* ``keys``: writes a destination's development key pair and secrets under ``run/fitconnect/<id>/``
  (private JWK and PEM for Stadtbus, public JWKs and ``destination.json`` for ``serve``).
* ``submit``: the portal double (``fitconnect_portal.py``): encrypts an XBeteiligung 0401 and a
  PDF for a destination and sends them through the double, optionally tampered.
* ``receive``: the receiver double (``fitconnect_receiver.py``): fetches, decrypts and checks a
  destination's waiting submissions once and answers each with an accept or reject SET.

Usage::

    P=run/venv/bin/python
    $P simulators/fitconnect.py keys --out run/fitconnect          # prints the destination directory
    $P simulators/fitconnect.py serve --port 0 --destination run/fitconnect/<id>/destination.json
    $P simulators/fitconnect.py submit --url http://127.0.0.1:<port> --destination-dir run/fitconnect/<id>
    $P simulators/fitconnect.py receive --url http://127.0.0.1:<port> --destination-dir run/fitconnect/<id>
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import secrets
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

import common
from common import REPO_ROOT, SimulatorServer, log, post_with_retries

NAME = "fitconnect"
API_VERSION = {"major": 1, "minor": 1, "patch": 3}

EVENTS = "https://schema.fitko.de/fit-connect/events/"
CREATE_SUBMISSION = EVENTS + "create-submission"
SUBMIT_SUBMISSION = EVENTS + "submit-submission"
FORWARD_SUBMISSION = EVENTS + "forward-submission"
ACCEPT_SUBMISSION = EVENTS + "accept-submission"
REJECT_SUBMISSION = EVENTS + "reject-submission"
#: Event URIs a SET can carry at all; a receiver may only send accept/reject.
KNOWN_EVENTS = {EVENTS + name + "-submission"
                for name in ("create", "submit", "notify", "forward", "reject", "accept", "delete")}
RECEIVER_EVENTS = {ACCEPT_SUBMISSION, REJECT_SUBMISSION}
NEW_SUBMISSIONS_CALLBACK = "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-submissions"
NEW_EVENTS_CALLBACK = "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-events"
#: SET payload schema URL; ``{version}`` from the configurable list of accepted versions.
SET_SCHEMA_URL = "https://schema.fitko.de/fit-connect/set-payload/{version}/set-payload.schema.json"
SET_SCHEMA_PATTERN = re.compile(r"^https://schema\.fitko\.de/fit-connect/set-payload/([0-9]+\.[0-9]+\.[0-9]+)/"
                                r"set-payload\.schema\.json$")
DEFAULT_SET_SCHEMA_VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.2.1", "1.2.2")
#: Problem types of this double's own refusals (the official table was not available offline).
PROBLEM_BASE = "urn:stadtbus:fitconnect-double:problem:"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")
IDENTIFIER_RE = re.compile(r"^urn:[a-z0-9][a-z0-9-]{0,31}:[a-z0-9()+,.:=@;$_!*'%/?#-]+$")
REGION_RE = re.compile(r"^DE[0-9]{0,12}$")
SEMVER_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
#: Seconds a SET's ``iat`` may lie in the future (clock skew between receiver and service).
IAT_SKEW = 60
#: Age after which a callback's timestamp is stale (receivers refuse older than 5 minutes).
STALE_CALLBACK_AGE = 600
CALLBACK_FAULTS = ("duplicate", "stale", "bad-hmac")
DEFAULT_MAX_BODY = 100 * 1024 * 1024
ROUTING_SIGNATURE_MODES = ("valid", "tampered", "other-destination")


# --------------------------------------------------------------------------- encodings and keys

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not B64URL_RE.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_rsa(bits: int = 4096) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def jwk_of(key: rsa.RSAPrivateKey, kid: str, alg: str, key_ops: list[str], private: bool) -> dict:
    """The JWK dict of ``key`` (public part unless ``private``) with kid, alg and key_ops."""
    imported = RSAKey.import_key(key, {"kid": kid, "alg": alg, "key_ops": key_ops})
    return dict(imported.as_dict(private=private))


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class JWKRuleError(ValueError):
    """A JWK that breaks the FIT-Connect key rules (answered with 400 and this text)."""


def check_public_jwk(jwk: dict, purpose: str, require_x5c: bool = False) -> None:
    """Checks a destination's public JWK against the spec's JWK schema and FIT-Connect's key rules.

    ``purpose`` is ``encryption`` (key_ops ``["wrapKey"]``, alg RSA-OAEP-256) or ``signing``
    (``["verify"]``, PS512). RSA, e = AQAB, n of at least 683 base64url characters (4096 bit),
    kid 8–64 characters, no private members. ``x5c`` is required by the spec; the double accepts
    development keys without it unless ``require_x5c``; if present, its first certificate must
    carry this very public key.
    """
    if not isinstance(jwk, dict):
        raise JWKRuleError(f"{purpose} key: not a JSON object")
    wanted_ops, wanted_alg = (["wrapKey"], "RSA-OAEP-256") if purpose == "encryption" else (["verify"], "PS512")
    if jwk.get("kty") != "RSA":
        raise JWKRuleError(f"{purpose} key: kty must be RSA, not {jwk.get('kty')!r}")
    if jwk.get("key_ops") != wanted_ops:
        raise JWKRuleError(f"{purpose} key: key_ops must be {wanted_ops}, not {jwk.get('key_ops')!r}")
    if jwk.get("alg") != wanted_alg:
        raise JWKRuleError(f"{purpose} key: alg must be {wanted_alg}, not {jwk.get('alg')!r}")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 8 <= len(kid) <= 64:
        raise JWKRuleError(f"{purpose} key: kid must be a string of 8 to 64 characters")
    if jwk.get("e") != "AQAB":
        raise JWKRuleError(f"{purpose} key: e must be AQAB")
    n = jwk.get("n")
    if not isinstance(n, str) or len(n) < 683 or not B64URL_RE.match(n):
        raise JWKRuleError(f"{purpose} key: n must be base64url of at least 683 characters (RSA 4096 bit)")
    private = sorted(set(jwk) & {"d", "p", "q", "dp", "dq", "qi", "oth"})
    if private:
        raise JWKRuleError(f"{purpose} key: a public key must not contain {private}")
    x5c = jwk.get("x5c")
    if x5c is None:
        if require_x5c:
            raise JWKRuleError(f"{purpose} key: x5c (certificate chain) is required")
        return
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise JWKRuleError(f"{purpose} key: x5c must be a non-empty list of base64 certificates")
    from cryptography import x509
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True))
    except (ValueError, binascii.Error) as error:
        raise JWKRuleError(f"{purpose} key: x5c[0] is not a DER certificate: {error}") from None
    numbers = certificate.public_key().public_numbers()
    if b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")) != n:
        raise JWKRuleError(f"{purpose} key: x5c[0] certifies another key than n/e")


def hmac_sha512_hex(secret: str, timestamp: str, body: bytes) -> str:
    """``callback-authentication``: hex HMAC-SHA512 over ``"{timestamp}.{body}"``."""
    mac = crypto_hmac.HMAC(secret.encode("utf-8"), hashes.SHA512())
    mac.update(timestamp.encode("ascii") + b"." + body)
    return mac.finalize().hex()


# --------------------------------------------------------------------------- errors

class Problem(Exception):
    """An ``application/problem+json`` answer (RFC 7807): raised by handlers, rendered by the server."""

    def __init__(self, status: int, code: str, title: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.extra = extra

    def body(self, instance: str) -> dict:
        return {"type": PROBLEM_BASE + self.code, "title": self.title, "status": self.status,
                "detail": self.detail, "instance": instance, **self.extra}


def bad_request(code: str, detail: str) -> Problem:
    return Problem(400, code, "Bad Request", detail)


def unprocessable(code: str, detail: str) -> Problem:
    return Problem(422, code, "Unprocessable Entity", detail)


def not_found(code: str, detail: str) -> Problem:
    return Problem(404, code, "Not Found", detail)


# --------------------------------------------------------------------------- model

@dataclass
class Client:
    client_id: str
    secret: str
    scopes: list[str]


@dataclass
class Destination:
    destination_id: str
    status: str
    encryption_key: dict
    signing_key: dict
    services: list[dict]
    metadata_versions: list[str]
    callback_url: Optional[str] = None
    callback_secret: Optional[str] = None
    contact: dict = field(default_factory=lambda: {"legalName": "Stadt Itzehoe", "address": "Reichenstraße 23, "
                                                   "25524 Itzehoe", "phone": "+49 4821 6030",
                                                   "email": "zustellpunkt@itzehoe.example"})

    @property
    def encryption_kid(self) -> str:
        return self.encryption_key["kid"]

    def public(self) -> dict:
        """PublicDestination (what a sender sees)."""
        return {"destinationId": self.destination_id, "status": self.status, "encryptionKid": self.encryption_kid,
                "metadataVersions": list(self.metadata_versions), "services": self.services}

    def private(self) -> dict:
        """PrivateDestination (what the destination's own subscriber sees; the secret is never shown)."""
        view = {**self.public(), "contactInformation": self.contact}
        if self.callback_url:
            view["callback"] = {"url": self.callback_url}
        return view


@dataclass
class Submission:
    submission_id: str
    case_id: str
    destination_id: str
    client_id: str
    announced: list[str]
    service_type: dict
    callback: Optional[dict] = None
    state: str = "incomplete"          # incomplete → submitted → (forwarded) → accepted | rejected
    attachments: dict = field(default_factory=dict)   # attachmentId → JWE
    encrypted_metadata: Optional[str] = None
    encrypted_data: Optional[str] = None
    created: float = 0.0
    submitted: float = 0.0
    answer: Optional[dict] = None

    def reduced(self) -> dict:
        view = {"destinationId": self.destination_id, "submissionId": self.submission_id, "caseId": self.case_id,
                "attachments": [aid for aid in self.announced if aid in self.attachments],
                "serviceType": self.service_type}
        if self.callback:
            view["callback"] = {"url": self.callback["url"]}
        return view

    def full(self) -> dict:
        view = self.reduced()
        view["encryptedMetadata"] = self.encrypted_metadata
        if self.encrypted_data is not None:
            view["encryptedData"] = self.encrypted_data
        return view

    def tags(self) -> dict:
        """authenticationTags of what was handed in: the 5th segment of each JWE."""
        tags = {"metadata": self.encrypted_metadata.split(".")[4],
                "attachments": {aid: self.attachments[aid].split(".")[4] for aid in self.announced}}
        if self.encrypted_data is not None:
            tags["data"] = self.encrypted_data.split(".")[4]
        return tags


def destination_from_config(config: dict, base: Optional[Path] = None) -> tuple[Destination, list[Client]]:
    """Reads a destination (the ``destination.json`` that ``keys`` writes, or a ``/control`` body).

    Secrets come from ``…SecretFile`` paths (relative to ``base``) or inline ``…Secret`` values
    (tests). Raises ValueError with a readable reason.
    """
    def secret(holder: dict, key: str) -> Optional[str]:
        if holder.get(key + "File"):
            path = Path(holder[key + "File"])
            path = path if path.is_absolute() or base is None else base / path
            return path.read_text(encoding="utf-8").strip()
        return holder.get(key)

    if not isinstance(config, dict):
        raise ValueError("a destination must be a JSON object")
    destination_id = str(config.get("destinationId", ""))
    if not UUID_RE.match(destination_id):
        raise ValueError("destinationId must be a UUID")
    status = config.get("status", "active")
    if status not in ("created", "active", "inactive", "decommissioned"):
        raise ValueError(f"status {status!r} is not one of created, active, inactive, decommissioned")
    check_public_jwk(config.get("encryptionPublicKey"), "encryption", bool(config.get("requireX5c")))
    check_public_jwk(config.get("signingPublicKey"), "signing", bool(config.get("requireX5c")))
    if config.get("encryptionKid", config["encryptionPublicKey"]["kid"]) != config["encryptionPublicKey"]["kid"]:
        raise ValueError("encryptionKid must equal the kid of encryptionPublicKey")
    services = config.get("services") or []
    if not services:
        raise ValueError("services must list at least one service")
    for service in services:
        if not IDENTIFIER_RE.match(str(service.get("identifier", ""))):
            raise ValueError(f"service identifier {service.get('identifier')!r} is not a URN")
        if not service.get("regions") or not all(REGION_RE.match(str(r)) for r in service["regions"]):
            raise ValueError("every service needs regions DE<ARS>")
        if not service.get("submissionSchemas"):
            raise ValueError("every service needs submissionSchemas")
    versions = config.get("metadataVersions") or ["1.0.0"]
    if not all(SEMVER_RE.match(str(v)) for v in versions):
        raise ValueError("metadataVersions must be semantic versions")
    callback = config.get("callback") or {}
    callback_secret = secret(callback, "secret")
    if callback_secret is not None and not 32 <= len(callback_secret) <= 512:
        raise ValueError("the callback secret must have 32 to 512 characters")
    destination = Destination(destination_id, status, config["encryptionPublicKey"], config["signingPublicKey"],
                              services, list(versions), callback.get("url"), callback_secret)
    if config.get("contactInformation"):
        destination.contact = config["contactInformation"]
    clients = []
    for entry in config.get("clients") or []:
        client_secret = secret(entry, "clientSecret")
        if not entry.get("clientId") or not client_secret:
            raise ValueError("every client needs clientId and clientSecret(File)")
        clients.append(Client(entry["clientId"], client_secret, list(entry.get("scopes") or [])))
    return destination, clients


# --------------------------------------------------------------------------- HTTP plumbing

@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict          # lower-case names
    body: bytes
    params: tuple = ()

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass
class Reply:
    status: int
    body: object = None
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


def require_content_type(request: Request, wanted: str) -> None:
    if request.content_type != wanted:
        raise Problem(415, "unsupported-media-type", "Unsupported Media Type",
                      f"Content-Type must be {wanted}, not {request.content_type or 'missing'}")


def json_body(request: Request) -> dict:
    require_content_type(request, "application/json")
    try:
        body = json.loads(request.body or b"null")
    except ValueError as error:
        raise bad_request("malformed-json", f"the body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise bad_request("malformed-json", "the body must be a JSON object")
    return body


def paging(request: Request) -> tuple[int, int]:
    """``limit`` (1…500, default 100) and ``offset`` (≥ 0, default 0) from the query string."""
    try:
        limit = int(request.query.get("limit", "100"))
        offset = int(request.query.get("offset", "0"))
    except ValueError:
        raise bad_request("invalid-paging", "limit and offset must be integers") from None
    if not 1 <= limit <= 500:
        raise bad_request("invalid-paging", f"limit must be between 1 and 500, not {limit}")
    if offset < 0:
        raise bad_request("invalid-paging", f"offset must not be negative, not {offset}")
    return limit, offset


def jwe_shape(value: object, what: str, kid: str) -> str:
    """Checks a JWE compact serialization's shape without decrypting it (the service cannot).

    Five base64url parts; protected header JSON with ``alg`` RSA-OAEP-256, ``enc`` A256GCM and
    ``kid`` = the destination's encryptionKid; an encrypted key of an RSA-4096 size (512 bytes), a
    96-bit IV, a non-empty ciphertext and a 128-bit tag. Returns the value; Problem 400 otherwise.
    """
    if not isinstance(value, str) or not value:
        raise bad_request("invalid-jwe", f"{what}: a JWE compact string is required")
    parts = value.split(".")
    if len(parts) != 5:
        raise bad_request("invalid-jwe", f"{what}: a JWE compact serialization has 5 parts, not {len(parts)}")
    try:
        decoded = [b64url_decode(part) for part in parts]
        header = json.loads(decoded[0])
    except (ValueError, binascii.Error):
        raise bad_request("invalid-jwe", f"{what}: parts must be base64url and the header JSON") from None
    if not isinstance(header, dict):
        raise bad_request("invalid-jwe", f"{what}: the protected header must be a JSON object")
    if header.get("alg") != "RSA-OAEP-256":
        raise bad_request("invalid-jwe", f"{what}: alg must be RSA-OAEP-256, not {header.get('alg')!r}")
    if header.get("enc") != "A256GCM":
        raise bad_request("invalid-jwe", f"{what}: enc must be A256GCM, not {header.get('enc')!r}")
    if header.get("kid") != kid:
        raise bad_request("invalid-jwe", f"{what}: kid must be the destination's encryptionKid {kid}, "
                          f"not {header.get('kid')!r}")
    if len(decoded[1]) != 512:
        raise bad_request("invalid-jwe", f"{what}: the encrypted key has {len(decoded[1])} bytes, not 512 (RSA 4096)")
    if len(decoded[2]) != 12 or not decoded[3] or len(decoded[4]) != 16:
        raise bad_request("invalid-jwe", f"{what}: A256GCM needs a 12-byte IV, a ciphertext and a 16-byte tag")
    return value


# --------------------------------------------------------------------------- the delivery service

class DeliveryService:
    """State and endpoints of the double. All state changes happen under ``self.lock``."""

    def __init__(self, server: "FitConnectServer", service_key: Optional[rsa.RSAPrivateKey] = None,
                 base_url: Optional[str] = None, token_ttl: int = 1800,
                 set_schema_versions: tuple = DEFAULT_SET_SCHEMA_VERSIONS,
                 routing_key: Optional[rsa.RSAPrivateKey] = None) -> None:
        self.server = server
        self.lock = threading.RLock()
        self.service_key = service_key or generate_rsa()
        self.service_kid = "fitconnect-double-" + uuid.uuid4().hex[:12]
        self.service_jwk = jwk_of(self.service_key, self.service_kid, "PS512", ["verify"], private=False)
        self._signing_key = RSAKey.import_key(self.service_key, {"kid": self.service_kid, "alg": "PS512",
                                                                  "key_ops": ["sign"]})
        self.base_url = base_url
        self.token_ttl = token_ttl
        self.set_schema_versions = list(set_schema_versions)
        self.clock_offset = 0.0
        self.callback_faults: list[str] = []
        self._routing_key = routing_key
        self.routing_kid = "ssp-double-" + uuid.uuid4().hex[:12]
        self.routing_signature = "valid"
        self.lose_answers = 0
        self.clients: dict[str, Client] = {}
        self.tokens: dict[str, dict] = {}
        self.destinations: dict[str, Destination] = {}
        self.submissions: dict[str, Submission] = {}
        self.cases: dict[str, list[str]] = {}          # caseId → event log (compact SETs)
        self.case_destination: dict[str, str] = {}
        self.used_jti: set[str] = set()
        self.callbacks: list[dict] = []
        self.refusals: list[dict] = []
        self.unknown_fetches: list[str] = []
        server.received.extra.update({"submissions": [], "callbacks": self.callbacks, "refusals": self.refusals,
                                      "unknown-fetches": self.unknown_fetches, "answers": 0})
        server.on_control(self.handle_control)
        routes = [
            ("POST", r"/token", self.token),
            ("GET", r"/v1/info", self.info),
            ("GET", r"/\.well-known/jwks\.json", self.jwks),
            ("GET", r"/v1/destinations/([^/]+)", self.get_destination),
            ("GET", r"/v1/destinations/([^/]+)/keys/([^/]+)", self.get_key),
            ("POST", r"/v1/submissions", self.create_submission),
            ("GET", r"/v1/submissions", self.list_submissions),
            ("GET", r"/v1/submissions/([^/]+)", self.get_submission),
            ("PUT", r"/v1/submissions/([^/]+)", self.submit_submission),
            ("GET", r"/v1/submissions/([^/]+)/attachments/([^/]+)", self.get_attachment),
            ("PUT", r"/v1/submissions/([^/]+)/attachments/([^/]+)", self.put_attachment),
            ("GET", r"/v1/cases/([^/]+)/events", self.get_events),
            ("POST", r"/v1/cases/([^/]+)/events", self.post_event),
            ("GET", r"/routing/v1/routes", self.routes),
            ("GET", r"/routing/v1/info", self.routing_info),
            ("GET", r"/routing/\.well-known/jwks\.json", self.routing_jwks),
        ]
        for method, pattern, handler in routes:
            server.add_route(method, pattern, handler)

    # ---- time, configuration

    def now(self) -> float:
        return time.time() + self.clock_offset

    def issuer(self) -> str:
        return self.base_url or f"http://127.0.0.1:{self.server.port}"

    def add_destination(self, destination: Destination, clients: list[Client]) -> None:
        """Registers (or replaces) a destination and the clients that come with it (scopes checked)."""
        for client in clients:
            self.add_client(client)
        with self.lock:
            self.destinations[destination.destination_id] = destination
        log(NAME, "destination", destinationId=destination.destination_id, status=destination.status,
            encryptionKid=destination.encryption_kid, signingKid=destination.signing_key["kid"],
            clients=[c.client_id for c in clients], callback=destination.callback_url)

    def add_client(self, client: Client) -> None:
        for scope in client.scopes:
            if not re.match(r"^(subscribe|manage):destination:[0-9a-fA-F-]{32,36}$|^send:region:DE[0-9]{0,12}"
                            r"(\+send:service:\S+)?$", scope):
                raise ValueError(f"scope {scope!r} is not one of subscribe:destination:<id>, "
                                 "manage:destination:<id>, send:region:DE<ARS>[+send:service:<uri>]")
        with self.lock:
            self.clients[client.client_id] = client

    def _destination_for_control(self, body: dict) -> Destination:
        wanted = body.get("destinationId")
        if wanted is None:
            if len(self.destinations) != 1:
                raise ValueError("destinationId is required when the double holds more than one destination")
            return next(iter(self.destinations.values()))
        if wanted not in self.destinations:
            raise ValueError(f"unknown destination {wanted}")
        return self.destinations[wanted]

    def handle_control(self, body: dict) -> Optional[dict]:
        """The double's ``/control`` keys (see README.md); ValueError → 400."""
        result: dict = {}
        if "destination" in body:
            destination, clients = destination_from_config(body["destination"])
            self.add_destination(destination, clients)
            result["destination"] = destination.destination_id
        if "client" in body:
            entry = body["client"]
            if not isinstance(entry, dict) or not entry.get("clientId") or not entry.get("clientSecret"):
                raise ValueError("client needs clientId, clientSecret and scopes")
            self.add_client(Client(entry["clientId"], entry["clientSecret"], list(entry.get("scopes") or [])))
            result["client"] = entry["clientId"]
        if "callback-url" in body:
            url = common.callback_url(body, "callback-url")
            with self.lock:
                destination = self._destination_for_control(body)
                destination.callback_url = url
                if "callback-secret" in body:
                    secret = str(body["callback-secret"])
                    if not 32 <= len(secret) <= 512:
                        raise ValueError("callback-secret must have 32 to 512 characters")
                    destination.callback_secret = secret
            result["callback-url"] = url
        if "destination-status" in body:
            status = body["destination-status"]
            if status not in ("created", "active", "inactive", "decommissioned"):
                raise ValueError(f"destination-status {status!r} is not created/active/inactive/decommissioned")
            with self.lock:
                self._destination_for_control(body).status = status
            result["destination-status"] = status
        if "callback-faults" in body:
            faults = body["callback-faults"]
            if not isinstance(faults, list) or any(f not in CALLBACK_FAULTS for f in faults):
                raise ValueError(f"callback-faults must be a list of {', '.join(CALLBACK_FAULTS)}")
            self.callback_faults = list(faults)
            result["callback-faults"] = self.callback_faults
        if "set-schema-versions" in body:
            versions = body["set-schema-versions"]
            if not isinstance(versions, list) or not all(isinstance(v, str) and SEMVER_RE.match(v) for v in versions):
                raise ValueError("set-schema-versions must be a list of semantic versions")
            self.set_schema_versions = list(versions)
            result["set-schema-versions"] = self.set_schema_versions
        if "clock-offset" in body:
            self.clock_offset = float(body["clock-offset"])
            result["clock-offset"] = self.clock_offset
        if "token-ttl" in body:
            self.token_ttl = max(1, int(body["token-ttl"]))
            result["token-ttl"] = self.token_ttl
        if "forward" in body:
            with self.lock:
                submission = self.submissions.get(str(body["forward"]))
                if submission is None or submission.state != "submitted":
                    raise ValueError("forward needs the id of a submission in state submitted")
                submission.state = "forwarded"
                self._log_event(submission, FORWARD_SUBMISSION, {})
            result["forward"] = submission.submission_id
        if "lose-answer-responses" in body:
            count = int(body["lose-answer-responses"])
            if count < 0:
                raise ValueError("lose-answer-responses must not be negative")
            self.lose_answers = count
            result["lose-answer-responses"] = count
        if "routing-signature" in body:
            if body["routing-signature"] not in ROUTING_SIGNATURE_MODES:
                raise ValueError(f"routing-signature must be one of {', '.join(ROUTING_SIGNATURE_MODES)}")
            self.routing_signature = body["routing-signature"]
            result["routing-signature"] = self.routing_signature
        if "emit-callback" in body:
            kind = body["emit-callback"]
            if kind not in ("valid",) + CALLBACK_FAULTS:
                raise ValueError(f"emit-callback must be valid, {', '.join(CALLBACK_FAULTS)}")
            destination = self._destination_for_control(body)
            entry = {"destinationId": destination.destination_id, "submissionId": str(uuid.uuid4()),
                     "caseId": str(uuid.uuid4())}
            self._send_callbacks(destination, entry, [kind], decoy=True)
            result["emit-callback"] = kind
        return result or None

    # ---- authentication and authorization

    def authenticate(self, request: Request) -> Client:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise Problem(401, "unauthorized", "Unauthorized", "a bearer token is required",)
        token = header[7:].strip()
        with self.lock:
            entry = self.tokens.get(token)
        if entry is None:
            raise Problem(401, "invalid-token", "Unauthorized", "unknown access token")
        if entry["expires"] <= self.now():
            raise Problem(401, "token-expired", "Unauthorized", "the access token has expired")
        return Client(entry["clientId"], "", entry["scopes"])

    @staticmethod
    def may_subscribe(client: Client, destination_id: str) -> bool:
        return f"subscribe:destination:{destination_id}" in client.scopes

    @staticmethod
    def may_send(client: Client, destination: Destination, service_identifier: Optional[str]) -> bool:
        """``send:region:DE<ARS>`` (optionally ``+send:service:<uri>``) covers a destination service.

        A region scope matches a service region when one is a prefix of the other (a sender for
        Kreis Steinburg DE01061 reaches a destination serving Itzehoe DE010610046046, and vice versa).
        """
        for scope in client.scopes:
            match = re.match(r"^send:region:(DE[0-9]{0,12})(?:\+send:service:(\S+))?$", scope)
            if not match:
                continue
            region, service_uri = match.groups()
            for service in destination.services:
                if service_identifier is not None and service["identifier"] != service_identifier:
                    continue
                if service_uri is not None and service["identifier"] != service_uri:
                    continue
                if any(r.startswith(region) or region.startswith(r) for r in service["regions"]):
                    return True
        return False

    def forbidden(self, detail: str) -> Problem:
        return Problem(403, "forbidden", "Forbidden", detail)

    # ---- token endpoint

    def token(self, request: Request) -> Reply:
        """OAuth2 client credentials, ``client_secret_post`` only (HTTP Basic is refused)."""
        def oauth_error(status: int, error: str, detail: str) -> Problem:
            return Problem(status, "oauth-" + error.replace("_", "-"),
                           "Unauthorized" if status == 401 else "Bad Request", detail,
                           error=error, error_description=detail)

        if request.headers.get("authorization", "").lower().startswith("basic"):
            raise oauth_error(401, "invalid_client", "HTTP Basic client authentication is not supported: "
                              "send client_id and client_secret in the form body (client_secret_post)")
        require_content_type(request, "application/x-www-form-urlencoded")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            raise oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        client = self.clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(client.secret.encode(), form.get("client_secret", "").encode()):
            raise oauth_error(401, "invalid_client", "unknown client or wrong client_secret")
        scopes = client.scopes
        if form.get("scope"):
            asked = form["scope"].split()
            if not set(asked) <= set(client.scopes):
                raise oauth_error(400, "invalid_scope", f"scopes not granted to this client: "
                                  f"{sorted(set(asked) - set(client.scopes))}")
            scopes = asked
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = {"clientId": client.client_id, "scopes": list(scopes),
                                  "expires": self.now() + self.token_ttl}
        log(NAME, "token", clientId=client.client_id, scopes=scopes, expiresIn=self.token_ttl)
        return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl,
                           "scope": " ".join(scopes)}, headers={"Cache-Control": "no-store"})

    # ---- technical endpoints and destinations

    def info(self, request: Request) -> Reply:
        return Reply(200, {"version": API_VERSION})

    def jwks(self, request: Request) -> Reply:
        return Reply(200, {"keys": [self.service_jwk]})

    def _destination(self, destination_id: str) -> Destination:
        destination = self.destinations.get(destination_id)
        if destination is None:
            raise not_found("destination-not-found", f"no destination {destination_id}")
        return destination

    def get_destination(self, request: Request) -> Reply:
        client = self.authenticate(request)
        destination = self._destination(request.params[0])
        if self.may_subscribe(client, destination.destination_id) or \
                f"manage:destination:{destination.destination_id}" in client.scopes:
            return Reply(200, destination.private(), headers={"Cache-Control": "no-cache"})
        if self.may_send(client, destination, None):
            return Reply(200, destination.public(), headers={"Cache-Control": "no-cache"})
        raise self.forbidden(f"no scope of this client covers destination {destination.destination_id}")

    def get_key(self, request: Request) -> Reply:
        destination = self._destination(request.params[0])
        for key in (destination.encryption_key, destination.signing_key):
            if key["kid"] == request.params[1]:
                return Reply(200, key, headers={"Cache-Control": "no-cache"})
        raise not_found("key-not-found", f"destination {destination.destination_id} has no key {request.params[1]}")

    # ---- sender side

    def create_submission(self, request: Request) -> Reply:
        client = self.authenticate(request)
        body = json_body(request)
        destination_id = body.get("destinationId")
        if not isinstance(destination_id, str) or not UUID_RE.match(destination_id):
            raise bad_request("invalid-submission", "destinationId must be a UUID")
        announced = body.get("announcedAttachments")
        if not isinstance(announced, list) or not all(isinstance(a, str) and UUID_RE.match(a) for a in announced):
            raise bad_request("invalid-submission", "announcedAttachments must be a list of UUIDs")
        if len(set(announced)) != len(announced):
            raise bad_request("invalid-submission", "announcedAttachments must not repeat an id")
        service_type = body.get("serviceType")
        if not isinstance(service_type, dict) or not isinstance(service_type.get("name"), str) or \
                not IDENTIFIER_RE.match(str(service_type.get("identifier", ""))):
            raise bad_request("invalid-submission", "serviceType needs a name and a URN identifier")
        callback = body.get("callback")
        if callback is not None:
            if not isinstance(callback, dict) or not str(callback.get("url", "")).startswith(("https://", "http://")) \
                    or not 32 <= len(str(callback.get("secret", ""))) <= 512:
                raise bad_request("invalid-submission", "callback needs a url and a secret of 32 to 512 characters")
        destination = self.destinations.get(destination_id)
        if destination is None:
            raise not_found("destination-not-found", f"no destination {destination_id}")
        if not self.may_send(client, destination, None):
            raise self.forbidden(f"no send:region scope of this client covers destination {destination_id}")
        if destination.status != "active":
            raise unprocessable("destination-not-active", f"destination {destination_id} is {destination.status}, "
                                "not active")
        if not any(s["identifier"] == service_type["identifier"] for s in destination.services):
            raise unprocessable("service-not-offered", f"destination {destination_id} does not offer "
                                f"{service_type['identifier']}")
        if not self.may_send(client, destination, service_type["identifier"]):
            raise self.forbidden(f"this client may not send {service_type['identifier']} to {destination_id}")
        with self.lock:
            case_id = body.get("caseId")
            if case_id is not None:
                if not isinstance(case_id, str) or not UUID_RE.match(case_id):
                    raise bad_request("invalid-submission", "caseId must be a UUID")
                if case_id not in self.cases:
                    raise not_found("case-not-found", f"no case {case_id}")
                if self.case_destination[case_id] != destination_id:
                    raise unprocessable("case-of-other-destination", f"case {case_id} belongs to another destination")
            else:
                case_id = str(uuid.uuid4())
                self.cases[case_id] = []
                self.case_destination[case_id] = destination_id
            submission = Submission(str(uuid.uuid4()), case_id, destination_id, client.client_id, list(announced),
                                    {k: v for k, v in service_type.items() if k in ("name", "description",
                                                                                     "identifier")},
                                    callback, created=self.now())
            self.submissions[submission.submission_id] = submission
            self._log_event(submission, CREATE_SUBMISSION, {})
        log(NAME, "created", submissionId=submission.submission_id, caseId=case_id, destinationId=destination_id,
            announced=announced)
        return Reply(201, {"destinationId": destination_id, "submissionId": submission.submission_id,
                           "caseId": case_id})

    def _own_submission(self, request: Request, client: Client) -> Submission:
        submission = self.submissions.get(request.params[0])
        if submission is None:
            raise not_found("submission-not-found", f"no submission {request.params[0]}")
        if submission.client_id != client.client_id:
            raise self.forbidden("this submission was created by another client")
        return submission

    def put_attachment(self, request: Request) -> Reply:
        client = self.authenticate(request)
        submission = self._own_submission(request, client)
        require_content_type(request, "application/jose")
        attachment_id = request.params[1]
        with self.lock:
            if submission.state != "incomplete":
                raise unprocessable("submission-not-incomplete", f"submission is {submission.state}; attachments "
                                    "can only be added before it is submitted")
            if attachment_id not in submission.announced:
                raise unprocessable("attachment-not-announced", f"attachment {attachment_id} was not announced "
                                    "(announcedAttachments of the submission)")
            destination = self.destinations[submission.destination_id]
            jwe = jwe_shape(request.body.decode("ascii", "replace").strip(), f"attachment {attachment_id}",
                            destination.encryption_kid)
            submission.attachments[attachment_id] = jwe
        log(NAME, "attachment", submissionId=submission.submission_id, attachmentId=attachment_id, size=len(jwe))
        return Reply(204)

    def submit_submission(self, request: Request) -> Reply:
        client = self.authenticate(request)
        submission = self._own_submission(request, client)
        body = json_body(request)
        with self.lock:
            if submission.state != "incomplete":
                raise unprocessable("submission-not-incomplete", f"submission is already {submission.state}")
            kid = self.destinations[submission.destination_id].encryption_kid
            metadata = jwe_shape(body.get("encryptedMetadata"), "encryptedMetadata", kid)
            data = body.get("encryptedData")
            if data is not None:
                jwe_shape(data, "encryptedData", kid)
            missing = [aid for aid in submission.announced if aid not in submission.attachments]
            if missing:
                raise unprocessable("attachments-missing", f"announced attachments not uploaded: {missing}")
            submission.encrypted_metadata = metadata
            submission.encrypted_data = data
            submission.state = "submitted"
            submission.submitted = self.now()
            self._log_event(submission, SUBMIT_SUBMISSION, {"authenticationTags": submission.tags()})
            destination = self.destinations[submission.destination_id]
            self._record_submission(submission)
        self.server.received.record(submission.submission_id)
        log(NAME, "submitted", submissionId=submission.submission_id, caseId=submission.case_id,
            destinationId=submission.destination_id, attachments=len(submission.attachments))
        entry = {"destinationId": submission.destination_id, "submissionId": submission.submission_id,
                 "caseId": submission.case_id}
        self._send_callbacks(destination, entry, ["valid"] + self.callback_faults)
        return Reply(202, submission.reduced())

    # ---- receiver side

    def list_submissions(self, request: Request) -> Reply:
        client = self.authenticate(request)
        limit, offset = paging(request)
        wanted = request.query.get("destinationId")
        if wanted is not None:
            if not UUID_RE.match(wanted):
                raise bad_request("invalid-query", "destinationId must be a UUID")
            if not self.may_subscribe(client, wanted):
                raise self.forbidden(f"this client has no scope subscribe:destination:{wanted}")
            destinations = {wanted}
        else:
            destinations = {s.split(":", 2)[2] for s in client.scopes if s.startswith("subscribe:destination:")}
            if not destinations:
                raise self.forbidden("this client has no subscribe:destination scope")
        with self.lock:
            ready = sorted((s for s in self.submissions.values()
                            if s.state == "submitted" and s.destination_id in destinations),
                           key=lambda s: s.submitted)
        page = ready[offset:offset + limit]
        return Reply(200, {"count": len(page), "offset": offset, "totalCount": len(ready),
                           "submissions": [{"destinationId": s.destination_id, "submissionId": s.submission_id,
                                            "caseId": s.case_id} for s in page]})

    def _readable_submission(self, request: Request, client: Client) -> Submission:
        submission = self.submissions.get(request.params[0])
        if submission is None:
            with self.lock:
                self.unknown_fetches.append(request.params[0])
            raise not_found("submission-not-found", f"no submission {request.params[0]}")
        if not self.may_subscribe(client, submission.destination_id):
            raise self.forbidden(f"this client has no scope subscribe:destination:{submission.destination_id}")
        if submission.state not in ("submitted", "forwarded"):
            raise not_found("submission-not-found", f"submission {submission.submission_id} is {submission.state}, "
                            "not submitted or forwarded")
        return submission

    def get_submission(self, request: Request) -> Reply:
        client = self.authenticate(request)
        submission = self._readable_submission(request, client)
        log(NAME, "fetched", submissionId=submission.submission_id)
        return Reply(200, submission.full())

    def get_attachment(self, request: Request) -> Reply:
        client = self.authenticate(request)
        submission = self._readable_submission(request, client)
        jwe = submission.attachments.get(request.params[1])
        if jwe is None:
            raise not_found("attachment-not-found", f"submission {submission.submission_id} has no attachment "
                            f"{request.params[1]}")
        return Reply(200, jwe, content_type="application/jose")

    # ---- events

    def _log_event(self, submission: Submission, event: str, payload: dict) -> str:
        """Signs and appends one of the service's own SETs (create/submit/forward) to the case's log."""
        claims = {"$schema": SET_SCHEMA_URL.format(version=self.set_schema_versions[-1]
                                                   if self.set_schema_versions else "1.0.0"),
                  "jti": str(uuid.uuid4()), "iss": self.issuer(), "iat": int(self.now()),
                  "sub": f"submission:{submission.submission_id}", "txn": f"case:{submission.case_id}",
                  "events": {event: payload}}
        token = jws.serialize_compact({"typ": "secevent+jwt", "alg": "PS512", "kid": self.service_kid},
                                      json.dumps(claims, separators=(",", ":")), self._signing_key,
                                      algorithms=["PS512"])
        self.cases.setdefault(submission.case_id, []).append(token)
        return token

    def get_events(self, request: Request) -> Reply:
        client = self.authenticate(request)
        case_id = request.params[0]
        limit, offset = paging(request)
        with self.lock:
            if case_id not in self.cases:
                raise not_found("case-not-found", f"no case {case_id}")
            destination = self.destinations[self.case_destination[case_id]]
            senders = {s.client_id for s in self.submissions.values() if s.case_id == case_id}
            if not (self.may_subscribe(client, destination.destination_id) or client.client_id in senders):
                raise self.forbidden(f"this client may not read case {case_id}")
            log_ = list(self.cases[case_id])
        page = log_[offset:offset + limit]
        return Reply(200, {"count": len(page), "offset": offset, "totalCount": len(log_), "eventLog": page})

    def post_event(self, request: Request) -> Reply:
        """The receiver's accept/reject SET, checked in the order README.md gives; refusals are recorded."""
        client = self.authenticate(request)
        case_id = request.params[0]
        try:
            reply = self._post_event(client, case_id, request)
        except Problem as problem:
            with self.lock:
                self.refusals.append({"caseId": case_id, "status": problem.status, "code": problem.code,
                                      "detail": problem.detail})
            log(NAME, "event-refused", caseId=case_id, status=problem.status, code=problem.code,
                detail=problem.detail)
            raise
        return reply

    def _post_event(self, client: Client, case_id: str, request: Request) -> Reply:
        require_content_type(request, "application/jose")
        with self.lock:
            if case_id not in self.cases:
                raise not_found("case-not-found", f"no case {case_id}")
            destination = self.destinations[self.case_destination[case_id]]
        if not self.may_subscribe(client, destination.destination_id):
            raise self.forbidden(f"this client has no scope subscribe:destination:{destination.destination_id}")
        token = request.body.decode("ascii", "replace").strip()
        parts = token.split(".")
        if len(parts) != 3 or not all(parts) or not all(B64URL_RE.match(p) for p in parts):
            raise bad_request("invalid-jws", "the body must be a compact JWS (three base64url parts)")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
        except (ValueError, binascii.Error):
            raise bad_request("invalid-jws", "the JWS header and payload must be base64url JSON") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise bad_request("invalid-jws", "the JWS header and payload must be JSON objects")
        # header
        if header.get("typ") != "secevent+jwt":
            raise unprocessable("set-header-typ", f"typ must be secevent+jwt, not {header.get('typ')!r}")
        if header.get("alg") != "PS512":
            raise unprocessable("set-header-alg", f"alg must be PS512, not {header.get('alg')!r}")
        verify_key = destination.signing_key
        if header.get("kid") != verify_key["kid"]:
            raise unprocessable("set-header-kid", f"kid {header.get('kid')!r} is not the destination's registered "
                                f"signing key {verify_key['kid']}")
        extra = sorted(set(header) - {"typ", "alg", "kid", "cty"})
        if extra:
            raise unprocessable("set-header-extra", f"unexpected header parameters {extra}")
        # signature against the registered verify key
        try:
            jws.deserialize_compact(token, RSAKey.import_key(verify_key), algorithms=["PS512"])
        except (JoseError, ValueError) as error:
            raise unprocessable("set-signature", f"the signature does not verify with key {verify_key['kid']}: "
                                f"{type(error).__name__}") from None
        # claims
        if claims.get("iss") != destination.destination_id:
            raise unprocessable("set-claim-iss", f"iss must be the destinationId {destination.destination_id}")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not UUID_RE.match(jti):
            raise unprocessable("set-claim-jti", "jti must be a UUID")
        iat = claims.get("iat")
        if not isinstance(iat, int) or isinstance(iat, bool) or iat > self.now() + IAT_SKEW:
            raise unprocessable("set-claim-iat", "iat must be a Unix time in seconds, not in the future")
        if claims.get("txn") != f"case:{case_id}":
            raise unprocessable("set-claim-txn", f"txn must be case:{case_id}")
        sub = claims.get("sub")
        submission_id = sub[len("submission:"):] if isinstance(sub, str) and sub.startswith("submission:") else None
        submission = self.submissions.get(submission_id or "")
        if submission is None or submission.case_id != case_id:
            raise unprocessable("set-claim-sub", f"sub must be submission:<id> of a submission of case {case_id}")
        schema = claims.get("$schema")
        if schema is not None:
            match = SET_SCHEMA_PATTERN.match(str(schema))
            if not match or match.group(1) not in self.set_schema_versions:
                raise unprocessable("set-schema-version", f"$schema {schema!r} is not an accepted SET payload schema "
                                    f"(versions {', '.join(self.set_schema_versions)})")
        events = claims.get("events")
        if not isinstance(events, dict) or len(events) != 1:
            raise unprocessable("set-events-count", "events must hold exactly one event")
        event, payload = next(iter(events.items()))
        if event not in KNOWN_EVENTS:
            raise unprocessable("set-event-unknown", f"unknown event {event}")
        if event not in RECEIVER_EVENTS:
            raise unprocessable("set-event-not-allowed", f"a receiver may only send accept-submission or "
                                f"reject-submission, not {event}")
        if not isinstance(payload, dict):
            raise unprocessable("set-event-payload", "the event payload must be a JSON object")
        with self.lock:
            # state first: a receiver that resends its stored SET after a crash must learn "already answered"
            if submission.state in ("accepted", "rejected"):
                raise Problem(409, "invalid-state-transition", "Conflict",
                              f"submission {submission.submission_id} was already {submission.state}")
            if submission.state not in ("submitted", "forwarded"):
                raise not_found("submission-not-found", f"submission {submission.submission_id} is "
                                f"{submission.state}, not submitted or forwarded")
            if jti in self.used_jti:
                raise unprocessable("set-jti-replay", f"jti {jti} was already used")
            # payload
            if event == ACCEPT_SUBMISSION:
                self._check_accept(submission, payload)
            else:
                self._check_reject(payload)
            self.used_jti.add(jti)
            submission.state = "accepted" if event == ACCEPT_SUBMISSION else "rejected"
            submission.answer = {"event": event.rsplit("/", 1)[-1], "jti": jti, **(
                {"problems": payload["problems"]} if event == REJECT_SUBMISSION else {})}
            self.cases[case_id].append(token)
            self._record_submission(submission)
        self.server.received.bump("answers")
        log(NAME, "answered", submissionId=submission.submission_id, caseId=case_id, state=submission.state)
        lose = False
        with self.lock:
            if self.lose_answers > 0:
                self.lose_answers -= 1
                lose = True
        if submission.callback:
            body = {"type": NEW_EVENTS_CALLBACK, "submissions": [{"destinationId": submission.destination_id,
                                                                  "submissionId": submission.submission_id,
                                                                  "caseId": case_id}]}
            self._deliver_in_background([self._prepare_callback(submission.callback["url"],
                                                                submission.callback["secret"], body, "valid",
                                                                submission.submission_id)])
        if lose:
            log(NAME, "answer-response-lost", submissionId=submission.submission_id)
            return Reply(0)  # recorded, but the connection closes without a response
        return Reply(204)

    @staticmethod
    def _check_accept(submission: Submission, payload: dict) -> None:
        tags = payload.get("authenticationTags")
        if not isinstance(tags, dict):
            raise unprocessable("accept-tags-missing", "accept-submission needs authenticationTags")
        expected = submission.tags()
        if tags.get("metadata") != expected["metadata"]:
            raise unprocessable("accept-tags-mismatch", "authenticationTags.metadata does not match the stored "
                                "encryptedMetadata")
        if tags.get("data") != expected.get("data"):
            raise unprocessable("accept-tags-mismatch", "authenticationTags.data does not match the stored "
                                "encryptedData")
        attachments = tags.get("attachments", {} if not expected["attachments"] else None)
        if attachments != expected["attachments"]:
            raise unprocessable("accept-tags-mismatch", "authenticationTags.attachments must name every attachment "
                                "with the tag of its stored JWE")
        extra = sorted(set(tags) - {"metadata", "data", "attachments"})
        if extra:
            raise unprocessable("accept-tags-mismatch", f"unexpected authenticationTags members {extra}")

    @staticmethod
    def _check_reject(payload: dict) -> None:
        problems = payload.get("problems")
        if not isinstance(problems, list) or not problems:
            raise unprocessable("reject-problems", "reject-submission needs a non-empty list of problems")
        for problem in problems:
            if not isinstance(problem, dict) or not all(isinstance(problem.get(k), str) and problem.get(k)
                                                         for k in ("type", "title", "detail", "instance")):
                raise unprocessable("reject-problems", "every problem needs type, title, detail and instance")
            if not re.match(r"^[a-z][a-z0-9+.-]*:\S+$", problem["type"]):
                raise unprocessable("reject-problems", f"problem type {problem['type']!r} is not a URI")

    def _record_submission(self, submission: Submission) -> None:
        rows = self.server.received.extra["submissions"]
        row = {"submissionId": submission.submission_id, "caseId": submission.case_id,
               "destinationId": submission.destination_id, "state": submission.state,
               "answer": submission.answer}
        for index, existing in enumerate(rows):
            if existing["submissionId"] == submission.submission_id:
                rows[index] = row
                return
        rows.append(row)

    # ---- Routing API 2.0.0 (find a destination by service key and area)

    def routing_key(self) -> rsa.RSAPrivateKey:
        """The stand-in Self-Service-Portal's signing key (made on first use)."""
        with self.lock:
            if self._routing_key is None:
                self._routing_key = generate_rsa()
            return self._routing_key

    def routing_jwks(self, request: Request) -> Reply:
        return Reply(200, {"keys": [jwk_of(self.routing_key(), self.routing_kid, "PS512", ["verify"], private=False)]})

    def routing_info(self, request: Request) -> Reply:
        return Reply(200, {"version": {"major": 2, "minor": 0, "patch": 0}})

    def routes(self, request: Request) -> Reply:
        """``GET /routing/v1/routes?leikaKey=99…&ars=…|ags=…``: routes with a signed ``destinationSignature``.

        Exactly one of ``ars``/``ags``/``areaId`` (areaId: 400, areas are not simulated). A destination
        is found when it is active and has a service ``urn:de:fim:leika:leistung:<leikaKey>`` whose
        region (DE<ARS>) contains the area. ``/control {"routing-signature": …}`` makes the signature
        ``tampered`` (payload changed after signing) or ``other-destination`` (validly signed, for another
        destinationId).
        """
        leika = request.query.get("leikaKey", "")
        if not re.match(r"^99\d{12}$", leika):
            raise bad_request("invalid-leika-key", "leikaKey must match ^99\\d{12}$")
        areas = [k for k in ("ars", "ags", "areaId") if k in request.query]
        if len(areas) != 1:
            raise bad_request("invalid-area", "give exactly one of ars, ags, areaId")
        kind, value = areas[0], request.query[areas[0]]
        if kind == "areaId":
            raise bad_request("area-not-simulated", "areaId lookups are not simulated: use ars or ags")
        pattern = r"^(\d{2}|\d{3}|\d{5}|\d{9}|\d{12})$" if kind == "ars" else r"^(\d{2}|\d{3}|\d{5}|\d{8})$"
        if not re.match(pattern, value):
            raise bad_request("invalid-area", f"{kind} {value!r} has the wrong form")
        limit, offset = paging(request)
        identifier = f"urn:de:fim:leika:leistung:{leika}"

        def contains(region: str) -> bool:
            served = region[2:]
            if kind == "ars":
                return value.startswith(served)
            # AGS = Land, RB, Kreis (5 digits) + Gemeinde (3); the ARS puts the Gemeindeverband (4) between.
            if len(served) <= 5:
                return value[:len(served)] == served if len(value) >= len(served) else False
            return len(value) == 8 and served[:5] == value[:5] and (len(served) < 12 or served[9:12] == value[5:8])

        with self.lock:
            found = [(d, s) for d in self.destinations.values() if d.status == "active"
                     for s in d.services if s["identifier"] == identifier and any(contains(r) for r in s["regions"])]
        page = found[offset:offset + limit]
        routes = [{"destinationId": d.destination_id,
                   "destinationSignature": self._destination_signature(d, s),
                   "destinationName": d.contact.get("legalName", "")} for d, s in page]
        return Reply(200, {"count": len(routes), "offset": offset, "totalCount": len(found), "routes": routes})

    def _destination_signature(self, destination: Destination, service: dict) -> str:
        claims = {"submissionHost": urllib.parse.urlsplit(self.issuer()).netloc,
                  "iss": self.issuer() + "/routing",
                  "services": [{"gebietIDs": ["urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:" + r[2:]
                                              for r in service["regions"]],
                                "leistungIDs": [service["identifier"]]}],
                  "destinationId": destination.destination_id
                  if self.routing_signature != "other-destination" else str(uuid.uuid4()),
                  "iat": int(self.now()), "jti": str(uuid.uuid4())}
        key = RSAKey.import_key(self.routing_key(), {"kid": self.routing_kid, "alg": "PS512", "key_ops": ["sign"]})
        token = jws.serialize_compact({"kid": self.routing_kid, "typ": "jwt", "alg": "PS512"},
                                      json.dumps(claims, separators=(",", ":")), key, algorithms=["PS512"])
        if self.routing_signature == "tampered":
            header, _, signature = token.split(".")
            changed = {**claims, "destinationId": str(uuid.uuid4())}
            token = ".".join([header, b64url(json.dumps(changed, separators=(",", ":")).encode()), signature])
        return token

    # ---- callbacks

    def _send_callbacks(self, destination: Destination, entry: dict, kinds: list[str], decoy: bool = False) -> None:
        """Sends ``new-submissions`` callbacks: ``valid`` plus any configured faults.

        ``duplicate`` repeats the valid one (same body, new timestamp); ``stale`` is correctly signed
        but ``STALE_CALLBACK_AGE`` seconds old; ``bad-hmac`` is fresh but signed with another secret.
        Stale and bad ones announce a decoy submission id that does not exist, so a receiver that
        trusts them shows up in ``/received`` ``unknown-fetches``.
        """
        if not destination.callback_url or not destination.callback_secret:
            return
        deliveries = []
        for kind in kinds:
            announced = entry if kind in ("valid", "duplicate") and not decoy else \
                {**entry, "submissionId": str(uuid.uuid4())}
            body = {"type": NEW_SUBMISSIONS_CALLBACK, "submissions": [announced]}
            deliveries.append(self._prepare_callback(destination.callback_url, destination.callback_secret, body,
                                                     kind, announced["submissionId"]))
        self._deliver_in_background(deliveries)

    @staticmethod
    def _deliver_in_background(deliveries: list) -> None:
        """One thread per event sends its callbacks in order (valid → duplicate → stale → bad-hmac)."""
        def run() -> None:
            for deliver in deliveries:
                deliver()
        threading.Thread(target=run, name="fitconnect-callbacks", daemon=True).start()

    def _prepare_callback(self, url: str, secret: str, body: dict, kind: str, submission_id: str) -> Callable:
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(self.now() - (STALE_CALLBACK_AGE if kind == "stale" else 0)))
        key = secret if kind != "bad-hmac" else "not-the-callback-secret-" + secrets.token_hex(16)
        headers = {"callback-authentication": hmac_sha512_hex(key, timestamp, payload),
                   "callback-timestamp": timestamp}
        record = {"kind": kind, "submissionId": submission_id, "url": url, "status": None}
        with self.lock:
            self.callbacks.append(record)

        def deliver() -> None:
            result = post_with_retries(url, payload, content_type="application/json", headers=headers, attempts=4,
                                       timeout=5.0)
            record["status"] = result.status
            log(NAME, "callback", kind=kind, submissionId=submission_id, status=result.status,
                attempts=result.attempts, error=result.error)

        return deliver


# --------------------------------------------------------------------------- server

class FitConnectServer(SimulatorServer):
    """SimulatorServer with method + pattern routes, PUT, query strings, headers and problem+json."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(NAME, host, port)
        #: Largest request body (the attachments of a submission can be tens of MB, base64url-encoded in JWEs).
        self.max_body = DEFAULT_MAX_BODY
        self.pattern_routes: list[tuple[str, re.Pattern, Callable[[Request], Reply]]] = []

    def add_route(self, method: str, pattern: str, handler: Callable[[Request], Reply]) -> None:
        self.pattern_routes.append((method, re.compile("^" + pattern + "$"), handler))

    def dispatch(self, method: str, raw_path: str, headers: dict, body: bytes) -> Reply:
        split = urllib.parse.urlsplit(raw_path)
        path = split.path
        query = {k: v[0] for k, v in urllib.parse.parse_qs(split.query).items()}
        matched_path = False
        for route_method, pattern, handler in self.pattern_routes:
            match = pattern.match(path)
            if not match:
                continue
            matched_path = True
            if route_method != method:
                continue
            request = Request(method, path, query, headers, body, match.groups())
            try:
                return handler(request)
            except Problem as problem:
                return Reply(problem.status, problem.body(path), "application/problem+json")
        if matched_path:
            problem = Problem(405, "method-not-allowed", "Method Not Allowed", f"no {method} {path}")
            return Reply(405, problem.body(path), "application/problem+json")
        return Reply(404, not_found("no-such-endpoint", f"no {method} {path}").body(path), "application/problem+json")

    def _handler_class(self) -> type:
        server = self
        base = super()._handler_class()

        class RequestHandler(base):  # type: ignore[misc, valid-type]
            def _reply(self, reply: Reply) -> None:
                if reply.status == 0:  # a lost response: the request took effect, the caller hears nothing
                    self.close_connection = True
                    return
                if isinstance(reply.body, (dict, list)):
                    payload = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
                elif isinstance(reply.body, str):
                    payload = reply.body.encode("utf-8")
                else:
                    payload = reply.body or b""
                self.send_response(reply.status)
                if reply.status != 204:
                    self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def _read_body(self, limit: int) -> bytes:
                """The request body, by Content-Length or chunked (HTTP clients that stream send chunks)."""
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks, total = [], 0
                    while True:
                        line = self.rfile.readline(1024).split(b";", 1)[0].strip()
                        try:
                            size = int(line, 16)
                        except ValueError:
                            raise ValueError("malformed chunked body") from None
                        if size == 0:
                            while self.rfile.readline(1024).strip():
                                pass  # trailers
                            return b"".join(chunks)
                        total += size
                        if total > limit:
                            raise ValueError(f"body larger than {limit} bytes")
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline(16)
                length = int(self.headers.get("Content-Length") or 0)
                if length > limit:
                    raise ValueError(f"body larger than {limit} bytes")
                return self.rfile.read(length) if length else b""

            def _serve(self, method: str) -> None:
                path = urllib.parse.urlsplit(self.path).path
                if path in ("/health", "/received", "/control"):
                    return self._dispatch(method)  # the common control interface
                try:
                    body = self._read_body(server.max_body)
                except ValueError as error:
                    self.close_connection = True
                    status, code, title = (413, "too-large", "Request Entity Too Large") if "larger" in str(error) \
                        else (400, "malformed-request", "Bad Request")
                    return self._reply(Reply(status, Problem(status, code, title, str(error)).body(path),
                                             "application/problem+json"))
                failure = server._failure()
                if failure == "down":
                    log(NAME, "refused", reason="mode down", path=path)
                    return self._reply(Reply(503, Problem(503, "unavailable", "Service Unavailable",
                                                          "fitconnect is down (simulated)").body(path),
                                             "application/problem+json"))
                if failure == "error":
                    log(NAME, "failed", reason="flaky 500", path=path)
                    return self._reply(Reply(500, Problem(500, "internal", "Internal Server Error",
                                                          "simulated internal error").body(path),
                                             "application/problem+json"))
                if failure == "hang":
                    log(NAME, "hanging", seconds=server.behaviour.hang_seconds, path=path)
                    time.sleep(server.behaviour.hang_seconds)
                    self.close_connection = True
                    return None
                if server.behaviour.delay_ms:
                    time.sleep(server.behaviour.delay_ms / 1000.0)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    reply = server.dispatch(method, self.path, headers, body)
                except Exception as error:  # a double bug must be visible, not kill the thread
                    log(NAME, "handler-error", path=path, error=repr(error))
                    reply = Reply(500, Problem(500, "internal", "Internal Server Error",
                                               f"double error: {error!r}").body(path), "application/problem+json")
                self._reply(reply)

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._serve("PUT")

            def do_DELETE(self) -> None:  # noqa: N802
                self._serve("DELETE")

            def do_PATCH(self) -> None:  # noqa: N802
                self._serve("PATCH")

        return RequestHandler


# --------------------------------------------------------------------------- keys command

#: Defaults of a development destination: Stadt Itzehoe (ARS 010610046046), XBeteiligung 1.2.
DEFAULT_REGION = "DE010610046046"
DEFAULT_SENDER_REGION = "DE01061"
#: A placeholder LeiKa-style service URN (no verified LeiKa key for Bauleitplanung participation offline).
DEFAULT_SERVICE = "urn:de:fim:leika:leistung:99000000000000"
XBETEILIGUNG_SCHEMA_URI = "https://www.xleitstelle.de/xbeteiligung/12"


def write_keys(out: Path, destination_id: Optional[str] = None, bits: int = 4096,
               region: str = DEFAULT_REGION, sender_region: str = DEFAULT_SENDER_REGION,
               service: str = DEFAULT_SERVICE) -> Path:
    """Writes a development destination under ``out/<destinationId>/``; returns that directory.

    Files (private ones mode 0600): ``encryption-private.jwk.json`` / ``.pem`` (key_ops unwrapKey,
    RSA-OAEP-256) and ``signing-private.jwk.json`` / ``.pem`` (key_ops sign, PS512) for Stadtbus;
    ``encryption-public.jwk.json`` (wrapKey) and ``signing-public.jwk.json`` (verify) as registered
    at the double; ``callback.secret``, ``subscriber.secret`` (Stadtbus's client secret),
    ``sender.secret`` (the portal's); ``destination.json`` for ``serve --destination``.
    No x5c: development keys without a certificate chain.
    """
    destination_id = destination_id or str(uuid.uuid4())
    if not UUID_RE.match(destination_id):
        raise SystemExit("--destination-id must be a UUID")
    directory = out / destination_id
    directory.mkdir(parents=True, exist_ok=True)
    short = destination_id[:8]
    encryption_key, signing_key = generate_rsa(bits), generate_rsa(bits)
    encryption_kid, signing_kid = f"enc-{uuid.uuid4()}", f"sig-{uuid.uuid4()}"

    def write(name: str, content: bytes | str, private: bool) -> None:
        path = directory / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        path.chmod(0o600 if private else 0o644)

    def dump(value: dict) -> str:
        return json.dumps(value, indent=2) + "\n"

    write("encryption-private.jwk.json", dump(jwk_of(encryption_key, encryption_kid, "RSA-OAEP-256",
                                                     ["unwrapKey"], private=True)), True)
    write("encryption-private.pem", private_pem(encryption_key), True)
    write("signing-private.jwk.json", dump(jwk_of(signing_key, signing_kid, "PS512", ["sign"], private=True)), True)
    write("signing-private.pem", private_pem(signing_key), True)
    encryption_public = jwk_of(encryption_key, encryption_kid, "RSA-OAEP-256", ["wrapKey"], private=False)
    signing_public = jwk_of(signing_key, signing_kid, "PS512", ["verify"], private=False)
    write("encryption-public.jwk.json", dump(encryption_public), False)
    write("signing-public.jwk.json", dump(signing_public), False)
    for name in ("callback.secret", "subscriber.secret", "sender.secret"):
        write(name, secrets.token_urlsafe(48) + "\n", True)
    destination = {
        "destinationId": destination_id, "status": "active", "encryptionKid": encryption_kid,
        "encryptionPublicKey": encryption_public, "signingPublicKey": signing_public,
        "services": [{"identifier": service, "regions": [region],
                      "submissionSchemas": [{"schemaUri": XBETEILIGUNG_SCHEMA_URI, "mimeType": "application/xml"}]}],
        "metadataVersions": ["1.0.0"],
        "callback": {"url": None, "secretFile": "callback.secret"},
        "clients": [
            {"clientId": f"stadtbus-{short}", "clientSecretFile": "subscriber.secret",
             "scopes": [f"subscribe:destination:{destination_id}"]},
            {"clientId": f"portal-{short}", "clientSecretFile": "sender.secret",
             "scopes": [f"send:region:{sender_region}"]},
        ],
    }
    write("destination.json", dump(destination), False)
    return directory


def load_destination_file(path: Path) -> tuple[Destination, list[Client]]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        return destination_from_config(config, base=path.parent)
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot load destination {path}: {error}") from None


# --------------------------------------------------------------------------- CLI

def make_server(host: str = "127.0.0.1", port: int = 0, service_key: Optional[rsa.RSAPrivateKey] = None,
                base_url: Optional[str] = None, token_ttl: int = 1800,
                routing_key: Optional[rsa.RSAPrivateKey] = None) -> tuple[FitConnectServer, DeliveryService]:
    """A server and its delivery service, not yet serving (tests call ``start_background``)."""
    server = FitConnectServer(host, port)
    service = DeliveryService(server, service_key, base_url, token_ttl, routing_key=routing_key)
    return server, service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the delivery-service double")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8095)
    serve.add_argument("--destination", type=Path, action="append", default=[],
                       help="a destination.json written by `keys` (repeatable)")
    serve.add_argument("--token-ttl", type=int, default=1800, help="access-token lifetime in seconds")
    serve.add_argument("--base-url", help="the service's own URL (iss of its SETs); default http://host:port")
    serve.add_argument("--service-key", type=Path, help="PEM of the service's SET signing key (default: generated)")
    serve.add_argument("--max-body-mb", type=int, default=DEFAULT_MAX_BODY // (1024 * 1024),
                       help="largest request body in MiB (413 above)")
    serve.add_argument("--callback-url", help="callback URL of the destination(s) loaded with --destination "
                       "(else the file's; also settable later with POST /control {\"callback-url\": …})")
    serve.add_argument("--set-schema-versions", default=",".join(DEFAULT_SET_SCHEMA_VERSIONS),
                       help="accepted SET payload schema versions, comma-separated")
    keys = commands.add_parser("keys", help="write a development destination's keys and secrets")
    keys.add_argument("--out", type=Path, default=REPO_ROOT / "run" / "fitconnect")
    keys.add_argument("--destination-id", help="UUID (default: a new one)")
    keys.add_argument("--bits", type=int, default=4096)
    keys.add_argument("--region", default=DEFAULT_REGION, help="the destination's service region DE<ARS>")
    keys.add_argument("--sender-region", default=DEFAULT_SENDER_REGION, help="the portal client's send:region")
    keys.add_argument("--service", default=DEFAULT_SERVICE, help="the service identifier (URN)")
    submit = commands.add_parser("submit", help="the portal double: send submissions through the double")
    import fitconnect_portal
    fitconnect_portal.add_arguments(submit)
    try:  # an image that copied only fitconnect.py and fitconnect_portal.py still serves and submits
        import fitconnect_receiver
    except ImportError:
        fitconnect_receiver = None
    if fitconnect_receiver is not None:
        receive = commands.add_parser("receive", help="the receiver double: fetch, check and answer a "
                                      "destination's waiting submissions once")
        fitconnect_receiver.add_arguments(receive)
    args = parser.parse_args()
    if args.command == "keys":
        directory = write_keys(args.out, args.destination_id, args.bits, args.region, args.sender_region,
                               args.service)
        print(directory)
        return
    if args.command == "submit":
        common.log_stream = sys.stderr
        sys.exit(fitconnect_portal.run(args))
    if args.command == "receive":
        common.log_stream = sys.stderr
        sys.exit(fitconnect_receiver.run(args))
    service_key = None
    if args.service_key:
        service_key = serialization.load_pem_private_key(args.service_key.read_bytes(), password=None)
    server, service = make_server(args.host, args.port, service_key, args.base_url, args.token_ttl)
    server.max_body = args.max_body_mb * 1024 * 1024
    versions = tuple(v.strip() for v in args.set_schema_versions.split(",") if v.strip())
    service.set_schema_versions = list(versions)
    for path in args.destination:
        destination, clients = load_destination_file(path)
        if args.callback_url:
            destination.callback_url = args.callback_url
        try:
            service.add_destination(destination, clients)
        except ValueError as error:
            raise SystemExit(f"cannot load destination {path}: {error}") from None
    server.serve_forever()


if __name__ == "__main__":
    main()
