"""A receiving-system double for FIT-Connect: fetches, decrypts, checks and answers submissions.

Used by ``fitconnect.py receive`` (README.md, section fitconnect): it plays the authority's receiver
for a destination whose private keys it has (the directory ``keys`` wrote), e.g. when Stadtbus is the
*sender* (answering within a case) and something must take its submissions, or to see what a
correct receiver does. Steps, as in ``../shared/design/fit-connect.md``:

1. token (``client_secret_post``), list ``submitted`` submissions of the destination (paged);
2. fetch each, decrypt the metadata (joserfc, RSA-OAEP-256 + A256GCM, the private key), validate it
   against the metadata schema 1.0.0; decrypt the data and compare its SHA-512; fetch, decrypt and
   hash-check every attachment; the attachment ids of metadata and submission must agree;
3. sign ``accept-submission`` (authenticationTags = the 5th segments of the received JWEs) or, after
   the first failed check, ``reject-submission`` with one problem, as a SET (PS512, the signing key)
   and post it to ``/v1/cases/{caseId}/events``; a 409 counts as already answered.

The problem types are this double's guess at FIT-Connect's (the official table was not available
offline): data in ``PROBLEMS``, not code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Optional

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from common import SHARED, log, xmllint_validate
from fitconnect import ACCEPT_SUBMISSION, REJECT_SUBMISSION, SET_SCHEMA_URL, XBETEILIGUNG_SCHEMA_URI
from fitconnect_portal import PortalClient, SubmissionFailed, metadata_errors

NAME = "fitconnect-receiver"
PROBLEM_BASE = "https://schema.fitko.de/fit-connect/events/problems/"
#: check → (problem type suffix, title, instance); unverified names (see the module docstring).
PROBLEMS = {
    "decrypt-metadata": ("encryption-issue", "Entschlüsselungsfehler", "metadata"),
    "metadata-schema": ("schema-violation", "Schema-Fehler", "metadata"),
    "decrypt-data": ("encryption-issue", "Entschlüsselungsfehler", "data"),
    "data-hash": ("hash-mismatch", "Prüfsumme stimmt nicht", "data"),
    "data-schema": ("schema-violation", "Schema-Fehler", "data"),
    "attachments-mismatch": ("attachments-mismatch", "Anlagen stimmen nicht überein", "metadata"),
    "decrypt-attachment": ("encryption-issue", "Entschlüsselungsfehler", "attachment"),
    "attachment-hash": ("hash-mismatch", "Prüfsumme stimmt nicht", "attachment"),
}


#: submissionSchema.schemaUri → the XSD the Fachdaten (application/xml) are validated against.
XML_SCHEMAS = {XBETEILIGUNG_SCHEMA_URI: SHARED / "xoev" / "xbeteiligung-1.2" / "schemas" /
               "xbeteiligung-kommunaleBauleitplanung.xsd"}


class CheckFailed(Exception):
    def __init__(self, check: str, detail: str) -> None:
        super().__init__(detail)
        self.check = check
        self.detail = detail


class Receiver:
    def __init__(self, client: PortalClient, destination_id: str, encryption_jwk: dict, signing_jwk: dict,
                 set_schema_version: str = "1.2.2") -> None:
        self.client = client
        self.destination_id = destination_id
        # joserfc asks RSA-OAEP keys for "decrypt"/"sign" operations; key_ops was written by `keys`
        self.decryption_key = RSAKey.import_key({k: v for k, v in encryption_jwk.items() if k != "key_ops"})
        self.signing_key = RSAKey.import_key(signing_jwk)
        self.signing_kid = signing_jwk["kid"]
        self.set_schema_version = set_schema_version

    def decrypt(self, token: str, check: str) -> bytes:
        try:
            return jwe.decrypt_compact(token, self.decryption_key, algorithms=["RSA-OAEP-256", "A256GCM"]).plaintext
        except (JoseError, ValueError) as error:
            raise CheckFailed(check, f"cannot decrypt: {type(error).__name__}") from None

    def check(self, submission_id: str) -> tuple[dict, dict]:
        """Fetches and checks one submission; returns (submission, authenticationTags) or raises CheckFailed."""
        answer = self.client.call("GET", f"/v1/submissions/{submission_id}")
        submission = self.client.expect("fetch", 200, answer).json()
        metadata = json.loads(self.decrypt(submission["encryptedMetadata"], "decrypt-metadata"))
        errors = metadata_errors(metadata)
        if errors:
            raise CheckFailed("metadata-schema", "; ".join(errors[:3]))
        structure = metadata["contentStructure"]
        tags = {"metadata": submission["encryptedMetadata"].split(".")[4], "attachments": {}}
        if submission.get("encryptedData") is not None:
            data = self.decrypt(submission["encryptedData"], "decrypt-data")
            tags["data"] = submission["encryptedData"].split(".")[4]
            if hashlib.sha512(data).hexdigest() != structure.get("data", {}).get("hash", {}).get("content"):
                raise CheckFailed("data-hash", "SHA-512 of the data differs from contentStructure.data.hash")
            schema = structure["data"].get("submissionSchema", {})
            xsd = XML_SCHEMAS.get(schema.get("schemaUri", ""))
            if schema.get("mimeType") == "application/xml" and xsd is not None:
                valid, reason = xmllint_validate(data, xsd)
                if not valid:
                    raise CheckFailed("data-schema", reason.splitlines()[0] if reason else "not valid")
        listed = {entry["attachmentId"]: entry for entry in structure["attachments"]}
        if set(listed) != set(submission["attachments"]):
            raise CheckFailed("attachments-mismatch", f"metadata lists {sorted(listed)}, the submission has "
                              f"{sorted(submission['attachments'])}")
        for aid in submission["attachments"]:
            answer = self.client.expect(f"attachment {aid}", 200, self.client.call(
                "GET", f"/v1/submissions/{submission_id}/attachments/{aid}"))
            token = answer.body.decode("ascii")
            content = self.decrypt(token, "decrypt-attachment")
            if hashlib.sha512(content).hexdigest() != listed[aid]["hash"]["content"]:
                raise CheckFailed("attachment-hash", f"SHA-512 of attachment {aid} differs from the metadata")
            tags["attachments"][aid] = token.split(".")[4]
        return submission, tags

    def answer(self, submission: dict, event: str, payload: dict) -> int:
        claims = {"$schema": SET_SCHEMA_URL.format(version=self.set_schema_version), "jti": str(uuid.uuid4()),
                  "iss": self.destination_id, "iat": int(time.time()),
                  "sub": f"submission:{submission['submissionId']}", "txn": f"case:{submission['caseId']}",
                  "events": {event: payload}}
        token = jws.serialize_compact({"typ": "secevent+jwt", "alg": "PS512", "kid": self.signing_kid},
                                      json.dumps(claims), self.signing_key, algorithms=["PS512"])
        return self.client.call("POST", f"/v1/cases/{submission['caseId']}/events", token.encode("ascii"),
                                "application/jose").status

    def receive_all(self) -> list[dict]:
        """Answers every submission waiting for the destination; returns one result per submission."""
        results = []
        listing = self.client.expect("list", 200, self.client.call(
            "GET", f"/v1/submissions?destinationId={self.destination_id}&limit=500")).json()
        for entry in listing["submissions"]:
            submission_id = entry["submissionId"]
            try:
                submission, tags = self.check(submission_id)
                status = self.answer(submission, ACCEPT_SUBMISSION, {"authenticationTags": tags})
                result = {"submissionId": submission_id, "answer": "accept", "status": status}
            except CheckFailed as failed:
                suffix, title, instance = PROBLEMS[failed.check]
                problem = {"type": PROBLEM_BASE + suffix, "title": title, "detail": failed.detail,
                           "instance": instance}
                status = self.answer({**entry}, REJECT_SUBMISSION, {"problems": [problem]})
                result = {"submissionId": submission_id, "answer": "reject", "status": status, "problem": problem}
            result["done"] = result["status"] in (204, 409)
            log(NAME, "answered", **result)
            results.append(result)
        return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8095", help="the delivery service's base URL")
    parser.add_argument("--token-url", help="default: <url>/token")
    parser.add_argument("--destination-dir", type=Path, required=True,
                        help="a directory written by `keys` (private keys, subscriber client and secret)")
    parser.add_argument("--set-schema-version", default="1.2.2", help="SET payload schema version to name")


def run(args: argparse.Namespace, client: Optional[PortalClient] = None) -> int:
    directory: Path = args.destination_dir
    config = json.loads((directory / "destination.json").read_text(encoding="utf-8"))
    subscriber = next(c for c in config["clients"] if any(s.startswith("subscribe:") for s in c["scopes"]))
    client = client or PortalClient(args.url, subscriber["clientId"],
                                    (directory / subscriber["clientSecretFile"]).read_text(encoding="utf-8").strip(),
                                    args.token_url)
    receiver = Receiver(client, config["destinationId"],
                        json.loads((directory / "encryption-private.jwk.json").read_text(encoding="utf-8")),
                        json.loads((directory / "signing-private.jwk.json").read_text(encoding="utf-8")),
                        args.set_schema_version)
    try:
        results = receiver.receive_all()
    except SubmissionFailed as error:
        print(json.dumps({"answered": [], "error": {"step": error.step, "status": error.answer.status,
                                                    "answer": error.answer.body[:500].decode("utf-8", "replace")}},
                         indent=2))
        return 1
    print(json.dumps({"answered": results}, indent=2))
    return 0 if all(r["done"] for r in results) else 1
