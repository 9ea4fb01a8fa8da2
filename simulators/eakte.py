#!/usr/bin/env python3
"""eAkte simulator: the city's document management system (DMS) with an xdomea 3.0.0 interface.

In reality this is the eAkte/DMS of Stadt Itzehoe (e.g. a VIS-Suite, enaio or d.velop system)
that accepts new records from specialised procedures (Fachverfahren) as xdomea messages, over
HTTP or a watched import folder, and confirms their receipt.

What it does:

* ``POST /xdomea``: refuses DOCTYPEs (400), validates the body with
  ``xmllint --noout --nonet --schema xdomea.xsd`` (invalid → 400 with xmllint's reason),
  records it by its xdomea message identity ``Kopf/ProzessID`` + ``Kopf/Nachrichtentyp/code``
  (duplicates counted per pair: a 0607 log entry about a case is not a duplicate of the case's
  0604; ``/received`` ``ids`` lists the ProzessIDs, ``messages`` each pair), answers 201 and, for
  a filed case (``FVDaten.SGOErstellen.0604``) only, after ``--ack-delay`` seconds in a
  background thread, POSTs ``Information.EmpfangBestaetigen.0102`` with the same
  ``Kopf/ProzessID`` to ``--ack-url`` (bearer token from ``--ack-token-file``), retrying on 503.
  Other messages (e.g. ``FVDaten.ProtokolleintragErstellen.0607``) are filed without one.
* ``POST /control {"ack-url": URL}``: sets the acknowledgement URL after the start (tests start
  the simulator before Stadtbus's http-in has bound a port).
* ``--drop-folder DIR``: polls DIR for ``*.xml`` files whose size has been stable for one poll,
  treats them like POSTs and moves them to ``DIR/imported/`` or ``DIR/rejected/`` (with a
  ``.reason.txt`` next to a rejected file).

Usage::

    run/venv/bin/python simulators/eakte.py --port 8092 \\
        --ack-url http://127.0.0.1:8081/eingang/eakte --ack-token-file run/secrets/eakte.token
"""

from __future__ import annotations

import argparse
import shutil
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape

from common import (SHARED, Response, SimulatorServer, callback_url, has_doctype, log, post_with_retries,
                    read_token, utc_now, xmllint_validate)

NAME = "eakte"
XDOMEA_NS = "urn:xoev-de:xdomea:schema:3.0.0"
SCHEMA = SHARED / "xoev" / "xdomea-3.0.0" / "schemas" / "xdomea.xsd"
NS = {"xdomea": XDOMEA_NS}
#: The DMS's own identity in the acknowledgements it sends (Stadt Itzehoe, AGS 01061046).
DMS_PRODUCT = "Stadtbus eAkte-Simulator"
#: Nachrichtentyp codes acknowledged with a 0102: only a filed case (FVDaten.SGOErstellen.0604).
ACKNOWLEDGED_TYPES = frozenset({"0604"})


class Kontakt:
    """The parts of an xdomea KontaktType the simulator carries over into its acknowledgement."""

    def __init__(self, schluessel: str = "", praefix: str = "", institution: str = "") -> None:
        self.schluessel = schluessel
        self.praefix = praefix
        self.institution = institution

    @classmethod
    def from_element(cls, element: Optional[ET.Element]) -> "Kontakt":
        if element is None:
            return cls()
        def text(path: str) -> str:
            found = element.find(path, NS)
            return (found.text or "").strip() if found is not None else ""
        return cls(text("xdomea:Behoerdenkennung/xdomea:Behoerdenschluessel/code"),
                   text("xdomea:Behoerdenkennung/xdomea:Praefix/code"),
                   text("xdomea:Institution/xdomea:Name"))

    def xml(self, tag: str, indent: str = "    ") -> str:
        """Serialises as ``xdomea:Absender``/``xdomea:Empfaenger`` (schema order kept)."""
        parts = [f"{indent}<xdomea:{tag}>"]
        if self.schluessel or self.praefix:
            parts.append(f"{indent}  <xdomea:Behoerdenkennung>")
            if self.schluessel:
                parts.append(f"{indent}    <xdomea:Behoerdenschluessel><code>{escape(self.schluessel)}</code>"
                             f"</xdomea:Behoerdenschluessel>")
            if self.praefix:
                parts.append(f"{indent}    <xdomea:Praefix><code>{escape(self.praefix)}</code></xdomea:Praefix>")
            parts.append(f"{indent}  </xdomea:Behoerdenkennung>")
        if self.institution:
            parts.append(f"{indent}  <xdomea:Institution><xdomea:Name>{escape(self.institution)}</xdomea:Name>"
                         f"</xdomea:Institution>")
        parts.append(f"{indent}</xdomea:{tag}>")
        return "\n".join(parts)


