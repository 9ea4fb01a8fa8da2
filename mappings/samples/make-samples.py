#!/usr/bin/env python3
"""Regenerates the sample inputs in this folder with the simulators' own code (not hand-written).

    python3 mappings/samples/make-samples.py [OUTPUT_DIR]     (default: this folder)

* ``eakte-0102-quittung.xml``: what simulators/eakte.py sends after filing the 0604 that
  beteiligung-to-xdomea.xsl makes from the shared example kommunal.Initiieren.0401.xml
  (ProzessID = that example's nachrichtenUUID), built by ``eakte.acknowledgement``.
* ``camt054-gebuehr.xml``: simulators/payment.py ``camt054`` for the fee of that application
  (reference = the 0401's nachrichtenUUID, 75.00 EUR, with a payer name).
* ``camt054-rechnung.xml``: ``camt054`` for the UBL XRechnung example 01.01a (invoice 123456XX,
  336.90 EUR), as the payment simulator confirms an invoice.

Timestamps and generated IDs differ on every run; mappings/check.sh uses the committed files.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "simulators"))

import eakte  # noqa: E402
import payment  # noqa: E402
from common import SHARED  # noqa: E402

APPLICATION = SHARED / "xoev" / "xbeteiligung-1.2" / "examples" / "kommunal.Initiieren.0401.xml"
NOTE = "<!-- GENERATED SAMPLE by mappings/samples/make-samples.py ({what}); do not edit by hand. -->\n"


def with_note(document: bytes, what: str) -> bytes:
    """Puts the 'generated sample' comment right after the XML declaration."""
    text = document.decode("utf-8")
    declaration, rest = text.split("\n", 1) if text.startswith("<?xml") else ("", text)
    return ((declaration + "\n" if declaration else "") + NOTE.format(what=what) + rest).encode("utf-8")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    application = APPLICATION.read_text(encoding="utf-8")
    uuid = re.search(r"<(?:\w+:)?nachrichtenUUID>([^<]+)<", application).group(1)
    sgo = subprocess.run(["xsltproc", str(ROOT / "mappings" / "beteiligung-to-xdomea.xsl"), str(APPLICATION)],
                         capture_output=True, check=True).stdout
    kopf = ET.fromstring(sgo).find("xdomea:Kopf", eakte.NS)
    ack = eakte.acknowledgement(kopf.findtext("xdomea:ProzessID", "", eakte.NS),
                                eakte.Kontakt.from_element(kopf.find("xdomea:Empfaenger", eakte.NS)),
                                eakte.Kontakt.from_element(kopf.find("xdomea:Absender", eakte.NS)),
                                "FVDaten.SGOErstellen.0604")
    (out / "eakte-0102-quittung.xml").write_bytes(
        with_note(ack, "simulators/eakte.py acknowledgement() for the 0604 of the shared 0401 example"))
    _, fee = payment.camt054(uuid, Decimal("75.00"), "EUR", "Erika Mustermann")
    (out / "camt054-gebuehr.xml").write_bytes(
        with_note(fee, f"simulators/payment.py camt054() for the fee of application {uuid}"))
    invoice = payment.parse_invoice((SHARED / "xoev" / "xrechnung-testsuite" / "examples" /
                                     "01.01a-INVOICE_ubl.xml").read_bytes())
    _, paid = payment.camt054(invoice["number"], invoice["amount"], invoice["currency"])
    (out / "camt054-rechnung.xml").write_bytes(
        with_note(paid, f"simulators/payment.py camt054() for XRechnung {invoice['number']}"))
    print("wrote", ", ".join(str(p) for p in sorted(out.glob("*.xml"))))


if __name__ == "__main__":
    main()
