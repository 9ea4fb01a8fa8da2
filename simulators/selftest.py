#!/usr/bin/env python3
"""Self-test of the simulators, without Stadtbus and without a broker (runs in well under 30 s).

    run/venv/bin/python simulators/selftest.py        (plain python3 works too: no pika needed)

Starts the eAkte, payment and portal simulators as subprocesses on free loopback ports, with an
in-process "stadtbus" collector standing in for Stadtbus's http-in endpoints (bearer tokens
checked). Then it posts valid and invalid documents and checks the answers, that eAkte
acknowledgements arrive and validate against xdomea.xsd, that camt.054 confirmations arrive with
the right reference, the drop folder, the failure modes (down → 503, flaky share of 500s, hangs)
and the retry of the POST helper; finally the neighbour's signing, verification and tampering.
Exit code 0 if all checks pass; each failure is printed with its reason.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import SHARED, Response, SimulatorServer, post_json, post_with_retries, xmllint_validate  # noqa: E402

XDOMEA_XSD = SHARED / "xoev" / "xdomea-3.0.0" / "schemas" / "xdomea.xsd"
APPLICATION = SHARED / "xoev" / "xbeteiligung-1.2" / "examples" / "kommunal.Initiieren.0401.xml"
INVOICES = SHARED / "xoev" / "xrechnung-testsuite" / "examples"
MAPPING = HERE.parent / "mappings" / "beteiligung-to-xdomea.xsl"
PAYMENT_MAPPING = HERE.parent / "mappings" / "zahlung-to-eakte-protokoll.xsl"
STATUS_MAPPING = HERE.parent / "mappings" / "eakte-quittung-to-portal-status.xsl"
XBETEILIGUNG_XSD = SHARED / "xoev" / "xbeteiligung-1.2" / "schemas" / "xbeteiligung-kommunaleBauleitplanung.xsd"
CAMT = "{urn:iso:std:iso:20022:tech:xsd:camt.054.001.08}"
XDOMEA = "{urn:xoev-de:xdomea:schema:3.0.0}"

failures: list[str] = []


def check(condition: bool, what: str, detail: object = "") -> None:
    """Records one check; prints ok/FAIL."""
    print(f"  {'ok  ' if condition else 'FAIL'} {what}" + (f" — {detail}" if detail and not condition else ""))
    if not condition:
        failures.append(f"{what}: {detail}")


def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def post(url: str, body: bytes, content_type: str = "application/xml", timeout: float = 10.0) -> tuple[int, dict]:
    """One POST without retries; returns (status, JSON answer) — 0 on a timeout."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except (TimeoutError, socket.timeout, urllib.error.URLError):
        return 0, {}


class Collector:
    """Stands in for Stadtbus http-in: records what simulators POST to /eingang/*."""

    TOKENS = {"/eingang/eakte": "eakte-test-token", "/eingang/zahlungen": "zahlung-test-token",
              "/eingang/portal": "portal-test-token"}

    def __init__(self) -> None:
        self.server = SimulatorServer("stadtbus-stub", "127.0.0.1", 0)
        self.bodies: dict[str, list[bytes]] = {path: [] for path in self.TOKENS}
        self.unauthorised = 0
        for path, token in self.TOKENS.items():
            self.server.route("POST", path, self._handler(path, token))
        self.server.start_background()
        self.base = f"http://127.0.0.1:{self.server.port}"

    def _handler(self, path: str, token: str):
        def handle(headers: dict, body: bytes) -> Response:
            if headers.get("authorization") != f"Bearer {token}":
                self.unauthorised += 1
                return Response(401, {"error": "bad token"})
            self.bodies[path].append(body)
            return Response(202, {"status": "accepted", "id": str(uuid.uuid4())})
        return handle


