"""The portal double for FIT-Connect: an online service that sends submissions to a destination.

Used by ``fitconnect.py submit`` (see its docstring and README.md). For one submission it

1. gets an access token (client credentials in the form body, ``client_secret_post``),
2. reads the destination (``GET /v1/destinations/{id}``) and its encryption key
   (``GET …/keys/{encryptionKid}``) and checks the key (RSA 4096, ``wrapKey``, ``RSA-OAEP-256``),
3. makes the Fachdaten (the shared XBeteiligung ``kommunal.Initiieren.0401`` with fresh
   nachrichtenUUID, vorgangsID, planID, creation time), a small PDF attachment and the metadata
   (schema 1.0.0: SHA-512 of the unencrypted data and attachment, submissionSchema, LeiKa service,
   senderReference = the nachrichtenUUID), validates the metadata against
   ``metadata.schema.v1.0.0.json``,
4. encrypts metadata, data and attachment as separate JWEs (RSA-OAEP-256 + A256GCM, ``kid`` = the
   destination's encryptionKid, ``cty`` set, never ``zip``) with joserfc,
5. creates the submission, uploads the attachment, submits.

Variants (one per run) make submissions a receiver must reject: ``tamper-hash`` (the data hash in
the metadata is wrong), ``tamper-ciphertext`` (one bit of the data JWE's ciphertext flipped after
encryption: the GCM tag no longer matches), ``missing-attachment`` (the metadata lists a second
attachment that was never announced or uploaded), ``invalid-metadata`` (an attachment purpose
outside the schema's enum), ``invalid-fachdaten`` (the 0401 is well-formed but no longer valid
against its XSD; hashes correct).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Optional

import jsonschema
from joserfc import jwe
from joserfc.jwk import RSAKey

from common import SHARED, log
from fitconnect import b64url, b64url_decode, check_public_jwk
from portal import EXAMPLE, fresh_application

NAME = "fitconnect-portal"
METADATA_SCHEMA = SHARED / "fit-connect" / "metadata.schema.v1.0.0.json"
METADATA_SCHEMA_ID = "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json"
VARIANTS = ("ok", "tamper-hash", "tamper-ciphertext", "missing-attachment", "invalid-metadata", "invalid-fachdaten")


def minimal_pdf(text: str) -> bytes:
    """A small, valid one-page PDF 1.4 showing ``text`` (xref offsets computed)."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1", "replace")
    stream = b"BT /F1 14 Tf 72 770 Td (" + safe + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 " + str(len(objects) + 1).encode() + b"\n0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += b"trailer\n<< /Size " + str(len(objects) + 1).encode() + b" /Root 1 0 R >>\nstartxref\n" + \
        str(xref).encode() + b"\n%%EOF\n"
    return bytes(out)


def sha512_hex(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def metadata_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(METADATA_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def metadata_errors(metadata: dict) -> list[str]:
    """Schema violations of ``metadata`` against metadata.schema.v1.0.0.json (empty: valid)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in metadata_validator().iter_errors(metadata)]


def encrypt(plaintext: bytes, key: dict, cty: str) -> str:
    """One JWE compact string for the destination's public ``key`` (RSA-OAEP-256 + A256GCM)."""
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": key["kid"], "cty": cty}
    # key_ops was checked (["wrapKey"]) by check_public_jwk; joserfc 1.x asks RSA-OAEP keys for the
    # operation "encrypt" rather than "wrapKey", so it gets the key without key_ops.
    usable = RSAKey.import_key({k: v for k, v in key.items() if k != "key_ops"})
    return jwe.encrypt_compact(header, plaintext, usable, algorithms=["RSA-OAEP-256", "A256GCM"])


def flip_ciphertext_bit(token: str) -> str:
    """The same JWE with one bit of its ciphertext (4th part) flipped: the shape stays valid."""
    parts = token.split(".")
    ciphertext = bytearray(b64url_decode(parts[3]))
    ciphertext[len(ciphertext) // 2] ^= 0x01
    parts[3] = b64url(bytes(ciphertext))
    return ".".join(parts)


def invalidate_fachdaten(document: str) -> str:
    """The 0401 with its ``nachrichteninhalt`` renamed: well-formed, not valid against the XSD."""
    changed, count = re.subn(r"(</?(?:\w+:)?)nachrichteninhalt([\s>])", r"\1nachrichtenInhaltUngueltig\2", document)
    if count != 2:
        raise SystemExit("the 0401 template has no nachrichteninhalt element")
    return changed


# --------------------------------------------------------------------------- HTTP client

@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


def http_call(method: str, url: str, body: Optional[bytes] = None, headers: Optional[dict] = None,
              attempts: int = 5, timeout: float = 15.0) -> Answer:
    """One HTTP exchange; retried on 502/503/504 and refused connections (status 0 if never answered)."""
    delay = 0.25
    last = Answer(0, {}, b"")
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as error:
            last = Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read() or b"")
            if error.code not in (502, 503, 504):
                return last
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException, OSError) as error:
            last = Answer(0, {}, str(getattr(error, "reason", error)).encode())
        if attempt + 1 < attempts:
            time.sleep(delay)
            delay = min(delay * 2, 4.0)
    return last


class SubmissionFailed(RuntimeError):
    def __init__(self, step: str, answer: Answer) -> None:
        super().__init__(f"{step}: HTTP {answer.status} {answer.body[:300].decode('utf-8', 'replace')}")
        self.step = step
        self.answer = answer


@dataclass
class PortalClient:
    """A sender of the Submission API v1 with a cached access token."""

    base_url: str
    client_id: str
    client_secret: str
    token_url: Optional[str] = None
    _token: Optional[str] = None
    _expires: float = 0.0

    def token(self) -> str:
        if self._token and time.time() < self._expires - 30:
            return self._token
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": self.client_id,
                                       "client_secret": self.client_secret}).encode()
        answer = http_call("POST", self.token_url or self.base_url.rstrip("/") + "/token", form,
                           {"Content-Type": "application/x-www-form-urlencoded"})
        if answer.status != 200:
            raise SubmissionFailed("token", answer)
        token = answer.json()
        self._token, self._expires = token["access_token"], time.time() + int(token.get("expires_in", 60))
        return self._token

    def call(self, method: str, path: str, body: Optional[bytes] = None, content_type: Optional[str] = None) -> Answer:
        headers = {"Authorization": f"Bearer {self.token()}"}
        if content_type:
            headers["Content-Type"] = content_type
        return http_call(method, self.base_url.rstrip("/") + path, body, headers)

    def expect(self, step: str, status: int, answer: Answer) -> Answer:
        if answer.status != status:
            raise SubmissionFailed(step, answer)
        return answer