def acknowledgement(prozess_id: str, absender: Kontakt, empfaenger: Kontakt, received_type: str) -> bytes:
    """Builds ``xdomea:Information.EmpfangBestaetigen.0102`` for a received message.

    ``absender`` is the DMS (the original message's Empfaenger), ``empfaenger`` the original
    sender. The document validates against xdomea.xsd 3.0.0 (checked by selftest.py).
    """
    hinweis = f"Empfang der Nachricht {received_type} bestätigt" if received_type else "Empfang bestätigt"
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<xdomea:Information.EmpfangBestaetigen.0102 xmlns:xdomea="{XDOMEA_NS}">
  <xdomea:Kopf>
    <xdomea:ProzessID>{escape(prozess_id)}</xdomea:ProzessID>
    <xdomea:Nachrichtentyp listURI="urn:xoev-de:xdomea:codeliste:nachrichtentyp" listVersionID="2.0">
      <code>0102</code>
    </xdomea:Nachrichtentyp>
    <xdomea:Erstellungszeitpunkt>{utc_now()}</xdomea:Erstellungszeitpunkt>
{absender.xml("Absender")}
{empfaenger.xml("Empfaenger")}
    <xdomea:SendendesSystem>
      <xdomea:InstanzID>{uuid.uuid4()}</xdomea:InstanzID>
      <xdomea:Produktname>{DMS_PRODUCT}</xdomea:Produktname>
    </xdomea:SendendesSystem>
    <xdomea:Hinweis>{escape(hinweis)}</xdomea:Hinweis>
  </xdomea:Kopf>