def start(script: str, *args: str) -> tuple[subprocess.Popen, str]:
    """Starts a simulator subprocess on a free port; waits for /health."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HERE / script), *args, "--port", str(port)],
                               stdout=subprocess.DEVNULL if not os.environ.get("SELFTEST_VERBOSE") else None)
    base = f"http://127.0.0.1:{port}"
    def healthy() -> bool:
        try:
            return get_json(base + "/health")["status"] == "ok"
        except OSError:
            return False
    if not wait_for(healthy, 10):
        process.kill()
        raise SystemExit(f"{script} did not start on port {port}")
    return process, base


def xdomea_0604(prozess_id: str) -> bytes:
    """A valid FVDaten.SGOErstellen.0604, made from the 0401 example with the project's own XSLT."""
    application = APPLICATION.read_text(encoding="utf-8")
    application = re.sub(r"(<ns2:nachrichtenUUID>)[^<]*", rf"\g<1>{prozess_id}", application, count=1)
    result = subprocess.run(["xsltproc", str(MAPPING), "-"], input=application.encode(), capture_output=True)
    if result.returncode != 0:
        raise SystemExit("xsltproc failed: " + result.stderr.decode())
    return result.stdout


def xdomea_0607(prozess_id: str, sgo_id: str) -> bytes:
    """A valid FVDaten.ProtokolleintragErstellen.0607 (fee paid for case ``sgo_id``), from a camt.054
    made by the payment simulator's code, mapped with mappings/zahlung-to-eakte-protokoll.xsl."""
    import payment
    from decimal import Decimal
    _, camt = payment.camt054(sgo_id, Decimal("75.00"))
    result = subprocess.run(["xsltproc", "--stringparam", "prozess-id", prozess_id, "--stringparam", "sgo-id", sgo_id,
                             str(PAYMENT_MAPPING), "-"], input=camt, capture_output=True)
    if result.returncode != 0:
        raise SystemExit("xsltproc failed: " + result.stderr.decode())
    return result.stdout