@dataclass
class Prepared:
    """A submission before sending, with its plaintexts (tests compare what the receiver decrypts)."""

    variant: str
    message_id: str
    data: bytes
    attachments: dict              # attachmentId → (filename, bytes)
    metadata: dict
    encrypted_metadata: str = ""
    encrypted_data: str = ""
    encrypted_attachments: dict = field(default_factory=dict)


def prepare(key: dict, service: dict, variant: str = "ok", template: Path = EXAMPLE,
            attachment: Optional[Path] = None) -> Prepared:
    """Builds and encrypts one submission for the destination's encryption ``key``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant}")
    check_public_jwk(key, "encryption")
    message_id, document = fresh_application(template.read_text(encoding="utf-8"))
    if variant == "invalid-fachdaten":
        document = invalidate_fachdaten(document)
    data = document.encode("utf-8")
    pdf = attachment.read_bytes() if attachment else minimal_pdf(f"Antrag {message_id} - Planunterlage")
    attachment_id = str(uuid.uuid4())
    schema = (service.get("submissionSchemas") or [{}])[0]
    metadata = {
        "$schema": METADATA_SCHEMA_ID,
        "publicServiceType": {"name": service.get("name", "Beteiligung Bauleitplanung"),
                              "identifier": service["identifier"]},
        "contentStructure": {
            "data": {"hash": {"type": "sha512", "content": sha512_hex(data)},
                     "submissionSchema": {"schemaUri": schema.get("schemaUri", "https://www.xleitstelle.de/"
                                                                  "xbeteiligung/12"),
                                          "mimeType": schema.get("mimeType", "application/xml")}},
            "attachments": [{"hash": {"type": "sha512", "content": sha512_hex(pdf)}, "purpose": "attachment",
                             "filename": "Planunterlage.pdf", "mimeType": "application/pdf",
                             "attachmentId": attachment_id}],
        },
        "additionalReferenceInfo": {"senderReference": message_id, "applicationDate": date.today().isoformat()},
    }
    if variant == "tamper-hash":
        metadata["contentStructure"]["data"]["hash"]["content"] = sha512_hex(data + b"\n<!-- anders -->")
    if variant == "missing-attachment":
        metadata["contentStructure"]["attachments"].append(
            {"hash": {"type": "sha512", "content": sha512_hex(b"Lageplan")}, "purpose": "attachment",
             "filename": "Lageplan.pdf", "mimeType": "application/pdf", "attachmentId": str(uuid.uuid4())})
    if variant == "invalid-metadata":
        metadata["contentStructure"]["attachments"][0]["purpose"] = "anlage"
    errors = metadata_errors(metadata)
    if variant == "invalid-metadata" and not errors:
        raise SystemExit("bug: the invalid-metadata variant validates against the metadata schema")
    if variant != "invalid-metadata" and errors:
        raise SystemExit(f"bug: the metadata does not validate against the metadata schema: {errors}")
    prepared = Prepared(variant, message_id, data, {attachment_id: ("Planunterlage.pdf", pdf)}, metadata)
    prepared.encrypted_metadata = encrypt(json.dumps(metadata, ensure_ascii=False).encode("utf-8"), key,
                                          "application/json")
    prepared.encrypted_data = encrypt(data, key, "application/xml")
    if variant == "tamper-ciphertext":
        prepared.encrypted_data = flip_ciphertext_bit(prepared.encrypted_data)
    prepared.encrypted_attachments = {aid: encrypt(content, key, "application/pdf")
                                      for aid, (_, content) in prepared.attachments.items()}
    return prepared


def send(client: PortalClient, destination_id: str, variant: str = "ok", template: Path = EXAMPLE,
         attachment: Optional[Path] = None, service_identifier: Optional[str] = None,
         case_id: Optional[str] = None) -> tuple[dict, Prepared]:
    """Sends one submission; returns ({submissionId, caseId, …}, the Prepared plaintexts)."""
    destination = client.expect("destination", 200, client.call("GET", f"/v1/destinations/{destination_id}")).json()
    key = client.expect("key", 200, client.call(
        "GET", f"/v1/destinations/{destination_id}/keys/{destination['encryptionKid']}")).json()
    services = destination.get("services") or []
    service = next((s for s in services if s["identifier"] == service_identifier), None) if service_identifier \
        else (services[0] if services else None)
    if service is None:
        raise SystemExit(f"destination {destination_id} offers no service {service_identifier or ''}")
    prepared = prepare(key, service, variant, template, attachment)
    create = {"destinationId": destination_id, "announcedAttachments": list(prepared.encrypted_attachments),
              "serviceType": {"name": "Beteiligung Bauleitplanung", "identifier": service["identifier"]}}
    if case_id:
        create["caseId"] = case_id
    created = client.expect("create", 201, client.call("POST", "/v1/submissions", json.dumps(create).encode(),
                                                       "application/json")).json()
    submission_id = created["submissionId"]
    for aid, token in prepared.encrypted_attachments.items():
        client.expect(f"attachment {aid}", 204, client.call("PUT", f"/v1/submissions/{submission_id}/attachments/{aid}",
                                                            token.encode("ascii"), "application/jose"))
    body = {"encryptedMetadata": prepared.encrypted_metadata, "encryptedData": prepared.encrypted_data}
    client.expect("submit", 202, client.call("PUT", f"/v1/submissions/{submission_id}", json.dumps(body).encode(),
                                             "application/json"))
    result = {"submissionId": submission_id, "caseId": created["caseId"], "destinationId": destination_id,
              "variant": variant, "nachrichtenUUID": prepared.message_id,
              "attachments": list(prepared.encrypted_attachments)}
    log(NAME, "submitted", **result)
    return result, prepared


# --------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8095", help="the delivery service's base URL")
    parser.add_argument("--token-url", help="default: <url>/token")
    parser.add_argument("--destination-dir", type=Path,
                        help="a directory written by `keys` (destinationId, portal client and sender.secret)")
    parser.add_argument("--destination-id")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret-file", type=Path)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--template", type=Path, default=EXAMPLE, help="the XBeteiligung 0401 to vary")
    parser.add_argument("--attachment", type=Path, help="a PDF to attach (default: a generated one-page PDF)")
    parser.add_argument("--service", help="service identifier (default: the destination's first)")
    parser.add_argument("--case-id", help="submit into an existing case")
    group = parser.add_mutually_exclusive_group()
    for variant in VARIANTS[1:]:
        group.add_argument(f"--{variant}", dest="variant", action="store_const", const=variant,
                           help=f"send the {variant} variant (see fitconnect_portal.py)")
    parser.set_defaults(variant="ok")


def run(args: argparse.Namespace) -> int:
    destination_id, client_id, secret_file = args.destination_id, args.client_id, args.client_secret_file
    if args.destination_dir:
        config = json.loads((args.destination_dir / "destination.json").read_text(encoding="utf-8"))
        sender = next(c for c in config["clients"] if any(s.startswith("send:") for s in c["scopes"]))
        destination_id = destination_id or config["destinationId"]
        client_id = client_id or sender["clientId"]
        secret_file = secret_file or args.destination_dir / sender["clientSecretFile"]
    if not (destination_id and client_id and secret_file):
        raise SystemExit("give --destination-dir, or --destination-id, --client-id and --client-secret-file")
    client = PortalClient(args.url, client_id, Path(secret_file).read_text(encoding="utf-8").strip(), args.token_url)
    submitted, failed = [], []
    for _ in range(max(1, args.count)):
        try:
            result, _ = send(client, destination_id, args.variant, args.template, args.attachment, args.service,
                             args.case_id)
            submitted.append(result)
        except SubmissionFailed as error:
            failed.append({"step": error.step, "status": error.answer.status,
                           "answer": error.answer.body[:500].decode("utf-8", "replace")})
            log(NAME, "failed", step=error.step, status=error.answer.status)
    print(json.dumps({"submitted": submitted, "failed": failed}, indent=2))
    return 0 if not failed else 1