</xdomea:Information.EmpfangBestaetigen.0102>
"""
    return text.encode("utf-8")


class EAkte:
    """The DMS: accepts, counts and acknowledges xdomea messages."""

    def __init__(self, server: SimulatorServer, ack_url: Optional[str], ack_token: Optional[str],
                 ack_delay: float, schema: Path) -> None:
        self.server = server
        self.ack_url = ack_url
        self.ack_token = ack_token
        self.ack_delay = ack_delay
        self.schema = schema
        self.messages: list[dict] = []
        server.received.extra.update({"acks-sent": 0, "acks-failed": 0, "messages": self.messages})
        server.route("POST", "/xdomea", self.handle_post)
        server.on_control(self.handle_control)

    def accept(self, body: bytes, source: str) -> tuple[int, dict]:
        """Checks and records one xdomea document; returns (status, JSON answer)."""
        if has_doctype(body):
            self.server.received.record_invalid()
            log(NAME, "rejected", source=source, reason="DOCTYPE/ENTITY declarations are refused")
            return 400, {"error": "DOCTYPE/ENTITY declarations are refused"}
        valid, reason = xmllint_validate(body, self.schema)
        if not valid:
            self.server.received.record_invalid()
            log(NAME, "rejected", source=source, reason=reason)
            return 400, {"error": "not valid against xdomea 3.0.0", "reason": reason}
        root = ET.fromstring(body)
        kopf = root.find("xdomea:Kopf", NS)
        prozess_id = (kopf.findtext("xdomea:ProzessID", "", NS) if kopf is not None else "").strip()
        message_type = root.tag.split("}", 1)[-1]
        code = (kopf.findtext("xdomea:Nachrichtentyp/code", "", NS) if kopf is not None else "").strip()
        if not prozess_id:
            self.server.received.record_invalid()
            return 400, {"error": "xdomea:Kopf/xdomea:ProzessID is missing"}
        # xdomea 3 messages have no UUID of their own: ProzessID + Nachrichtentyp is the identity.
        duplicate = self.server.received.record(f"{prozess_id}/{code}", shown=prozess_id)
        acknowledge = code in ACKNOWLEDGED_TYPES
        with self.server.received.lock:
            self.messages.append({"prozessID": prozess_id, "nachrichtentyp": code, "type": message_type,
                                  "duplicate": duplicate, "acknowledged": acknowledge and bool(self.ack_url)})
        log(NAME, "filed", source=source, prozessID=prozess_id, type=message_type, code=code, duplicate=duplicate)
        if self.ack_url and acknowledge:
            dms = Kontakt.from_element(kopf.find("xdomea:Empfaenger", NS))
            sender = Kontakt.from_element(kopf.find("xdomea:Absender", NS))
            threading.Thread(target=self._acknowledge, args=(prozess_id, dms, sender, message_type),
                             name=f"ack-{prozess_id}", daemon=True).start()
        return 201, {"status": "filed", "prozessID": prozess_id, "nachrichtentyp": code, "duplicate": duplicate}

    def handle_post(self, headers: dict, body: bytes) -> Response:
        status, answer = self.accept(body, "http")
        return Response(status, answer)

    def handle_control(self, body: dict) -> Optional[dict]:
        """``POST /control {"ack-url": URL}`` sets (or replaces) ``--ack-url`` for later cases."""
        url = callback_url(body, "ack-url")
        if url is None:
            return None
        self.ack_url = url
        return {"ack-url": url}

    def _acknowledge(self, prozess_id: str, dms: Kontakt, sender: Kontakt, message_type: str) -> None:
        time.sleep(self.ack_delay)
        document = acknowledgement(prozess_id, dms, sender, message_type)
        result = post_with_retries(self.ack_url, document, token=self.ack_token)
        if result.ok:
            self.server.received.bump("acks-sent")
            log(NAME, "ack-sent", prozessID=prozess_id, status=result.status, attempts=result.attempts)
        else:
            self.server.received.bump("acks-failed")
            log(NAME, "ack-failed", prozessID=prozess_id, status=result.status, attempts=result.attempts,
                error=result.error, answer=result.body[:300].decode("utf-8", "replace"))


def watch_drop_folder(eakte: EAkte, folder: Path, interval: float) -> None:
    """Imports complete ``*.xml`` files from ``folder`` (size unchanged over one poll)."""
    for sub in ("imported", "rejected"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    sizes: dict[Path, int] = {}
    log(NAME, "watching", folder=str(folder))
    while True:
        current = {path: path.stat().st_size for path in sorted(folder.glob("*.xml")) if path.is_file()}
        for path, size in current.items():
            if sizes.get(path) != size or size == 0:
                continue  # still being written (or first sight): wait one more poll
            try:
                body = path.read_bytes()
            except OSError as error:
                log(NAME, "drop-read-failed", file=path.name, error=str(error))
                continue
            status, answer = eakte.accept(body, f"drop:{path.name}")
            target = folder / ("imported" if status == 201 else "rejected") / path.name
            if target.exists():
                target = target.with_name(f"{path.stem}.{uuid.uuid4().hex[:8]}{path.suffix}")
            shutil.move(str(path), target)
            if status != 201:
                target.with_name(target.name + ".reason.txt").write_text(
                    str(answer.get("reason") or answer.get("error")) + "\n", encoding="utf-8")
        sizes = current
        time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    parser.add_argument("--ack-url", help="where to POST Information.EmpfangBestaetigen.0102 "
                        "(e.g. http://127.0.0.1:8081/eingang/eakte); no acknowledgements without it")
    parser.add_argument("--ack-token-file", help="bearer token for --ack-url (e.g. run/secrets/eakte.token)")
    parser.add_argument("--ack-delay", type=float, default=0.5, help="seconds before the acknowledgement")
    parser.add_argument("--drop-folder", type=Path, help="also import *.xml files dropped here")
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--schema", type=Path, default=SCHEMA)
    args = parser.parse_args()
    if not args.schema.is_file():
        parser.error(f"xdomea schema not found at {args.schema} (set STADTBUS_SHARED or --schema)")
    server = SimulatorServer(NAME, args.host, args.port)
    eakte = EAkte(server, args.ack_url, read_token(args.ack_token_file), args.ack_delay, args.schema)
    if args.drop_folder:
        threading.Thread(target=watch_drop_folder, args=(eakte, args.drop_folder, args.poll_interval),
                         name="drop-folder", daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
