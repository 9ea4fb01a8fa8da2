#!/usr/bin/env python3
"""Sets the four Itzehoe flows of the demo in motion through the simulators (scripts/run).

1. the portal submits applications over HTTPS (http-in) and pays their fees online;
2. the eAkte files them and acknowledges (the simulator answers by itself);
3. e-invoices (real XRechnung UBL and CII examples, fresh invoice numbers) land in the invoice
   folder, one of them without a Leitweg-ID; the cash system confirms payments by itself, and
   once for a reference nobody knows;
4. drinking-water reports for Breitenburg go out through the address directory, one for an
   authority the directory does not know; Breitenburg hands two signed reports to Itzehoe and
   one whose signature was tampered with.
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys
import urllib.request
import uuid

import pika

ROOT = pathlib.Path(__file__).resolve().parent.parent


def fresh_invoice(text: str, number: str) -> str:
    """Gives an XRechnung example (UBL or CII) a new invoice number (BT-1)."""
    text, count = re.subn(r"(<cbc:ID>)[^<]*(</cbc:ID>)", rf"\g<1>{number}\g<2>", text, count=1)
    if count == 0:
        text, count = re.subn(r"(<rsm:ExchangedDocument>\s*<ram:ID>)[^<]*(</ram:ID>)", rf"\g<1>{number}\g<2>", text, count=1)
    if count == 0:
        raise SystemExit("invoice example has no invoice number to replace")
    return text


def xwasser_report(template: str, reader: str) -> str:
    """An XWasser report with a fresh nachrichtenUUID, from a laboratory to `reader`."""
    text = re.sub(r"<nachrichtenUUID>[^<]+</nachrichtenUUID>", f"<nachrichtenUUID>{uuid.uuid4()}</nachrichtenUUID>", template, count=1)
    text = re.sub(r"(<leser>.*?<kennung>)[^<]*(</kennung>)", rf"\g<1>{reader}\g<2>", text, count=1, flags=re.S)
    return re.sub(r"(<autor>.*?<kennung>)[^<]*(</kennung>)", r"\g<1>lab:trinkwasserlabor-nord\g<2>", text, count=1, flags=re.S)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--http-in", default="http://127.0.0.1:8081")
    parser.add_argument("--payment", default="http://127.0.0.1:8093")
    parser.add_argument("--inbox", default=str(ROOT / "run/inbox/rechnungen"))
    parser.add_argument("--applications", type=int, default=3)
    args = parser.parse_args()
    shared = pathlib.Path(args.shared) / "xoev"
    py = sys.executable

    print("1+2. Portal → eAkte (applications over HTTPS, fees paid online):")
    submitted = subprocess.run(
        [py, str(ROOT / "simulators/portal.py"), "submit", "--count", str(args.applications),
         "--url", f"{args.http_in}/eingang/portal", "--token-file", str(ROOT / "run/secrets/portal.token"),
         "--pay-fees", "--payment-url", args.payment],
        check=True, capture_output=True, text=True)
    applications = json.loads(submitted.stdout).get("submitted", [])
    for application in applications:
        print(f"  → application {application}")
    if applications:
        (ROOT / "run/demo-last-application").write_text(applications[0])

    print("3. XRechnung → payment platform → confirmation:")
    inbox = pathlib.Path(args.inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    examples = shared / "xrechnung-testsuite/examples"
    run_id = uuid.uuid4().hex[:6].upper()
    for index, name in enumerate(["01.01a-INVOICE_ubl.xml", "01.02a-INVOICE_uncefact.xml"], start=1):
        number = f"RE-{run_id}-{index}"
        text = fresh_invoice((examples / name).read_text(encoding="utf-8"), number)
        temporary = inbox / f".{number}.xml.part"
        temporary.write_text(text, encoding="utf-8")
        temporary.rename(inbox / f"{number}.xml")  # only complete files appear
        print(f"  → invoice {number} ({name}) into {inbox}")
    broken = fresh_invoice((examples / "01.03a-INVOICE_ubl.xml").read_text(encoding="utf-8"), f"RE-{run_id}-9")
    broken = re.sub(r"<cbc:BuyerReference>[^<]*</cbc:BuyerReference>", "", broken)
    (inbox / f"RE-{run_id}-9.xml").write_text(broken, encoding="utf-8")
    print(f"  → invoice RE-{run_id}-9 without Leitweg-ID (must end in failed/ with the reason)")
    request = urllib.request.Request(
        f"{args.payment}/control", data=json.dumps({"emit-unknown": f"KASSENZEICHEN-{run_id}"}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).read()
    print(f"  → a payment confirmation for KASSENZEICHEN-{run_id}, which no case knows (must be dead-lettered)")

    print("4. Neighbours (XWasser, signed, Breitenburg's own broker):")
    password = pathlib.Path(args.password_file).read_text().strip()
    connection = pika.BlockingConnection(
        pika.ConnectionParameters(host="127.0.0.1", credentials=pika.PlainCredentials("stadtbus", password)))
    channel = connection.channel()
    channel.confirm_delivery()
    template = (shared / "xwasser-1.0.0/examples/quality_report_minimal.xml").read_text(encoding="utf-8")
    for reader, label in [("ags:01061017", "for Breitenburg (signed hand-over)"),
                          ("ags:01061046", "for Itzehoe's health office"),
                          ("ags:09999999", "for an authority the address directory does not know")]:
        channel.basic_publish(
            exchange="", routing_key="itzehoe.xwasser.eingang", body=xwasser_report(template, reader).encode(),
            properties=pika.BasicProperties(content_type="application/xml", delivery_mode=2, message_id=str(uuid.uuid4())),
            mandatory=True)
        print(f"  → XWasser report {label}")
    connection.close()
    for extra, label in [([], "2 signed reports from Breitenburg"), (["--tamper"], "1 report whose signature was tampered with")]:
        subprocess.run(
            [py, str(ROOT / "simulators/neighbour.py"), "send", "--count", "2" if not extra else "1", *extra,
             "--password-file", args.password_file],
            check=True, capture_output=True, text=True)
        print(f"  ← {label}")


if __name__ == "__main__":
    main()
