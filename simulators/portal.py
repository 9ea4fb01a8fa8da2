#!/usr/bin/env python3
"""Portal simulator: the participation portal / planning system that submits XBeteiligung applications.

In reality this is the municipality's online participation and planning system (e.g. DiPlan
Cockpit, or the citizen portal of the Online-Zugangsgesetz) that starts a land-use-plan
procedure with XBeteiligung ``kommunal.Initiieren.0401`` and receives status messages such as
``kommunal.Initiieren.OK.0411`` back.

Commands:

* ``serve``: ``POST /status`` records XBeteiligung status messages (e.g.
  ``kommunal.Initiieren.OK.0411``), by their own nachrichtenUUID, together with the application
  they refer to; ``GET /received`` lists them (``statuses``). ``POST /zahlungsstatus`` records
  the camt.054.001.08 payment confirmations Stadtbus forwards, by their remittance reference
  (``RmtInf/Ustrd`` = the application's nachrichtenUUID): ``payments``, ``paid``.
* ``submit``: POSTs the shared example ``kommunal.Initiieren.0401`` N times with a fresh
  nachrichtenUUID, vorgangsID and planID each, prints the UUIDs as JSON and, with ``--pay-fees``,
  pays each application's fee at the payment simulator (``POST /zahlungen``).

How a status finds its application: XBeteiligung acknowledgements (``Nachrichteninhalt.template.OK``
/ ``.NOK``) carry no reference to the original message's nachrichtenUUID; they echo the original
message's ``nachrichteninhalt/vorgangsID`` (and planID, beteiligungsID). So ``submit`` gives every
application its own vorgangsID ``ID_<nachrichtenUUID>`` (the shared example's vorgangsID has the
same ``ID_<uuid>`` shape), and a status's ``vorgangsID`` ``ID_<uuid>`` (or a bare ``<uuid>``) refers
to the application with nachrichtenUUID ``<uuid>``. Stadtbus passes the 0401's vorgangsID, which
it registered with the case, to mappings/eakte-quittung-to-portal-status.xsl as ``vorgangs-id``.

Usage::

    run/venv/bin/python simulators/portal.py serve --port 8091
    run/venv/bin/python simulators/portal.py submit --count 5 --url http://127.0.0.1:8081/eingang/portal \\
        --token-file run/secrets/portal.token --pay-fees --payment-url http://127.0.0.1:8093
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import common
from common import (SHARED, Response, SimulatorServer, has_doctype, log, post_with_retries, read_token,
                    utc_now, xmllint_validate)

NAME = "portal"
G2G_NS = "http://xoev.de/schemata/basisnachricht/g2g/1_1"
XBET_NS = "https://www.xleitstelle.de/xbeteiligung/12"
CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
EXAMPLE = SHARED / "xoev" / "xbeteiligung-1.2" / "examples" / "kommunal.Initiieren.0401.xml"
SCHEMA = SHARED / "xoev" / "xbeteiligung-1.2" / "schemas" / "xbeteiligung-kommunaleBauleitplanung.xsd"
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: A vorgangsID that names an application: "ID_<nachrichtenUUID>" (what ``submit`` sends) or the bare UUID.
VORGANG_PATTERN = re.compile(r"(?:ID_)?(" + UUID_PATTERN.pattern + ")")


def vorgangs_id(message_id: str) -> str:
    """The vorgangsID ``submit`` gives the application with this nachrichtenUUID."""
    return f"ID_{message_id}"


def fresh_application(template: str) -> tuple[str, str]:
    """Returns (nachrichtenUUID, document) with a fresh nachrichtenUUID, vorgangsID, planID and creation time.

    Only the text of ``nachrichtenUUID``, ``vorgangsID`` (``ID_<nachrichtenUUID>``, see
    ``vorgangs_id``), ``planID`` and ``erstellungszeitpunkt`` changes, whatever namespace prefix the
    template uses; everything else stays byte for byte as in the example.
    """
    message_id = str(uuid.uuid4())
    document, count = re.subn(r"(<(?:\w+:)?nachrichtenUUID>)[^<]*(</(?:\w+:)?nachrichtenUUID>)",
                              rf"\g<1>{message_id}\g<2>", template, count=1)
    if count != 1:
        raise SystemExit("the 0401 template has no nachrichtenUUID element")
    document = re.sub(r"(<(?:\w+:)?vorgangsID>)[^<]*(</(?:\w+:)?vorgangsID>)",
                      rf"\g<1>{vorgangs_id(message_id)}\g<2>", document, count=1)
    document = re.sub(r"(<(?:\w+:)?planID>)[^<]*(</(?:\w+:)?planID>)",
                      rf"\g<1>ID_{uuid.uuid4()}\g<2>", document)
    document = re.sub(r"(<(?:\w+:)?erstellungszeitpunkt>)[^<]*(</(?:\w+:)?erstellungszeitpunkt>)",
                      rf"\g<1>{utc_now()}\g<2>", document, count=1)
    return message_id, document


def status_details(body: bytes) -> dict:
    """Reads a status message's type, own UUID, echoed IDs and the application it refers to.

    ``references`` (the application's nachrichtenUUID) comes from ``nachrichteninhalt/vorgangsID``
    (XBeteiligung's ``Nachrichteninhalt.template.OK``): ``ID_<uuid>`` or ``<uuid>`` gives ``<uuid>``
    (see the module docstring), any other vorgangsID is kept as it is; without a vorgangsID, the
    text of an element named ``referenz``/``referenzUUID``; failing those, the first UUID-shaped
    text other than the status message's own nachrichtenUUID. ``vorgangsID``, ``planID`` and
    ``beteiligungsID`` are the texts as received.
    """
    root = ET.fromstring(body)
    local = root.tag.split("}", 1)[-1]
    own = ""
    echoed = {"vorgangsID": "", "planID": "", "beteiligungsID": ""}
    other_reference = ""
    for element in root.iter():
        name = element.tag.split("}", 1)[-1] if isinstance(element.tag, str) else ""
        text = (element.text or "").strip()
        if name == "nachrichtenUUID" and not own:
            own = text
        elif name in echoed and not echoed[name] and text:
            echoed[name] = text
        elif name in ("referenz", "referenzUUID") and not other_reference and text:
            other_reference = text
    reference = ""
    if echoed["vorgangsID"]:
        match = VORGANG_PATTERN.fullmatch(echoed["vorgangsID"])
        reference = match.group(1) if match else echoed["vorgangsID"]
    if not reference:
        reference = other_reference
    if not reference:
        for element in root.iter():
            text = (element.text or "").strip()
            if text and text != own and UUID_PATTERN.fullmatch(text):
                reference = text
                break
    return {"type": local, "nachrichtenUUID": own, "references": reference, **echoed}


class PaymentError(ValueError):
    """A payment status the portal cannot take (answered with 400 and this text)."""


def payment_details(body: bytes) -> dict:
    """Reads a camt.054.001.08 confirmation: reference (RmtInf/Ustrd), amount, currency, booking date, MsgId.

    Raises PaymentError for DOCTYPEs, non-well-formed XML, another root, no/several transactions,
    a missing reference, amount or currency.
    """
    if has_doctype(body):
        raise PaymentError("DOCTYPE/ENTITY declarations are refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise PaymentError(f"not well-formed XML: {error}") from None
    ns = {"c": CAMT_NS}
    notification = root.find("c:BkToCstmrDbtCdtNtfctn", ns)
    if root.tag != f"{{{CAMT_NS}}}Document" or notification is None:
        raise PaymentError(f"expected a camt.054.001.08 Document/BkToCstmrDbtCdtNtfctn ({CAMT_NS}), got {root.tag}")
    transactions = notification.findall("c:Ntfctn/c:Ntry/c:NtryDtls/c:TxDtls", ns)
    if len(transactions) != 1:
        raise PaymentError(f"expected exactly one Ntfctn/Ntry/NtryDtls/TxDtls, got {len(transactions)}")
    entry = notification.find("c:Ntfctn/c:Ntry", ns)
    reference = (transactions[0].findtext("c:RmtInf/c:Ustrd", "", ns) or "").strip()
    amount_element = transactions[0].find("c:Amt", ns)
    if amount_element is None:
        amount_element = entry.find("c:Amt", ns)
    amount = (amount_element.text or "").strip() if amount_element is not None else ""
    currency = (amount_element.get("Ccy") or "").strip() if amount_element is not None else ""
    if not reference:
        raise PaymentError("no remittance reference (Ntry/NtryDtls/TxDtls/RmtInf/Ustrd)")
    if not amount or not currency:
        raise PaymentError("no amount with currency (TxDtls/Amt or Ntry/Amt with @Ccy)")
    return {"reference": reference,
            "msgId": (notification.findtext("c:GrpHdr/c:MsgId", "", ns) or "").strip(),
            "amount": amount, "currency": currency,
            "booked": (entry.findtext("c:BookgDt/c:Dt", "", ns) or entry.findtext("c:BookgDt/c:DtTm", "", ns)).strip(),
            "credit": (entry.findtext("c:CdtDbtInd", "", ns) or "").strip()}


class Portal:
    """The portal's receiving side: status messages and payment statuses from Stadtbus."""

    def __init__(self, server: SimulatorServer, schema: Optional[Path] = SCHEMA) -> None:
        self.server = server
        self.schema = schema if schema is not None and schema.is_file() else None
        self.statuses: list[dict] = []
        self.payments: list[dict] = []
        self.paid: list[str] = []
        self._payment_ids: set[str] = set()
        self._lock = threading.Lock()
        server.received.extra.update({"statuses": self.statuses, "payments": self.payments, "paid": self.paid,
                                      "payment-count": 0, "payment-duplicates": 0})
        server.route("POST", "/status", self.handle_status)
        server.route("POST", "/zahlungsstatus", self.handle_payment)

    def handle_payment(self, headers: dict, body: bytes) -> Response:
        """``POST /zahlungsstatus``: a camt.054 confirmation; recorded by RmtInf/Ustrd (200), invalid → 400."""
        try:
            details = payment_details(body)
        except PaymentError as error:
            self.server.received.record_invalid()
            log(NAME, "payment-rejected", reason=str(error))
            return Response(400, {"error": str(error)})
        identity = details["msgId"] or f"{details['reference']}/{len(self.payments)}"
        with self._lock:
            duplicate = identity in self._payment_ids
            self._payment_ids.add(identity)
            details["duplicate"] = duplicate
            self.payments.append(details)
            if details["reference"] not in self.paid:
                self.paid.append(details["reference"])
        self.server.received.bump("payment-count")
        if duplicate:
            self.server.received.bump("payment-duplicates")
        log(NAME, "payment-received", **details)
        return Response(200, {"status": "received", "reference": details["reference"], "duplicate": duplicate})

    def handle_status(self, headers: dict, body: bytes) -> Response:
        if has_doctype(body):
            self.server.received.record_invalid()
            return Response(400, {"error": "DOCTYPE/ENTITY declarations are refused"})
        try:
            details = status_details(body)
        except ET.ParseError as error:
            self.server.received.record_invalid()
            log(NAME, "status-rejected", reason=f"not well-formed: {error}")
            return Response(400, {"error": f"not well-formed XML: {error}"})
        if self.schema is not None:  # recorded, not refused: a status is what it is
            valid, reason = xmllint_validate(body, self.schema)
            details["valid"] = valid
            if not valid:
                details["reason"] = reason[:500]
        identity = details["nachrichtenUUID"] or details["references"] or str(uuid.uuid4())
        duplicate = self.server.received.record(identity)
        with self._lock:
            self.statuses.append(details)
        log(NAME, "status-received", duplicate=duplicate, **details)
        return Response(200, {"status": "received", "duplicate": duplicate})


def submit(args: argparse.Namespace) -> int:
    """Submits ``args.count`` applications; prints a JSON summary; returns the exit code."""
    template = Path(args.template).read_text(encoding="utf-8")
    token = read_token(args.token_file)
    submitted: list[str] = []
    failed: list[dict] = []
    for _ in range(args.count):
        message_id, document = fresh_application(template)
        result = post_with_retries(args.url, document.encode("utf-8"), token=token, attempts=args.attempts,
                                   timeout=args.timeout)
        if not result.ok:
            failed.append({"nachrichtenUUID": message_id, "status": result.status, "error": result.error,
                           "answer": result.body[:300].decode("utf-8", "replace")})
            log(NAME, "submit-failed", nachrichtenUUID=message_id, status=result.status, error=result.error)
            continue
        submitted.append(message_id)
        log(NAME, "submitted", nachrichtenUUID=message_id, status=result.status, attempts=result.attempts)
        if args.pay_fees:
            fee = json.dumps({"reference": message_id, "amount": args.fee}).encode()
            paid = post_with_retries(args.payment_url.rstrip("/") + "/zahlungen", fee, attempts=args.attempts,
                                     content_type="application/json", timeout=args.timeout)
            log(NAME, "fee-paid" if paid.ok else "fee-failed", nachrichtenUUID=message_id,
                amount=args.fee, status=paid.status, error=paid.error)
            if not paid.ok:
                failed.append({"nachrichtenUUID": message_id, "fee-status": paid.status, "error": paid.error})
    print(json.dumps({"submitted": submitted, "failed": failed}, indent=2))
    return 0 if not failed else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="receive status messages on POST /status")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8091)
    send = commands.add_parser("submit", help="submit kommunal.Initiieren.0401 applications")
    send.add_argument("--count", type=int, default=1)
    send.add_argument("--url", default="http://127.0.0.1:8081/eingang/portal")
    send.add_argument("--token-file", default="run/secrets/portal.token")
    send.add_argument("--template", default=str(EXAMPLE), help="the 0401 document to vary")
    send.add_argument("--pay-fees", action="store_true", help="pay each application's fee online")
    send.add_argument("--payment-url", default="http://127.0.0.1:8093", help="payment simulator base URL")
    send.add_argument("--fee", default="75.00", help="fee amount in EUR")
    send.add_argument("--attempts", type=int, default=8, help="tries per POST (retried on 503/refused)")
    send.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP attempt")
    args = parser.parse_args()
    if args.command == "serve":
        server = SimulatorServer(NAME, args.host, args.port)
        Portal(server)
        server.serve_forever()
    else:
        if args.count < 1:
            parser.error("--count must be at least 1")
        common.log_stream = sys.stderr  # stdout carries the JSON result
        sys.exit(submit(args))


if __name__ == "__main__":
    main()