def test_eakte(collector: Collector, tokens: Path) -> None:
    print("eAkte simulator")
    drop = Path(tempfile.mkdtemp(prefix="eakte-drop-"))
    process, base = start("eakte.py", "--ack-url", collector.base + "/eingang/eakte",
                          "--ack-token-file", str(tokens / "eakte.token"), "--ack-delay", "0.1",
                          "--drop-folder", str(drop), "--poll-interval", "0.1")
    try:
        prozess_id = str(uuid.uuid4())
        document = xdomea_0604(prozess_id)
        status, _ = post(base + "/xdomea", document)
        check(status == 201, "valid 0604 → 201", status)
        status, _ = post(base + "/xdomea", document)
        check(status == 201, "same ProzessID again → 201", status)
        status, answer = post(base + "/xdomea", APPLICATION.read_bytes())
        check(status == 400 and "reason" in answer and "No matching global declaration" in answer["reason"],
              "XBeteiligung instead of xdomea → 400 with xmllint reason", answer)
        status, answer = post(base + "/xdomea", b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
        check(status == 400, "DOCTYPE → 400", answer)
        summary = get_json(base + "/received")
        check(summary["count"] == 2 and summary["unique"] == 1 and summary["duplicates"] == 1
              and summary["invalid"] == 2, "/received counts duplicates and invalid", summary)
        check(wait_for(lambda: len(collector.bodies["/eingang/eakte"]) >= 2), "two acknowledgements arrive")
        for ack in collector.bodies["/eingang/eakte"][:2]:
            valid, reason = xmllint_validate(ack, XDOMEA_XSD)
            check(valid, "acknowledgement validates against xdomea.xsd", reason)
            root = ET.fromstring(ack)
            check(root.tag == XDOMEA + "Information.EmpfangBestaetigen.0102"
                  and root.findtext(f"{XDOMEA}Kopf/{XDOMEA}ProzessID") == prozess_id
                  and root.findtext(f"{XDOMEA}Kopf/{XDOMEA}Nachrichtentyp/code") == "0102",
                  "acknowledgement is 0102 with the case's ProzessID", ack[:300])
        check(collector.unauthorised == 0, "acknowledgements carry the bearer token")
        # a 0607 log entry about the same case: same ProzessID, other Nachrichtentyp → not a duplicate, no 0102
        log_entry = xdomea_0607(prozess_id, prozess_id)
        status, answer = post(base + "/xdomea", log_entry)
        check(status == 201 and answer.get("duplicate") is False and answer.get("nachrichtentyp") == "0607",
              "0607 with the 0604's ProzessID → 201, not a duplicate", answer)
        status, answer = post(base + "/xdomea", log_entry)
        check(status == 201 and answer.get("duplicate") is True, "same 0607 again → duplicate", answer)
        summary = get_json(base + "/received")
        check(summary["count"] == 4 and summary["unique"] == 2 and summary["duplicates"] == 2
              and summary["ids"] == [prozess_id] * 4
              and [m["nachrichtentyp"] for m in summary["messages"]] == ["0604", "0604", "0607", "0607"],
              "duplicates counted per (ProzessID, Nachrichtentyp)", summary)
        time.sleep(0.5)  # ack-delay is 0.1 s: an acknowledgement for the 0607 would have arrived by now
        check(len(collector.bodies["/eingang/eakte"]) == 2, "no acknowledgement for a 0607",
              len(collector.bodies["/eingang/eakte"]))
        # drop folder: one valid, one invalid file
        dropped = str(uuid.uuid4())
        (drop / "neu.xml.part").write_bytes(xdomea_0604(dropped))
        (drop / "neu.xml.part").rename(drop / "neu.xml")
        (drop / "kaputt.xml").write_bytes(b"<xdomea:Nichts xmlns:xdomea='urn:xoev-de:xdomea:schema:3.0.0'/>")
        check(wait_for(lambda: (drop / "imported" / "neu.xml").exists() and (drop / "rejected" / "kaputt.xml").exists()),
              "drop folder: valid file imported, invalid rejected", sorted(p.name for p in drop.rglob("*")))
        check((drop / "rejected" / "kaputt.xml.reason.txt").exists(), "rejected file has a .reason.txt")
        check(wait_for(lambda: dropped in get_json(base + "/received")["ids"]), "dropped file counted by ProzessID")
        # failure modes
        status, _ = post_json(base + "/control", {"mode": "down"})
        check(status == 200, "/control mode down accepted", status)
        status, _ = post(base + "/xdomea", document)
        check(status == 503, "down → 503", status)
        check(get_json(base + "/health")["status"] == "ok", "/health stays 200 while down")
        status, answer = post_json(base + "/control", {"mode": "wobbly"})
        check(status == 400, "unknown mode → 400", answer)
        # the POST helper retries 503 until the system is back
        threading.Timer(0.6, lambda: post_json(base + "/control", {"mode": "ok"})).start()
        result = post_with_retries(base + "/xdomea", xdomea_0604(str(uuid.uuid4())), backoff=0.2, attempts=6)
        check(result.status == 201 and result.attempts > 1, "post helper retries 503 until 201",
              (result.status, result.attempts))
        # a request that hangs (and so times out at the caller) was not accepted: not recorded
        before = get_json(base + "/received")["count"]
        post_json(base + "/control", {"mode": "flaky", "timeout-rate": 1.0, "hang-seconds": 0.5})
        status, _ = post(base + "/xdomea", xdomea_0604(str(uuid.uuid4())), timeout=0.2)
        time.sleep(0.8)
        post_json(base + "/control", {"mode": "ok", "timeout-rate": 0.0})
        check(status == 0 and get_json(base + "/received")["count"] == before,
              "a hanging (timed-out) request is not recorded", status)
    finally:
        process.terminate()
        process.wait(5)


def test_payment(collector: Collector, tokens: Path) -> None:
    print("payment simulator")
    process, base = start("payment.py", "--confirm-url", collector.base + "/eingang/zahlungen",
                          "--confirm-token-file", str(tokens / "zahlung.token"), "--confirm-delay", "0.1")
    try:
        ubl = (INVOICES / "01.01a-INVOICE_ubl.xml").read_bytes()
        cii = (INVOICES / "01.02a-INVOICE_uncefact.xml").read_bytes()
        cii_number = ET.fromstring(cii).findtext(
            "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}ExchangedDocument/"
            "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}ID")
        status, answer = post(base + "/rechnungen", ubl)
        check(status == 202 and answer.get("invoice") == "123456XX", "UBL invoice → 202", answer)
        status, answer = post(base + "/rechnungen", cii)
        check(status == 202 and answer.get("invoice") == cii_number, "CII invoice → 202", answer)
        no_number = re.sub(rb"<cbc:ID>123456XX</cbc:ID>", b"", ubl, count=1)
        status, answer = post(base + "/rechnungen", no_number)
        check(status == 400 and "BT-1" in answer.get("error", ""), "UBL without invoice number → 400", answer)
        no_total = re.sub(rb"<cbc:PayableAmount[^>]*>[^<]*</cbc:PayableAmount>", b"", ubl)
        status, answer = post(base + "/rechnungen", no_total)
        check(status == 400 and "BT-115" in answer.get("error", ""), "UBL without total → 400", answer)
        status, answer = post(base + "/rechnungen", APPLICATION.read_bytes())
        check(status == 400 and "neither" in answer.get("error", ""), "not an invoice → 400", answer)
        status, answer = post(base + "/rechnungen", b"<Invoice>")
        check(status == 400 and "well-formed" in answer.get("error", ""), "not well-formed → 400", answer)
        fee_reference = str(uuid.uuid4())
        status, _ = post(base + "/zahlungen", json.dumps({"reference": fee_reference, "amount": "75.00"}).encode(),
                         "application/json")
        check(status == 202, "fee payment → 202", status)
        status, _ = post_json(base + "/control", {"emit-unknown": "UNBEKANNT-4711"})
        check(status == 200, "emit-unknown accepted", status)
        check(wait_for(lambda: len(collector.bodies["/eingang/zahlungen"]) >= 4), "four camt.054 confirmations arrive",
              len(collector.bodies["/eingang/zahlungen"]))
        references, amounts, message_ids = {}, {}, set()
        for body in collector.bodies["/eingang/zahlungen"]:
            root = ET.fromstring(body)
            entry = root.find(f"{CAMT}BkToCstmrDbtCdtNtfctn/{CAMT}Ntfctn/{CAMT}Ntry")
            reference = entry.findtext(f"{CAMT}NtryDtls/{CAMT}TxDtls/{CAMT}RmtInf/{CAMT}Ustrd")
            references[reference] = entry.find(f"{CAMT}Amt").get("Ccy")
            amounts[reference] = entry.findtext(f"{CAMT}Amt")
            message_ids.add(root.findtext(f"{CAMT}BkToCstmrDbtCdtNtfctn/{CAMT}GrpHdr/{CAMT}MsgId"))
            end_to_end = entry.findtext(f"{CAMT}NtryDtls/{CAMT}TxDtls/{CAMT}Refs/{CAMT}EndToEndId") or ""
            check(0 < len(end_to_end) <= 35, "EndToEndId present, at most 35 characters", end_to_end)
        check(set(references) == {"123456XX", cii_number, fee_reference, "UNBEKANNT-4711"},
              "confirmations carry the references in RmtInf/Ustrd", references)
        check(amounts.get("123456XX") == "336.90" and amounts.get(fee_reference) == "75.00"
              and all(ccy == "EUR" for ccy in references.values()), "amounts and currency", amounts)
        check(len(message_ids) == 4 and None not in message_ids, "GrpHdr/MsgId unique per confirmation", message_ids)
        summary = get_json(base + "/received")
        check(summary["count"] == 2 and summary["invalid"] == 4 and summary["fees"] == 1,
              "/received counts invoices, invalid and fees", summary)
        # flaky: about the configured share of 500s (400s are the simulator's real answers)
        post_json(base + "/control", {"mode": "flaky", "failure-rate": 0.3})
        statuses = [post(base + "/zahlungen", b"{}", "application/json")[0] for _ in range(200)]
        share = statuses.count(500) / len(statuses)
        check(0.18 <= share <= 0.42 and statuses.count(400) + statuses.count(500) == 200,
              "flaky failure-rate 0.3 → about 30 % 500s", f"{share:.2f}")
        post_json(base + "/control", {"mode": "flaky", "failure-rate": 0.0, "timeout-rate": 1.0, "hang-seconds": 2})
        started = time.monotonic()
        status, _ = post(base + "/zahlungen", b"{}", "application/json", timeout=0.5)
        check(status == 0 and time.monotonic() - started < 1.5, "flaky timeout-rate 1.0 → the request hangs", status)
        post_json(base + "/control", {"mode": "ok", "timeout-rate": 0.0})
        status, _ = post(base + "/zahlungen", b"{}", "application/json")
        check(status == 400, "back to ok → the real answer again", status)
    finally:
        process.terminate()
        process.wait(5)


def test_callback_urls_via_control(collector: Collector, tokens: Path) -> None:
    """Started without --ack-url/--confirm-url, eakte and payment learn them through /control."""
    print("callback URLs set through /control")
    eakte, eakte_base = start("eakte.py", "--ack-token-file", str(tokens / "eakte.token"), "--ack-delay", "0.1")
    payment, payment_base = start("payment.py", "--confirm-token-file", str(tokens / "zahlung.token"),
                                  "--confirm-delay", "0.1")
    try:
        status, answer = post_json(eakte_base + "/control", {"ack-url": "ftp://127.0.0.1/x"})
        check(status == 400 and "ack-url" in answer.get("error", ""), "ack-url not http(s) → 400", answer)
        acks = len(collector.bodies["/eingang/eakte"])
        status, answer = post_json(eakte_base + "/control", {"ack-url": collector.base + "/eingang/eakte"})
        check(status == 200 and answer.get("ack-url") == collector.base + "/eingang/eakte", "ack-url accepted", answer)
        status, _ = post(eakte_base + "/xdomea", xdomea_0604(str(uuid.uuid4())))
        check(status == 201 and wait_for(lambda: len(collector.bodies["/eingang/eakte"]) > acks),
              "the acknowledgement goes to the ack-url set through /control", status)
        confirmations = len(collector.bodies["/eingang/zahlungen"])
        status, answer = post_json(payment_base + "/control", {"confirm-url": collector.base + "/eingang/zahlungen",
                                                               "emit-unknown": "UNBEKANNT-0815"})
        check(status == 200 and answer.get("confirm-url") == collector.base + "/eingang/zahlungen",
              "confirm-url accepted", answer)
        check(wait_for(lambda: len(collector.bodies["/eingang/zahlungen"]) > confirmations),
              "the confirmation goes to the confirm-url set through /control")
    finally:
        for process in (eakte, payment):
            process.terminate()
            process.wait(5)


def test_portal(collector: Collector, tokens: Path) -> None:
    print("portal simulator")
    payment, payment_base = start("payment.py")
    process, base = start("portal.py", "serve")
    try:
        application = str(uuid.uuid4())
        status_message = f"""<?xml version="1.0" encoding="UTF-8"?>
<xbet:kommunal.Initiieren.OK.0411 xmlns:xbet="https://www.xleitstelle.de/xbeteiligung/12"
    xmlns:g2g="http://xoev.de/schemata/basisnachricht/g2g/1_1">
  <g2g:nachrichtenkopf.g2g><g2g:identifikation.nachricht>
    <g2g:nachrichtenUUID>{uuid.uuid4()}</g2g:nachrichtenUUID>
  </g2g:identifikation.nachricht></g2g:nachrichtenkopf.g2g>
  <xbet:nachrichteninhalt><xbet:vorgangsID>{application}</xbet:vorgangsID></xbet:nachrichteninhalt>
</xbet:kommunal.Initiieren.OK.0411>""".encode()
        status, _ = post(base + "/status", status_message)
        check(status == 200, "status 0411 → 200", status)
        status, _ = post(base + "/status", b"<kaputt")
        check(status == 400, "not well-formed status → 400", status)
        summary = get_json(base + "/received")
        check(summary["count"] == 1 and summary["statuses"][0]["references"] == application
              and summary["statuses"][0]["type"] == "kommunal.Initiieren.OK.0411",
              "/received records the status and the application it refers to", summary)
        # a real 0411, as Stadtbus makes it from the eAkte's 0102 with mappings/eakte-quittung-to-portal-status.xsl
        import eakte
        ack = eakte.acknowledgement(application, eakte.Kontakt("0002", "xyz", "behoerde2"),
                                    eakte.Kontakt("0001", "xyz", "behoerde1"), "FVDaten.SGOErstellen.0604")
        plan = f"ID_{uuid.uuid4()}"
        mapped = subprocess.run(["xsltproc", "--stringparam", "status-uuid", str(uuid.uuid4()),
                                 "--stringparam", "vorgangs-id", f"ID_{application}", "--stringparam", "plan-id", plan,
                                 "--stringparam", "portal-kennung", "xyz:0001", "--stringparam", "portal-name", "behoerde1",
                                 str(STATUS_MAPPING), "-"], input=ack, capture_output=True)
        check(mapped.returncode == 0, "0102 → 0411 mapping runs", mapped.stderr.decode())
        valid, reason = xmllint_validate(mapped.stdout, XBETEILIGUNG_XSD)
        check(valid, "mapped 0411 validates against XBeteiligung 1.2", reason)
        status, _ = post(base + "/status", mapped.stdout)
        latest = get_json(base + "/received")["statuses"][-1]
        check(status == 200 and latest["references"] == application and latest["vorgangsID"] == f"ID_{application}"
              and latest["planID"] == plan and latest["valid"] is True,
              "0411 with vorgangsID ID_<uuid> → linked to application <uuid>, recorded as schema-valid", latest)
        # payment status: the camt.054 Stadtbus forwards
        import payment as payment_sim  # not `payment`: that is the payment simulator's process here
        from decimal import Decimal
        _, camt = payment_sim.camt054(application, Decimal("75.00"), "EUR", "Erika Mustermann")
        status, answer = post(base + "/zahlungsstatus", camt)
        check(status == 200 and answer.get("reference") == application and answer.get("duplicate") is False,
              "camt.054 payment status → 200 with its reference", answer)
        status, answer = post(base + "/zahlungsstatus", camt)
        check(status == 200 and answer.get("duplicate") is True, "same confirmation again → duplicate", answer)
        invalid_before = get_json(base + "/received")["invalid"]
        no_reference = re.sub(rb"<Ustrd>[^<]*</Ustrd>", b"", camt)
        for body, what in ((b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "DOCTYPE"), (b"<Document", "not well-formed"),
                           (APPLICATION.read_bytes(), "not a camt.054"), (no_reference, "camt.054 without Ustrd")):
            status, answer = post(base + "/zahlungsstatus", body)
            check(status == 400 and answer.get("error"), f"payment status: {what} → 400", (status, answer))
        summary = get_json(base + "/received")
        check(summary["payment-count"] == 2 and summary["payment-duplicates"] == 1 and summary["paid"] == [application]
              and summary["payments"][0]["amount"] == "75.00" and summary["payments"][0]["currency"] == "EUR"
              and summary["payments"][0]["reference"] == application and summary["invalid"] == invalid_before + 4,
              "/received records payments by reference (payments, paid, payment-count)", summary)
        result = subprocess.run([sys.executable, str(HERE / "portal.py"), "submit", "--count", "3",
                                 "--url", collector.base + "/eingang/portal",
                                 "--token-file", str(tokens / "portal.token"),
                                 "--pay-fees", "--payment-url", payment_base],
                                capture_output=True, timeout=30)
        output = json.loads(result.stdout)
        check(result.returncode == 0 and len(output["submitted"]) == 3 and len(set(output["submitted"])) == 3,
              "submit --count 3 prints three distinct UUIDs", output)
        sent = collector.bodies["/eingang/portal"]
        uuids, plans = set(), set()
        for body in sent:
            uuids.add(re.search(rb"<ns2:nachrichtenUUID>([^<]+)<", body).group(1).decode())
            plans.add(re.search(rb"<ns5:planID>([^<]+)<", body).group(1).decode())
        check(uuids == set(output["submitted"]) and len(plans) == 3, "fresh nachrichtenUUID and planID per message",
              (uuids, plans))
        linked = {re.search(rb"<ns2:nachrichtenUUID>([^<]+)<", body).group(1).decode():
                  re.search(rb"<ns5:vorgangsID>([^<]+)<", body).group(1).decode() for body in sent}
        check(all(vorgang == f"ID_{message}" for message, vorgang in linked.items()),
              "each application's vorgangsID is ID_<its nachrichtenUUID>", linked)
        valid, reason = xmllint_validate(sent[0], XBETEILIGUNG_XSD)
        check(valid, "a submitted 0401 still validates against XBeteiligung 1.2", reason)
        check(get_json(payment_base + "/received")["fees"] == 3, "--pay-fees paid three fees")
    finally:
        for running in (process, payment):
            running.terminate()
            running.wait(5)


def test_neighbour_signatures() -> None:
    print("neighbour signatures (no broker)")
    import neighbour
    key = neighbour.CERTS / "out" / "authorities" / "breitenburg-rsa.key"
    cert = neighbour.CERTS / "out" / "authorities" / "breitenburg-rsa.pem"
    if not key.exists():
        print("  skip: certs/out missing (run certs/make-dev-certs)")
        return
    anchors = neighbour.trust_anchors(neighbour.CERTS / "trust")
    template = (neighbour.EXAMPLES / "quality_report_minimal.xml").read_text(encoding="utf-8")
    message_id, document = neighbour.xwasser_message(template)
    check(f"<kennung>{neighbour.BREITENBURG}</kennung>" in document
          and f"<kennung>{neighbour.ITZEHOE}</kennung>" in document, "kennung set for autor and leser")
    signed = neighbour.sign(document, key, cert)
    valid, reason = neighbour.verify(signed, anchors)
    check(valid, "signed message verifies against certs/trust", reason)
    valid, reason = neighbour.verify(neighbour.tamper(signed), anchors)
    check(not valid and "digest" in reason, "tampered message fails", reason)
    wrapped = signed.replace(b"<nachrichtenkopf.g2g>", b"<nachrichtenkopf.g2g>" + signed[signed.index(b"<ds:Signature"):
                                                                                      signed.index(b"</ds:Signature>") + 15], 1)
    valid, reason = neighbour.verify(wrapped, anchors)
    check(not valid, "a second ds:Signature is refused", reason)


def main() -> int:
    started = time.monotonic()
    for tool in ("xmllint", "xsltproc", "xmlsec1"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            print(f"missing tool: {tool}")
            return 2
    if not XDOMEA_XSD.exists():
        print(f"shared XÖV material not found at {SHARED} (set STADTBUS_SHARED)")
        return 2
    collector = Collector()
    with tempfile.TemporaryDirectory(prefix="sim-tokens-") as directory:
        tokens = Path(directory)
        for path, token in Collector.TOKENS.items():
            name = {"/eingang/eakte": "eakte", "/eingang/zahlungen": "zahlung", "/eingang/portal": "portal"}[path]
            (tokens / f"{name}.token").write_text(token + "\n")
        test_eakte(collector, tokens)
        test_payment(collector, tokens)
        test_callback_urls_via_control(collector, tokens)
        test_portal(collector, tokens)
    test_neighbour_signatures()
    collector.server.shutdown()
    elapsed = time.monotonic() - started
    if failures:
        print(f"\n{len(failures)} check(s) FAILED in {elapsed:.1f} s")
        return 1
    print(f"\nall simulator checks passed in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
