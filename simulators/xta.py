#!/usr/bin/env python3
"""XTA double: an XTA 2 Version 3 transport provider (XTA-WS 2.1.1) for Stadtbus's XTA adapter.

In reality this is the authority's transport provider (an OSCI intermediary such as a
MultiMessenger) that a specialist application talks to through KoSIT's XTA 2 web service. Two
accounts live on it, Stadt Itzehoe (``ags:01061046``) and Gemeinde Breitenburg (``ags:01061017``),
so the two municipalities exchange XÖV messages through it. Everything follows the WSDL and the
schemas in ``../shared/xta-2/`` (``XTA.wsdl``) and ``../shared/design/xta.md``:

* SOAP 1.2 over HTTPS with **mutual TLS** (a client certificate issued by the double's CA is
  required in the handshake; its subject ``serialNumber`` names the account). Three ports as URL
  paths: ``/xta/management``, ``/xta/send``, ``/xta/msgbox``; each accepts only its port type's
  actions. ``Content-Type: application/soap+xml; action="…"`` or MTOM (``multipart/related``,
  ``application/xop+xml``); WS-Addressing ``wsa:Action`` (= the WSDL action), ``wsa:MessageID``,
  ``wsa:To`` (this port's URL) and an anonymous ``wsa:ReplyTo`` are mandatory (WS-Addressing
  SOAP faults otherwise).
* management: checkAccountActive, lookupService, createMessageId, getTransportReport,
  cancelMessage; send: sendMessage (sendMessageSync → SyncAsyncException 9080); msgBox:
  getStatusList / getNextStatusList (paging), getMessage / getNextMessage, close.
* sendMessage checks, in this order: the account (9012 unknown certificate, 9011 locked), the
  ``oscimeta:MessageMetaData`` header against the XSDs (9050, with the validation error), Author =
  the certificate's account (9014), the MessageID created by createMessageId for this account and
  not used before (9024), the container against the XSD (9050), its size (9023; 40 MB, lower by
  ``--max-container-bytes``), the declared text encoding (9051), a virus test pattern (9060), the
  booked service (9013). Then the message is delivered to the reader's MsgBox and its transport
  report goes 0 → 1 (3 with error records when the reader has no account or on an injected
  failure, 2 with warnings on an injected warning).
* msgBox operations show a reader only its own messages (9070 for another's MessageID); a
  message stays listed until ``close``.
* Faults are the WSDL's exceptions in the SOAP fault detail, e.g. ``xta:PermissionDeniedException/
  xta:errorCode[@listURI='urn:de:xta:webservice:codeliste:fehlernummer']/code``.

Control (plain HTTP on 127.0.0.1, ``--control-port``): ``GET /health``, ``GET /received``,
``POST /control`` with the common keys (mode down/flaky) and the XTA ones (see the README).

Commands::

    run/venv/bin/python simulators/xta.py certs [--dir run/xta-certs]
    run/venv/bin/python simulators/xta.py serve --port 0 [--control-port 0]
    run/venv/bin/python simulators/xta.py send --url https://127.0.0.1:PORT --as itzehoe --to breitenburg FILE
    run/venv/bin/python simulators/xta.py fetch --url https://127.0.0.1:PORT --as breitenburg [--out DIR]
"""

from __future__ import annotations

import argparse
import base64
import copy
import http.client
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import Message as MimeHeaders
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

import common
from common import REPO_ROOT, SHARED, SimulatorServer, log

NAME = "xta"

# --------------------------------------------------------------------------- names

SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSA_NS = "http://www.w3.org/2005/08/addressing"
XTA_NS = "http://xoev.de/transport/xta/211"
OSCI_NS = "http://www.osci.eu/ws/2008/05/transport"
META_NS = "http://www.osci.eu/ws/2014/10/transport"
XOP_NS = "http://www.w3.org/2004/08/xop/include"
XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
NS = {"env": SOAP_NS, "wsa": WSA_NS, "xta": XTA_NS, "osci": OSCI_NS, "oscimeta": META_NS, "xop": XOP_NS,
      "xenc": XENC_NS}
NS_DECL = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items() if prefix not in ("xop", "xenc"))

ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
WSA_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/fault"
FEHLERNUMMER_LIST = "urn:de:xta:webservice:codeliste:fehlernummer"
#: Code list of the double's own transport-report records (KoSIT's record-type list was announced
#: as urn:de:xta:codeliste:record.type but could not be checked offline).
RECORD_LIST = "urn:de:stadtbus:xta-double:codeliste:record"
REASON_NO_MATCH = "http://www.osci.eu/ws/2008/05/transport/MsgBox/reasons/NoMatch"
REASON_REQUEST_ID_INVALID = "http://www.osci.eu/ws/2008/05/transport/MsgBox/reasons/RequestIdInvalid"

SCHEMAS = SHARED / "xta-2" / "schemas"
DEFAULT_CERTS = REPO_ROOT / "run" / "xta-certs"
#: "Die Gesamtgröße des Containers darf 40 MB nicht überschreiten" (XTA-Webservice-Globale-Elemente.xsd).
MAX_CONTAINER_BYTES = 40 * 1024 * 1024
#: A virus scanner's test signature (EICAR); the double looks for this part of it in the content.
VIRUS_PATTERN = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
XWASSER_NS = "https://gitlab.opencode.de/akdb/xoev/xwasser/-/raw/main/V1_0_0"
#: MessageType/@payloadSchema → the XÖV schema an XML Message is validated against (9050). The XÖV convention
#: is the payload's target namespace; the shared schemas cover XWasser 1.0.0 and xdomea 3.0.0 (xdomea
#: travels zipped, so only a bare xdomea XML is checked). More with --payload-schema URI=XSD or /control.
DEFAULT_PAYLOAD_SCHEMAS = {
    XWASSER_NS: SHARED / "xoev" / "xwasser-1.0.0" / "schemas" / "xwasser.xsd",
    "urn:xoev-de:xdomea:schema:3.0.0": SHARED / "xoev" / "xdomea-3.0.0" / "schemas" / "xdomea.xsd",
}

PORTS = {"management": "/xta/management", "send": "/xta/send", "msgbox": "/xta/msgbox"}
_MSGBOX_ACTION = "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/"

PD, PNV, TP, MSV, MVD, SA, IMID, CD = ("PermissionDeniedException", "ParameterIsNotValidException",
                                       "XTAWSTechnicalProblemException", "MessageSchemaViolationException",
                                       "MessageVirusDetectionException", "SyncAsyncException",
                                       "InvalidMessageIDException", "CancelDeniedException")


@dataclass(frozen=True)
class Operation:
    """One WSDL operation: its port, wsam:Action (input = output) and declared faults."""

    name: str
    port: str
    action: str
    faults: tuple


OPERATIONS = [
    Operation("checkAccountActive", "management", "http://www.xta.de/XTA/CheckAccountActive", (PD, TP)),
    Operation("lookupService", "management", "http://www.xta.de/XTA/IsServiceAvailable", (PD, PNV, TP)),
    Operation("getTransportReport", "management", "http://www.xta.de/XTA/GetTransportReport", (PD, TP, IMID)),
    Operation("cancelMessage", "management", "http://www.xta.de/XTA/CancelMessage", (PD, PNV, TP, CD)),
    Operation("createMessageId", "management", "http://www.xta.de/XTA/CreateMessageID", (PD, TP)),
    Operation("sendMessage", "send", "http://www.xta.de/XTA/SendMessage", (PD, PNV, TP, MSV, MVD, SA)),
    Operation("sendMessageSync", "send", "http://www.xta.de/XTA/SendMessageSync", (PD, PNV, TP, MSV, MVD, SA)),
    Operation("getMessage", "msgbox", _MSGBOX_ACTION + "MsgBoxFetchRequest", (PD, TP, IMID)),
    Operation("getStatusList", "msgbox", _MSGBOX_ACTION + "MsgBoxStatusListRequest", (PD, TP)),
    Operation("getNextMessage", "msgbox", _MSGBOX_ACTION + "MsgBoxGetNextMsgRequest", (PD, TP, IMID)),
    Operation("getNextStatusList", "msgbox", _MSGBOX_ACTION + "MsgBoxGetNextListRequest", (PD, TP)),
    Operation("close", "msgbox", _MSGBOX_ACTION + "MsgBoxCloseRequest", (PD, TP, IMID)),
]
BY_ACTION = {op.action: op for op in OPERATIONS}
BY_NAME = {op.name: op for op in OPERATIONS}

#: The code list urn:de:xta:webservice:codeliste:fehlernummer 1.0 (XTA-Webservice-Datentypen.xsd):
#: code → (exception element, codeName).
FAULT_CODES = {
    "9000": (TP, "Unspezifizierter Fehler, als Freitext beschrieben"),
    "9010": (PD, "Authentisierung/Zertifikat ist abgelaufen."),
    "9011": (PD, "Account ist gesperrt."),
    "9012": (PD, "Account nicht vorhanden."),
    "9013": (PD, "Dienst ist nicht gebucht."),
    "9014": (PD, "Authentisierung/Zertifikat passt nicht zur Absenderkennung."),
    "9020": (PNV, "Keine Parameter vorhanden"),
    "9021": (PNV, "Keine gültige URI"),
    "9022": (PNV, "Ungültige Parameterkombination"),
    "9023": (PNV, "Die Nachricht überschreitet die Größenbeschränkung."),
    "9024": (PNV, "MessageID ist bereits vergeben."),
    "9030": (TP, "Interner Fehler beim XTA-Server bzw. XTA-Dienstleister"),
    "9031": (TP, "Fehler beim externen Verzeichnisdienst"),
    "9032": (TP, "Fehler bei der Zustellung"),
    "9050": (MSV, "Fachnachricht ist nicht schemakonform"),
    "9051": (MSV, "Fachnachricht trägt ein falsches Encoding."),
    "9052": (MSV, "Nachricht verletzt das entsprechende Service Profil."),
    "9060": (MVD, "Es wurde schadhafter Code ermittelt."),
    "9070": (IMID, "MessageID für den Account nicht bekannt."),
    "9080": (SA, "Der Dienst wird nur asynchron angeboten."),
    "9081": (SA, "Der Dienst wird nur synchron angeboten."),
    "9100": (CD, "Der durch den Schalter NotBefore gesetzte Termin ist verstrichen."),
    "9101": (CD, "Der Schalter NotBefore wurde nicht gesetzt."),
}
#: Codes answered with env:Receiver (the provider's fault); all others are env:Sender (the caller's).
RECEIVER_CODES = frozenset({"9000", "9030", "9031", "9032"})

#: Children of oscimeta:DeliveryAttributes in schema order (for inserting timestamps).
DELIVERY_ORDER = ["Origin", "InitialSend", "NotBefore", "ObsoleteAfter", "Delivery", "InitialFetch", "Reception",
                  "ServiceQuality", "ReceiptRequests"]


@dataclass(frozen=True)
class Account:
    """A transport-provider account: the authority's identifier (DVDV style ``prefix:kennung``)."""

    key: str
    identifier: str
    name: str


ACCOUNTS = (Account("itzehoe", "ags:01061046", "Stadt Itzehoe"),
            Account("breitenburg", "ags:01061017", "Gemeinde Breitenburg"))
#: Certificates the ``certs`` command makes besides the accounts': a valid certificate of the same
#: CA whose subject names no account (→ 9012), used to test refusals.
UNKNOWN_PARTY = Account("heiligenstedten", "ags:01061034", "Gemeinde Heiligenstedten")
IDENTIFIER_TYPE = "xoev"


# --------------------------------------------------------------------------- faults

class SoapFault(Exception):
    """A SOAP 1.2 fault without XTA detail (envelope, WS-Addressing, MTOM, unreadable body)."""

    def __init__(self, reason: str, code: str = "env:Sender", subcodes: tuple = (), detail: str = "",
                 action: str = WSA_FAULT_ACTION, http_status: Optional[int] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.subcodes = subcodes
        self.detail = detail
        self.action = action
        self.http_status = http_status or (400 if code == "env:Sender" else 500)


class XtaFault(Exception):
    """An XTA exception from the code list (``errorCode/code``), raised by an operation."""

    def __init__(self, code: str, reason: str = "") -> None:
        if code not in FAULT_CODES:
            raise ValueError(f"{code} is not in the code list {FEHLERNUMMER_LIST}")
        super().__init__(f"{code} {reason}")
        self.code = code
        self.exception, self.code_name = FAULT_CODES[code]
        self.reason = reason or self.code_name


def wsa_fault(subcode: str, reason: str, problem_header: str = "", sub_subcode: str = "",
              problem_action: str = "") -> SoapFault:
    """A WS-Addressing 1.0 SOAP binding fault (env:Sender + wsa:… subcode)."""
    detail = ""
    if problem_header:
        detail = f"<wsa:ProblemHeaderQName>{escape(problem_header)}</wsa:ProblemHeaderQName>"
    if problem_action:
        detail = f"<wsa:ProblemAction><wsa:Action>{escape(problem_action)}</wsa:Action></wsa:ProblemAction>"
    subcodes = (f"wsa:{subcode}",) + ((f"wsa:{sub_subcode}",) if sub_subcode else ())
    return SoapFault(reason, subcodes=subcodes, detail=detail)


def fault_envelope(fault: Exception, relates_to: str = "", action: str = "", cxf_style: bool = False) -> tuple:
    """(HTTP status, action, envelope bytes) for a SoapFault or XtaFault."""
    if isinstance(fault, XtaFault):
        code = "env:Receiver" if cxf_style or fault.code in RECEIVER_CODES else "env:Sender"
        status = 500 if code == "env:Receiver" else 400
        subcode_xml = ""
        reason, lang = fault.reason, "de"
        detail = (f'<xta:{fault.exception}><xta:errorCode listURI="{FEHLERNUMMER_LIST}" listVersionID="1.0">'
                  f"<code>{fault.code}</code><name>{escape(fault.code_name)}</name></xta:errorCode>"
                  f"</xta:{fault.exception}>")
        fault_action = action
    else:
        code = fault.code
        status = 500 if cxf_style else fault.http_status
        subcode_xml = ""
        for subcode in reversed(fault.subcodes):
            subcode_xml = f"<env:Subcode><env:Value>{subcode}</env:Value>{subcode_xml}</env:Subcode>"
        reason, lang = fault.reason, "en"
        detail = fault.detail
        fault_action = fault.action
    header = wsa_response_headers(fault_action, relates_to) if fault_action else ""
    body = (f"<env:Fault><env:Code><env:Value>{code}</env:Value>{subcode_xml}</env:Code>"
            f'<env:Reason><env:Text xml:lang="{lang}">{escape(reason)}</env:Text></env:Reason>'
            + (f"<env:Detail>{detail}</env:Detail>" if detail else "") + "</env:Fault>")
    return status, fault_action, envelope(header, body)


def wsa_response_headers(action: str, relates_to: str) -> str:
    parts = [f"<wsa:Action>{escape(action)}</wsa:Action>", f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>",
             f"<wsa:To>{ANONYMOUS}</wsa:To>"]
    if relates_to:
        parts.append(f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>")
    return "".join(parts)


def envelope(header: str, body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {NS_DECL}>'
            f"<env:Header>{header}</env:Header><env:Body>{body}</env:Body></env:Envelope>").encode("utf-8")


# --------------------------------------------------------------------------- XML and schemas

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                          remove_blank_text=False)
_schema_lock = threading.Lock()
_schema: Optional[etree.XMLSchema] = None


def xta_schema() -> etree.XMLSchema:
    """The XTA-WS 2.1.1 schema set as the WSDL's types section composes it (compiled once)."""
    global _schema
    with _schema_lock:
        if _schema is None:
            wrapper = (f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{XTA_NS}" '
                       f'elementFormDefault="qualified">'
                       f'<xs:import namespace="{META_NS}" schemaLocation="OSCI_MessageMetaData_V2.02.xsd"/>'
                       f'<xs:import namespace="{OSCI_NS}" schemaLocation="OSCI2_02.xsd"/>'
                       f'<xs:include schemaLocation="XTA-Webservice-Globale-Elemente.xsd"/>'
                       f'<xs:include schemaLocation="XTA-Webservice-Exceptions.xsd"/></xs:schema>')
            document = etree.fromstring(wrapper.encode(), base_url=str(SCHEMAS / "stadtbus-xta-wrapper.xsd"))
            _schema = etree.XMLSchema(document)
        return _schema


def schema_errors(element: etree._Element) -> str:
    """'' if ``element`` (as a document root) is valid against the XTA schema set, else the errors."""
    schema = xta_schema()
    document = etree.fromstring(etree.tostring(element), _PARSER)
    with _schema_lock:
        if schema.validate(document):
            return ""
        return "; ".join(f"line {error.line}: {error.message}" for error in schema.error_log)[:2000]


def payload_valid(document: bytes, xsd: Path) -> tuple[bool, str]:
    """Validates an XÖV payload with ``xmllint --nonet`` (an XML catalog ``catalog.xml`` beside the schema
    folder maps remote imports to local copies, as in ../shared/xoev/xwasser-1.0.0)."""
    if common.has_doctype(document):
        return False, "DOCTYPE/ENTITY declarations are refused"
    env = dict(os.environ)
    catalog = xsd.parent.parent / "catalog.xml"
    if catalog.is_file():
        env["XML_CATALOG_FILES"] = str(catalog)
    try:
        result = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(xsd), "-"], input=document,
                                capture_output=True, timeout=120, env=env)
    except FileNotFoundError:
        return True, "xmllint not installed: payload not checked"
    lines = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if not line.endswith(" validates")]
    return result.returncode == 0, "\n".join(lines)


def qname(element: etree._Element) -> str:
    name = etree.QName(element)
    prefix = {uri: prefix for prefix, uri in NS.items()}.get(name.namespace, name.namespace or "")
    return f"{prefix}:{name.localname}" if prefix else name.localname


def text_of(element: Optional[etree._Element]) -> str:
    return " ".join((element.text or "").split()) if element is not None else ""


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def xs_datetime(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_xs_datetime(value: str) -> Optional[datetime]:
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def set_delivery_time(metadata: etree._Element, name: str, moment: datetime, replace: bool = True) -> None:
    """Sets ``DeliveryAttributes/<name>`` in schema order (``replace=False`` keeps a given value)."""
    attributes = metadata.find("oscimeta:DeliveryAttributes", NS)
    if attributes is None:
        return
    existing = attributes.find(f"oscimeta:{name}", NS)
    if existing is not None:
        if replace:
            existing.text = xs_datetime(moment)
        return
    element = etree.Element(f"{{{META_NS}}}{name}")
    element.text = xs_datetime(moment)
    rank = DELIVERY_ORDER.index(name)
    for index, child in enumerate(attributes):
        local = etree.QName(child).localname
        if local in DELIVERY_ORDER and DELIVERY_ORDER.index(local) > rank:
            attributes.insert(index, element)
            break
    else:
        attributes.append(element)


# --------------------------------------------------------------------------- HTTP body decoding

def header_params(value: str) -> tuple[str, dict]:
    """(lower-case media type, parameters) of a Content-Type value; quoted values unescaped."""
    headers = MimeHeaders()
    headers["content-type"] = value
    params = headers.get_params() or []
    media = (params[0][0] if params else "").lower()
    return media, {key.lower(): val for key, val in params[1:]}


def split_multipart(body: bytes, boundary: str) -> list[tuple[dict, bytes]]:
    """The parts of a multipart body as (lower-cased headers, content) — binary safe."""
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise SoapFault("MIME part without a header/body separator")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            if ":" in line:
                key, _, val = line.partition(":")
                headers[key.strip().lower()] = val.strip()
        if content.endswith(b"\r\n"):
            content = content[:-2]
        parts.append((headers, content))
    if not parts:
        raise SoapFault("multipart/related body without parts (wrong boundary?)")
    return parts


def decode_request(content_type: str, body: bytes) -> tuple[bytes, Optional[str], dict, bool]:
    """(SOAP envelope bytes, SOAP action from the media type, MTOM parts by Content-ID, mtom)."""
    media, params = header_params(content_type)
    if media == "application/soap+xml":
        return body, params.get("action"), {}, False
    if media == "multipart/related":
        if params.get("type", "").lower() != "application/xop+xml":
            raise SoapFault(f"multipart/related must have type=\"application/xop+xml\" (MTOM), "
                            f"not {params.get('type')!r}",
                            http_status=415)
        boundary = params.get("boundary")
        if not boundary:
            raise SoapFault("multipart/related without boundary", http_status=415)
        parts = split_multipart(body, boundary)
        by_id = {}
        for headers, content in parts:
            cid = headers.get("content-id", "").strip().strip("<>")
            if cid:
                by_id[cid] = content
        start = params.get("start", "").strip().strip("<>")
        root_headers, root = parts[0]
        if start:
            if start not in by_id:
                raise SoapFault(f"MTOM start part <{start}> not found")
            root = by_id[start]
            root_headers = next(h for h, c in parts if h.get("content-id", "").strip().strip("<>") == start)
        root_media, root_params = header_params(root_headers.get("content-type", ""))
        if root_media != "application/xop+xml" or not root_params.get("type", "").lower().startswith(
                "application/soap+xml"):
            raise SoapFault("the MTOM root part must be application/xop+xml; type=\"application/soap+xml\"",
                            http_status=415)
        action = header_params(params.get("start-info", ""))[1].get("action") or \
            header_params(root_params.get("type", ""))[1].get("action")
        return root, action, by_id, True
    if media == "text/xml":
        raise SoapFault("text/xml is SOAP 1.1; XTA 2 speaks SOAP 1.2 (application/soap+xml)", http_status=415)
    raise SoapFault(f"unsupported Content-Type {media or '(none)'!r}", http_status=415)


def resolve_xop(root: etree._Element, parts: dict) -> None:
    """Replaces each xop:Include by the base64 text of the MIME part it references."""
    for include in root.iter(f"{{{XOP_NS}}}Include"):
        href = include.get("href", "")
        if not href.startswith("cid:"):
            raise SoapFault(f"xop:Include href must be a cid: URL, not {href!r}")
        cid = urllib.parse.unquote(href[4:])
        if cid not in parts:
            raise SoapFault(f"xop:Include references a missing MIME part <{cid}>")
        parent = include.getparent()
        parent.remove(include)
        parent.text = base64.b64encode(parts[cid]).decode("ascii")


# --------------------------------------------------------------------------- provider state

@dataclass
class Record:
    kind: str          # Error, Warning, Info
    code: str
    reason: str
    at: datetime = field(default_factory=now_utc)


@dataclass
class StoredMessage:
    message_id: str
    author: str
    reader: str
    metadata: etree._Element          # as sent, plus the provider's timestamps
    container: etree._Element          # xta:GenericContentContainer
    size: int
    accepted: datetime
    not_before: Optional[datetime]
    status: int = 0
    records: list = field(default_factory=list)
    delivered: Optional[datetime] = None
    fetched: Optional[datetime] = None
    closed: Optional[datetime] = None
    cancelled: bool = False
    held: bool = False
    outcome: Optional[dict] = None     # injected delivery outcome


@dataclass
class Injection:
    code: str
    operation: Optional[str]
    account: Optional[str]
    times: int
    reason: str


@dataclass
class Settings:
    max_container_bytes: int = MAX_CONTAINER_BYTES
    page_size: int = 50
    hold_delivery: bool = False
    delivery_delay_ms: int = 0
    mtom_responses: bool = True
    fault_style: str = "spec"          # spec: Sender → 400, Receiver → 500; cxf: every fault Receiver/500
    validate_payload: bool = True
    drop_connections: bool = False     # close every new connection before the TLS handshake (unreachable)
    payload_schemas: dict = field(default_factory=lambda: {uri: str(path) for uri, path in
                                                           DEFAULT_PAYLOAD_SCHEMAS.items()})

    def as_json(self) -> dict:
        return {"max-container-bytes": self.max_container_bytes, "page-size": self.page_size,
                "hold-delivery": self.hold_delivery, "delivery-delay-ms": self.delivery_delay_ms,
                "mtom-responses": self.mtom_responses, "fault-style": self.fault_style,
                "validate-payload": self.validate_payload, "payload-schemas": dict(self.payload_schemas),
                "drop-connections": self.drop_connections}


class Provider:
    """The transport provider's state and the twelve operations (thread-safe)."""

    def __init__(self, accounts: tuple = ACCOUNTS, identity: str = "stadtbus-xta-double") -> None:
        self.accounts = {account.identifier: account for account in accounts}
        self.identity = identity
        self.settings = Settings()
        self.lock = threading.RLock()
        self.created: dict[str, str] = {}           # MessageID → account identifier
        self.used: set[str] = set()
        self.messages: dict[str, StoredMessage] = {}
        self.iterators: dict[str, dict] = {}        # MsgBoxRequestID → {"account", "ids", "kind", "form"}
        self.locked: set[str] = set()
        self.booked: dict[str, list] = {}           # identifier → service URIs (absent: all services)
        self.injections: list[Injection] = []
        self.delivery_outcomes: list[dict] = []     # next deliveries: {"status": 2|3, "code", "reason"}
        self.counters: dict[str, int] = {}
        self.received = None                        # common.Received of the control server

    # ---- bookkeeping

    def count(self, key: str) -> None:
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1

    def summary(self) -> dict:
        with self.lock:
            self.deliver_due()
            boxes = {identifier: [m.message_id for m in self._box(identifier)] for identifier in self.accounts}
            return {"boxes": boxes,
                    "reports": {mid: m.status for mid, m in self.messages.items()},
                    "closed": [mid for mid, m in self.messages.items() if m.closed],
                    "counters": dict(self.counters), "settings": self.settings.as_json(),
                    "pending-injections": [vars(i) for i in self.injections],
                    "locked": sorted(self.locked)}

    def _box(self, identifier: str) -> list:
        """The reader's listed messages: delivered, not closed, not cancelled, in delivery order."""
        return sorted((m for m in self.messages.values()
                       if m.reader == identifier and m.delivered and not m.closed and not m.cancelled),
                      key=lambda m: (m.delivered, m.message_id))

    # ---- control

    def apply_control(self, body: dict) -> dict:
        """The XTA keys of ``POST /control`` (ValueError → 400)."""
        changed: dict = {}
        with self.lock:
            if body.get("reset"):   # first, so that the same request can set what follows
                self.created.clear(); self.used.clear(); self.messages.clear(); self.iterators.clear()
                self.injections.clear(); self.delivery_outcomes.clear(); self.locked.clear()
                self.booked.clear(); self.counters.clear(); self.settings = Settings()
            settings = self.settings
            if "max-container-bytes" in body:
                value = int(body["max-container-bytes"])
                if value < 1:
                    raise ValueError("max-container-bytes must be positive")
                settings.max_container_bytes = value
            if "page-size" in body:
                value = int(body["page-size"])
                if value < 1:
                    raise ValueError("page-size must be positive")
                settings.page_size = value
            if "hold-delivery" in body:
                settings.hold_delivery = bool(body["hold-delivery"])
            if "delivery-delay-ms" in body:
                settings.delivery_delay_ms = max(0, int(body["delivery-delay-ms"]))
            if "mtom-responses" in body:
                settings.mtom_responses = bool(body["mtom-responses"])
            if "drop-connections" in body:
                settings.drop_connections = bool(body["drop-connections"])
            if "validate-payload" in body:
                settings.validate_payload = bool(body["validate-payload"])
            if "payload-schemas" in body:
                schemas = body["payload-schemas"]
                if not isinstance(schemas, dict):
                    raise ValueError("payload-schemas must map payloadSchema URI → XSD path (null: remove)")
                for uri, path in schemas.items():
                    if path is None:
                        settings.payload_schemas.pop(uri, None)
                    elif not Path(str(path)).is_file():
                        raise ValueError(f"payload schema {path} for {uri} is not a file")
                    else:
                        settings.payload_schemas[uri] = str(path)
            if "fault-style" in body:
                if body["fault-style"] not in ("spec", "cxf"):
                    raise ValueError("fault-style must be spec or cxf")
                settings.fault_style = body["fault-style"]
            for key in ("lock-account", "unlock-account"):
                if key in body:
                    identifier = self._identifier(body[key])
                    (self.locked.add if key == "lock-account" else self.locked.discard)(identifier)
                    changed["locked"] = sorted(self.locked)
            if "booked-services" in body:
                booked = body["booked-services"]
                if not isinstance(booked, dict):
                    raise ValueError("booked-services must map account → [service URI…] (null: all services)")
                for account, services in booked.items():
                    identifier = self._identifier(account)
                    if services is None:
                        self.booked.pop(identifier, None)
                    elif isinstance(services, list):
                        self.booked[identifier] = [str(s) for s in services]
                    else:
                        raise ValueError("booked-services values must be lists of URIs or null")
                changed["booked-services"] = dict(self.booked)
            if body.get("clear-faults"):
                self.injections.clear()
                self.delivery_outcomes.clear()
            if "inject-fault" in body:
                specs = body["inject-fault"]
                for spec in specs if isinstance(specs, list) else [specs]:
                    self.injections.append(self._injection(spec))
            for key, status in (("fail-delivery", 3), ("warn-delivery", 2)):
                if key in body:
                    spec = body[key] or {}
                    if not isinstance(spec, dict):
                        raise ValueError(f"{key} must be an object {{\"times\", \"code\", \"reason\"}}")
                    times = int(spec.get("times", 1))
                    code = str(spec.get("code", "9032" if status == 3 else "warning"))
                    reason = str(spec.get("reason", "Zustellung fehlgeschlagen (simuliert)" if status == 3
                                          else "Zustellung mit Warnung (simuliert)"))
                    self.delivery_outcomes.extend({"status": status, "code": code, "reason": reason}
                                                  for _ in range(times))
            self.deliver_due()
            return {**settings.as_json(), "pending-injections": [vars(i) for i in self.injections],
                    "pending-delivery-outcomes": len(self.delivery_outcomes), **changed}

    def _identifier(self, value: object) -> str:
        """An account given by key (``itzehoe``) or identifier (``ags:01061046``)."""
        for account in self.accounts.values():
            if value in (account.key, account.identifier):
                return account.identifier
        raise ValueError(f"unknown account {value!r} (known: {', '.join(a.key for a in self.accounts.values())})")

    def _injection(self, spec: object) -> Injection:
        if not isinstance(spec, dict) or "code" not in spec:
            raise ValueError('inject-fault needs {"code": "9030"[, "operation", "account", "times", "reason"]}')
        code = str(spec["code"])
        if code not in FAULT_CODES:
            raise ValueError(f"{code} is not in {FEHLERNUMMER_LIST} (known: {', '.join(FAULT_CODES)})")
        operation = spec.get("operation")
        exception = FAULT_CODES[code][0]
        if operation is not None:
            if operation not in BY_NAME:
                raise ValueError(f"unknown operation {operation!r} (known: {', '.join(BY_NAME)})")
            if exception not in BY_NAME[operation].faults:
                raise ValueError(f"the WSDL declares no {exception} for {operation} "
                                 f"(declared: {', '.join(BY_NAME[operation].faults)})")
        account = self._identifier(spec["account"]) if spec.get("account") else None
        times = int(spec.get("times", 1))
        if times == 0 or times < -1:
            raise ValueError("times must be positive, or -1 for every request until clear-faults")
        return Injection(code, operation, account, times, str(spec.get("reason", "")))

    def take_injection(self, operation: Operation, account: Optional[str]) -> Optional[XtaFault]:
        """The first pending injection that applies to this request (declared for the operation)."""
        with self.lock:
            for injection in self.injections:
                if injection.operation not in (None, operation.name):
                    continue
                if injection.account not in (None, account):
                    continue
                if FAULT_CODES[injection.code][0] not in operation.faults:
                    continue
                if injection.times > 0:
                    injection.times -= 1
                    if injection.times == 0:
                        self.injections.remove(injection)
                return XtaFault(injection.code, injection.reason or
                                f"{FAULT_CODES[injection.code][1]} (injected)")
        return None

    # ---- delivery

    def deliver_due(self) -> None:
        """Delivers accepted messages whose time has come (lazy: called on every request)."""
        with self.lock:
            if self.settings.hold_delivery:
                return
            moment = now_utc()
            delay = timedelta(milliseconds=self.settings.delivery_delay_ms)
            for message in sorted(self.messages.values(), key=lambda m: m.accepted):
                if message.status != 0 or message.cancelled:
                    continue
                if message.accepted + delay > moment:
                    continue
                if message.not_before and message.not_before > moment:
                    continue
                self._deliver(message, moment)

    def _deliver(self, message: StoredMessage, moment: datetime) -> None:
        outcome = message.outcome
        if message.reader not in self.accounts:
            message.status = 3
            message.records.append(Record("Error", "9032", f"Leser {message.reader} ist bei diesem "
                                          f"Transportdienstleister nicht erreichbar (kein Konto)", moment))
            log(NAME, "delivery-failed", messageId=message.message_id, reader=message.reader, reason="no account")
            return
        if outcome and outcome["status"] == 3:
            message.status = 3
            message.records.append(Record("Error", outcome["code"], outcome["reason"], moment))
            log(NAME, "delivery-failed", messageId=message.message_id, reason=outcome["reason"], injected=True)
            return
        message.delivered = moment
        set_delivery_time(message.metadata, "Delivery", moment)
        message.records.append(Record("Info", "delivered", f"In das Postfach von {message.reader} zugestellt",
                                      moment))
        if outcome and outcome["status"] == 2:
            message.status = 2
            message.records.append(Record("Warning", outcome["code"], outcome["reason"], moment))
        else:
            message.status = 1
        log(NAME, "delivered", messageId=message.message_id, reader=message.reader, status=message.status)

    # ---- account checks

    def account_for(self, operation: Operation, subject_serial: Optional[str], author_header: Optional[str]) -> str:
        """The requesting account: the certificate's, checked against the AuthorIdentifier header."""
        if subject_serial not in self.accounts:
            raise XtaFault("9012", f"Kein Konto für das Client-Zertifikat (subject serialNumber "
                                   f"{subject_serial or '(none)'})")
        if subject_serial in self.locked:
            raise XtaFault("9011", f"Das Konto {subject_serial} ist gesperrt")
        if author_header is not None:
            if author_header not in self.accounts:
                raise XtaFault("9012", f"Kein Konto {author_header!r} (AuthorIdentifier) bei diesem Dienstleister")
            if author_header != subject_serial:
                raise XtaFault("9014", f"Das Client-Zertifikat ({subject_serial}) passt nicht zur Kennung "
                                       f"{author_header} im AuthorIdentifier")
        return subject_serial


# --------------------------------------------------------------------------- the operations

@dataclass
class Request:
    operation: Operation
    account: str
    headers: etree._Element       # env:Header
    body: etree._Element          # env:Body
    message_id: str               # wsa:MessageID of the request


@dataclass
class Answer:
    headers: str = ""             # extra SOAP header XML
    body: str = ""
    binary: dict = field(default_factory=dict)   # for MTOM: placeholder → bytes


def only_child(body: etree._Element, operation: Operation, expected: str) -> Optional[etree._Element]:
    """The body's single child if it is ``expected`` (prefixed name); None for an empty body."""
    children = [child for child in body if isinstance(child.tag, str)]
    if not children:
        return None
    if len(children) > 1 or qname(children[0]) != expected:
        found = ", ".join(qname(child) for child in children)
        raise parameter_fault(operation, "9022", f"{operation.name} expects one {expected} in the body, found {found}")
    return children[0]


def parameter_fault(operation: Operation, code: str, reason: str) -> Exception:
    """ParameterIsNotValidException where the WSDL declares it, else a plain SOAP Sender fault."""
    if PNV in operation.faults:
        return XtaFault(code, reason)
    return SoapFault(reason)


def require_valid(element: etree._Element, operation: Operation) -> None:
    errors = schema_errors(element)
    if errors:
        raise parameter_fault(operation, "9022", f"{qname(element)} is not valid: {errors}")


class Operations:
    """Implements the WSDL operations on a Provider."""

    def __init__(self, provider: Provider) -> None:
        self.p = provider

    def run(self, request: Request) -> Answer:
        return getattr(self, "op_" + request.operation.name)(request)

    # ---- management

    def op_checkAccountActive(self, request: Request) -> Answer:  # noqa: N802 (WSDL names)
        return Answer()

    def op_lookupService(self, request: Request) -> Answer:  # noqa: N802
        element = only_child(request.body, request.operation, "xta:LookupServiceRequest")
        if element is None:
            raise XtaFault("9020", "lookupService without xta:LookupServiceRequest")
        for service in element.iterfind("xta:LookupServiceRequestList/xta:LookupService/xta:ServiceType", NS):
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", text_of(service)):
                raise XtaFault("9021", f"ServiceType {text_of(service)!r} is not an absolute URI")
        require_valid(element, request.operation)
        results = []
        for lookup in element.iterfind("xta:LookupServiceRequestList/xta:LookupService", NS):
            reader = lookup.find("oscimeta:Reader", NS)
            identifier = text_of(reader.find("oscimeta:Identifier", NS))
            service = text_of(lookup.find("xta:ServiceType", NS))
            booked = self.p.booked.get(identifier)
            available = identifier in self.p.accounts and (booked is None or service in booked)
            results.append(f"<xta:LookupServiceResult>{etree.tostring(reader).decode()}"
                           f"<xta:ServiceType>{escape(service)}</xta:ServiceType>"
                           f"<xta:IsServiceAvailableValue><xta:ServiceIsAvailable>{str(available).lower()}"
                           f"</xta:ServiceIsAvailable></xta:IsServiceAvailableValue></xta:LookupServiceResult>")
        return Answer(body="<xta:LookupServiceResponse><xta:LookupServiceResultList>" + "".join(results)
                      + "</xta:LookupServiceResultList></xta:LookupServiceResponse>")

    def op_createMessageId(self, request: Request) -> Answer:  # noqa: N802
        message_id = f"urn:de:xta:messageid:{self.p.identity}:{uuid.uuid4()}"
        with self.p.lock:
            self.p.created[message_id] = request.account
        log(NAME, "message-id-created", account=request.account, messageId=message_id)
        return Answer(body=f"<wsa:MessageID>{message_id}</wsa:MessageID>")

    def _own_message(self, request: Request, element: Optional[etree._Element], role: str) -> StoredMessage:
        """The message named by ``element`` (wsa:MessageID) if ``request.account`` is its ``role``."""
        message_id = text_of(element)
        if not message_id:
            raise parameter_fault(request.operation, "9020", f"{request.operation.name} without wsa:MessageID")
        message = self.p.messages.get(message_id)
        if message is None or getattr(message, role) != request.account:
            code = "9070" if IMID in request.operation.faults else "9022"
            raise XtaFault(code, f"MessageID {message_id} ist für das Konto {request.account} nicht bekannt")
        return message

    def op_getTransportReport(self, request: Request) -> Answer:  # noqa: N802
        element = only_child(request.body, request.operation, "wsa:MessageID")
        with self.p.lock:
            message = self._own_message(request, element, "author")
            return Answer(body=self.transport_report(message))

    def transport_report(self, message: StoredMessage) -> str:
        lists = []
        for kind, list_name in (("Error", "ErrorList"), ("Warning", "WarnList"), ("Info", "InfoList")):
            records = [r for r in message.records if r.kind == kind]
            if not records:
                continue
            items = "".join(
                f"<xta:{kind}><xta:Timestamp>{xs_datetime(r.at)}</xta:Timestamp>"
                f'<xta:Code listURI="{FEHLERNUMMER_LIST if r.code in FAULT_CODES else RECORD_LIST}" '
                f'listVersionID="1.0"><code>{escape(r.code)}</code></xta:Code>'
                f"<xta:Reason>{escape(r.reason)}</xta:Reason></xta:{kind}>" for r in records)
            lists.append(f"<xta:{list_name}>{items}</xta:{list_name}>")
        return (f"<xta:TransportReport>{etree.tostring(message.metadata).decode()}"
                f"<xta:ReportTime>{xs_datetime(now_utc())}</xta:ReportTime>"
                f"<xta:XTAServerIdentity>{escape(self.p.identity)}</xta:XTAServerIdentity>"
                f"<xta:MessageStatus><xta:Status>{message.status}</xta:Status>{''.join(lists)}</xta:MessageStatus>"
                f"</xta:TransportReport>")

    def op_cancelMessage(self, request: Request) -> Answer:  # noqa: N802
        element = only_child(request.body, request.operation, "wsa:MessageID")
        with self.p.lock:
            message = self._own_message(request, element, "author")
            if message.not_before is None:
                raise XtaFault("9101", f"MessageID {message.message_id}: NotBefore wurde nicht gesetzt")
            if message.delivered or message.not_before <= now_utc() or message.status != 0:
                raise XtaFault("9100", f"MessageID {message.message_id}: der NotBefore-Termin ist verstrichen")
            message.cancelled = True
            message.status = 3
            message.records.append(Record("Error", "cancelled", "Transportauftrag durch den Autor zurückgezogen"))
        log(NAME, "cancelled", messageId=message.message_id)
        return Answer()

    # ---- send

    def op_sendMessageSync(self, request: Request) -> Answer:  # noqa: N802
        raise XtaFault("9080", "sendMessageSync wird von diesem Dienstleister nicht angeboten "
                               "(nur asynchron: sendMessage)")

    def op_sendMessage(self, request: Request) -> Answer:  # noqa: N802
        op = request.operation
        metadata = [h for h in request.headers if isinstance(h.tag, str) and qname(h) == "oscimeta:MessageMetaData"]
        if not metadata:
            raise XtaFault("9020", "sendMessage without the oscimeta:MessageMetaData header")
        if len(metadata) > 1:
            raise XtaFault("9022", "more than one oscimeta:MessageMetaData header")
        metadata = metadata[0]
        errors = schema_errors(metadata)
        if errors:
            raise XtaFault("9050", f"MessageMetaData is not valid against OSCI_MessageMetaData_V2.02.xsd: {errors}")
        author = text_of(metadata.find("oscimeta:Originators/oscimeta:Author/oscimeta:Identifier", NS))
        reader = text_of(metadata.find("oscimeta:Destinations/oscimeta:Reader/oscimeta:Identifier", NS))
        if author != request.account:
            raise XtaFault("9014", f"Autor {author} passt nicht zum Client-Zertifikat ({request.account})")
        message_id = text_of(metadata.find("oscimeta:MsgIdentification/wsa:MessageID", NS))
        container = only_child(request.body, op, "xta:GenericContentContainer")
        if container is None:
            raise XtaFault("9020", "sendMessage without xta:GenericContentContainer in the body")
        errors = schema_errors(container)
        if errors:
            raise XtaFault("9050", f"GenericContentContainer is not valid: {errors}")
        contents = self._contents(container)
        size = sum(len(content) for _, content in contents)
        limit = self.p.settings.max_container_bytes
        if size > limit:
            raise XtaFault("9023", f"Container {size} Bytes > {limit} Bytes")
        for element, content in contents:
            self._check_encoding(element, content)
        if any(VIRUS_PATTERN in content for _, content in contents):
            raise XtaFault("9060", "Virensignatur im Container gefunden (EICAR-Testmuster)")
        self._check_payload(metadata, contents)
        service = text_of(metadata.find("oscimeta:Qualifier/oscimeta:Service", NS))
        with self.p.lock:
            booked = self.p.booked.get(author)
            if booked is not None and service not in booked:
                raise XtaFault("9013", f"Dienst {service} ist für {author} nicht gebucht")
            if self.p.created.get(message_id) != request.account:
                raise XtaFault("9024", f"MessageID {message_id} wurde nicht per createMessageId für {author} erzeugt")
            if message_id in self.p.used:
                raise XtaFault("9024", f"MessageID {message_id} ist bereits vergeben")
            self.p.used.add(message_id)
            stored_metadata = copy.deepcopy(metadata)
            moment = now_utc()
            set_delivery_time(stored_metadata, "InitialSend", moment, replace=False)
            not_before = parse_xs_datetime(text_of(metadata.find("oscimeta:DeliveryAttributes/oscimeta:NotBefore", NS)))
            message = StoredMessage(message_id, author, reader, stored_metadata, copy.deepcopy(container), size,
                                    moment, not_before)
            message.records.append(Record("Info", "accepted", "Transportauftrag angenommen", moment))
            if self.p.delivery_outcomes:
                message.outcome = self.p.delivery_outcomes.pop(0)
            self.p.messages[message_id] = message
            if self.p.received is not None:
                self.p.received.record(message_id)
            self.p.deliver_due()
        log(NAME, "accepted", messageId=message_id, author=author, reader=reader, size=size, service=service)
        return Answer()

    @staticmethod
    def _contents(container: etree._Element) -> list:
        """(element, decoded bytes) of the Message and Attachments, or of the encrypted CipherValue."""
        contents = []
        elements = container.findall("xta:ContentContainer/xta:Message", NS) + \
            container.findall("xta:ContentContainer/xta:Attachment", NS) + \
            container.findall("xenc:EncryptedData/xenc:CipherData/xenc:CipherValue", NS)
        for element in elements:
            try:
                contents.append((element, base64.b64decode("".join((element.text or "").split()), validate=True)))
            except ValueError as error:
                raise XtaFault("9051", f"{qname(element)} is not valid base64: {error}") from None
        return contents

    def _check_payload(self, metadata: etree._Element, contents: list) -> None:
        """9050 if an XML Message does not validate against the XSD its payloadSchema is mapped to."""
        settings = self.p.settings
        payload_schema = metadata.find("oscimeta:Qualifier/oscimeta:MessageType", NS).get("payloadSchema")
        xsd = settings.payload_schemas.get(payload_schema)
        if not settings.validate_payload or not xsd or not contents:
            return
        element, content = contents[0]
        if etree.QName(element).localname != "Message" or "xml" not in (element.get("contentType") or "").lower():
            return
        valid, reason = payload_valid(content, Path(xsd))
        if not valid:
            raise XtaFault("9050", f"{element.get('filename') or 'Message'} ist nicht gültig gegen {payload_schema} "
                                   f"({Path(xsd).name}): {reason[:1500]}")

    @staticmethod
    def _check_encoding(element: etree._Element, content: bytes) -> None:
        """9051 if an XML content's declared encoding contradicts the ``encoding`` attribute or its bytes."""
        declared = element.get("encoding")
        content_type = (element.get("contentType") or "").lower()
        if not declared or "xml" not in content_type:
            return
        match = re.match(rb'^\s*<\?xml[^>]*encoding\s*=\s*["\']([A-Za-z0-9._-]+)["\']', content)
        in_document = match.group(1).decode("ascii") if match else "UTF-8"
        normal = lambda name: name.lower().replace("_", "-").replace("utf8", "utf-8")  # noqa: E731
        if normal(in_document) != normal(declared):
            raise XtaFault("9051", f"{element.get('filename') or qname(element)}: encoding={declared} but the "
                                   f"document declares {in_document}")
        try:
            content.decode(declared)
        except (LookupError, UnicodeDecodeError) as error:
            raise XtaFault("9051", f"{element.get('filename') or qname(element)} is not {declared}: {error}") from None

    # ---- msgBox

    def _select(self, request: Request, selector: Optional[etree._Element]) -> list:
        box = self.p._box(request.account)
        if selector is None:
            return box
        ids = [text_of(e) for e in selector.findall("wsa:MessageID", NS)]
        if ids:
            box = [m for m in box if m.message_id in ids]
        if selector.get("newEntry") in ("true", "1"):
            box = [m for m in box if m.fetched is None]
        start = parse_xs_datetime(text_of(selector.find("osci:MsgBoxEntryTimeFrom", NS)))
        end = parse_xs_datetime(text_of(selector.find("osci:MsgBoxEntryTimeTo", NS)))
        return [m for m in box if (not start or m.delivered >= start) and (not end or m.delivered <= end)]

    def _msgbox_response(self, request_id: str, pending: Optional[int], reason: str = REASON_NO_MATCH) -> str:
        inner = (f"<osci:ItemsPending>{pending}</osci:ItemsPending>" if pending is not None
                 else f'<osci:NoMessageAvailable reason="{reason}"/>')
        return f'<osci:MsgBoxResponse MsgBoxRequestID="{escape(request_id)}">{inner}</osci:MsgBoxResponse>'

    def _status_page(self, request: Request, request_id: str, state: dict) -> Answer:
        messages = [self.p.messages[mid] for mid in state["ids"]]
        messages = [m for m in messages if not m.closed and not m.cancelled]
        page, rest = messages[:state["size"]], messages[state["size"]:]
        state["ids"] = [m.message_id for m in rest]
        if not page:
            self.p.iterators.pop(request_id, None)
            return Answer(headers=self._msgbox_response(request_id, None), body="<osci:MsgStatusList/>")
        if state["form"] == "MsgAtrributes":
            items = "".join(self._msg_attributes(m) for m in page)
        else:
            items = "".join(etree.tostring(m.metadata).decode() for m in page)
        if not rest:
            self.p.iterators.pop(request_id, None)
        return Answer(headers=self._msgbox_response(request_id, len(rest)),
                      body=f"<osci:MsgStatusList>{items}</osci:MsgStatusList>")

    @staticmethod
    def _msg_attributes(message: StoredMessage) -> str:
        scenario = message.metadata.find("oscimeta:Qualifier/oscimeta:BusinessScenario/*", NS)
        if scenario is not None and etree.QName(scenario).localname == "Defined":
            scenario_uri = f"{scenario.get('listURI')}#{text_of(scenario.find('code'))}"
        else:
            scenario_uri = "urn:de:xta:businessscenario:undefined"
        fetched = (f"<osci:InitialFetchedTime>{xs_datetime(message.fetched)}</osci:InitialFetchedTime>"
                   if message.fetched else "")
        return (f"<osci:MsgAttributes><wsa:MessageID>{escape(message.message_id)}</wsa:MessageID>"
                f"<osci:TypeOfBusinessScenario>{escape(scenario_uri)}</osci:TypeOfBusinessScenario>"
                f"<osci:MsgSize>{message.size}</osci:MsgSize>"
                f"<osci:DeliveryTime>{xs_datetime(message.delivered)}</osci:DeliveryTime>{fetched}"
                f"</osci:MsgAttributes>")

    def op_getStatusList(self, request: Request) -> Answer:  # noqa: N802
        element = only_child(request.body, request.operation, "osci:MsgBoxStatusListRequest")
        if element is None:
            raise SoapFault("getStatusList without osci:MsgBoxStatusListRequest")
        require_valid(element, request.operation)
        size = min(int(element.get("maxListItems") or self.p.settings.page_size), self.p.settings.page_size)
        with self.p.lock:
            messages = self._select(request, element.find("osci:MsgSelector", NS))
            request_id = f"urn:uuid:{uuid.uuid4()}"
            state = {"account": request.account, "kind": "list", "ids": [m.message_id for m in messages],
                     "size": size, "form": element.get("ListForm") or "MessageMetaData"}
            self.p.iterators[request_id] = state
            return self._status_page(request, request_id, state)

    def _iterator(self, request: Request, kind: str) -> tuple:
        element = only_child(request.body, request.operation, "osci:MsgBoxGetNextRequest")
        if element is None:
            raise SoapFault(f"{request.operation.name} without osci:MsgBoxGetNextRequest")
        require_valid(element, request.operation)
        request_id = element.get("MsgBoxRequestID")
        state = self.p.iterators.get(request_id)
        if state is None or state["account"] != request.account or state["kind"] != kind:
            return request_id, None
        return request_id, state

    def op_getNextStatusList(self, request: Request) -> Answer:  # noqa: N802
        with self.p.lock:
            request_id, state = self._iterator(request, "list")
            if state is None:
                return Answer(headers=self._msgbox_response(request_id, None, REASON_REQUEST_ID_INVALID),
                              body="<osci:MsgStatusList/>")
            return self._status_page(request, request_id, state)

    def _message_answer(self, message: StoredMessage, request_id: str, pending: int) -> Answer:
        moment = now_utc()
        if message.fetched is None:
            message.fetched = moment
            set_delivery_time(message.metadata, "InitialFetch", moment, replace=False)
            message.records.append(Record("Info", "fetched", "Vom Leser abgeholt", moment))
        container = copy.deepcopy(message.container)
        binary = {}
        if self.p.settings.mtom_responses:
            for element in container.findall("xta:ContentContainer/*", NS):
                cid = f"{uuid.uuid4()}@xta-double"
                binary[cid] = base64.b64decode("".join((element.text or "").split()))
                element.text = None
                etree.SubElement(element, f"{{{XOP_NS}}}Include", href=f"cid:{cid}", nsmap={"xop": XOP_NS})
        log(NAME, "fetched", messageId=message.message_id, reader=message.reader)
        return Answer(headers=etree.tostring(message.metadata).decode() + self._msgbox_response(request_id, pending),
                      body=etree.tostring(container).decode(), binary=binary)

    def op_getMessage(self, request: Request) -> Answer:  # noqa: N802
        element = only_child(request.body, request.operation, "osci:MsgBoxFetchRequest")
        if element is None:
            raise SoapFault("getMessage without osci:MsgBoxFetchRequest")
        require_valid(element, request.operation)
        selector = element.find("osci:MsgSelector", NS)
        wanted = [text_of(e) for e in selector.findall("wsa:MessageID", NS)] if selector is not None else []
        with self.p.lock:
            for message_id in wanted:
                message = self.p.messages.get(message_id)
                if message is None or message.reader != request.account or not message.delivered \
                        or message.closed or message.cancelled:
                    raise XtaFault("9070", f"MessageID {message_id} ist im Postfach von {request.account} "
                                           f"nicht vorhanden")
            messages = self._select(request, selector)
            if not messages:
                raise XtaFault("9070", f"Keine Nachricht im Postfach von {request.account}")
            request_id = f"urn:uuid:{uuid.uuid4()}"
            rest = [m.message_id for m in messages[1:]]
            if rest:
                self.p.iterators[request_id] = {"account": request.account, "kind": "message", "ids": rest}
            return self._message_answer(messages[0], request_id, len(rest))

    def op_getNextMessage(self, request: Request) -> Answer:  # noqa: N802
        with self.p.lock:
            request_id, state = self._iterator(request, "message")
            if state is None:
                raise XtaFault("9070", f"MsgBoxRequestID {request_id} ist für {request.account} nicht bekannt")
            while state["ids"]:
                message = self.p.messages[state["ids"].pop(0)]
                if not message.closed and not message.cancelled:
                    if not state["ids"]:
                        self.p.iterators.pop(request_id, None)
                    return self._message_answer(message, request_id, len(state["ids"]))
            self.p.iterators.pop(request_id, None)
            raise XtaFault("9070", f"MsgBoxRequestID {request_id}: keine weitere Nachricht")

    def op_close(self, request: Request) -> Answer:  # noqa: N802
        element = only_child(request.body, request.operation, "osci:MsgBoxCloseRequest")
        if element is None:
            raise SoapFault("close without osci:MsgBoxCloseRequest")
        require_valid(element, request.operation)
        ids = [text_of(e) for e in element.findall("osci:LastMsgReceived", NS)]
        with self.p.lock:
            for message_id in ids:
                message = self.p.messages.get(message_id)
                if message is None or message.reader != request.account or not message.delivered or message.cancelled:
                    raise XtaFault("9070", f"MessageID {message_id} ist im Postfach von {request.account} "
                                           f"nicht vorhanden")
            moment = now_utc()
            for message_id in ids:
                message = self.p.messages[message_id]
                if message.closed:
                    continue  # a repeated close (the answer to the first was lost) changes nothing
                message.closed = moment
                message.records.append(Record("Info", "closed", "Abholung durch den Leser bestätigt (close)", moment))
                log(NAME, "closed", messageId=message_id, reader=request.account)
            request_id = element.get("MsgBoxRequestID")
            state = self.p.iterators.get(request_id)
            if state is not None and state["account"] == request.account:
                self.p.iterators.pop(request_id, None)
        return Answer()


# --------------------------------------------------------------------------- the SOAP endpoint

WSA_REQUIRED = ("Action", "MessageID", "To", "ReplyTo")
UNDERSTOOD_HEADERS = {(WSA_NS, None), (META_NS, "Author"), (META_NS, "MessageMetaData"),
                      (OSCI_NS, "X509TokenContainer")}


def subject_serial(certificate: Optional[dict]) -> Optional[str]:
    """The subject ``serialNumber`` of a peer certificate (``ssl.getpeercert()``)."""
    for rdn in (certificate or {}).get("subject", ()):
        for key, value in rdn:
            if key == "serialNumber":
                return value
    return None


class SoapEndpoint:
    """Checks envelope, media type and WS-Addressing, then runs the operation."""

    def __init__(self, provider: Provider, server: Optional[SimulatorServer] = None) -> None:
        self.provider = provider
        self.ops = Operations(provider)
        self.server = server

    def handle(self, path: str, content_type: str, body: bytes, certificate: Optional[dict]) -> tuple:
        """(HTTP status, Content-Type, payload) for one POST."""
        relates_to, action = "", ""
        cxf = self.provider.settings.fault_style == "cxf"
        port = next((name for name, port_path in PORTS.items() if port_path == path.rstrip("/")), None)
        try:
            if port is None:
                known = ", ".join(PORTS.values())
                return 404, "text/plain; charset=utf-8", f"no XTA port at {path} (ports: {known})".encode()
            raw, media_action, parts, _mtom = decode_request(content_type, body)
            if common.has_doctype(raw):
                raise SoapFault("a SOAP message must not contain a DTD")
            try:
                root = etree.fromstring(raw, _PARSER)
            except etree.XMLSyntaxError as error:
                raise SoapFault(f"not well-formed XML: {error}") from None
            if root.tag == f"{{{SOAP11_NS}}}Envelope":
                raise SoapFault("SOAP 1.1 envelope; XTA 2 requires SOAP 1.2", code="env:VersionMismatch",
                                http_status=500)
            if root.tag != f"{{{SOAP_NS}}}Envelope":
                raise SoapFault(f"the root element must be env:Envelope (SOAP 1.2), not {qname(root)}")
            resolve_xop(root, parts)
            header = root.find("env:Header", NS)
            body_element = root.find("env:Body", NS)
            if body_element is None:
                raise SoapFault("env:Envelope without env:Body")
            if header is None:
                raise wsa_fault("MessageAddressingHeaderRequired", "WS-Addressing headers are mandatory "
                                "(no env:Header)", problem_header="wsa:Action")
            wsa = self._wsa_headers(header)
            relates_to = wsa.get("MessageID", "")
            operation = BY_ACTION.get(wsa["Action"])
            if operation is None or operation.port != port:
                raise wsa_fault("ActionNotSupported", f"{wsa['Action']} is not an operation of the {port} port",
                                problem_action=wsa["Action"])
            action = operation.action
            if media_action is None:
                raise SoapFault("the SOAP 1.2 action parameter of the Content-Type (or MTOM start-info) is missing")
            if media_action != wsa["Action"]:
                raise wsa_fault("ActionMismatch", f"Content-Type action {media_action} differs from wsa:Action "
                                f"{wsa['Action']}", problem_header="wsa:Action")
            to_path = urllib.parse.urlsplit(wsa["To"]).path.rstrip("/")
            if to_path != PORTS[port]:
                raise wsa_fault("DestinationUnreachable", f"wsa:To {wsa['To']} is not this port ({PORTS[port]})",
                                problem_header="wsa:To")
            self._must_understand(header)
            author_header = self._author_header(header)
            account = self.provider.account_for(operation, subject_serial(certificate), author_header)
            injected = self.provider.take_injection(operation, account)
            if injected is not None:
                raise injected
            self.provider.deliver_due()
            answer = self.ops.run(Request(operation, account, header, body_element, relates_to))
            return self._success(operation, relates_to, answer)
        except (SoapFault, XtaFault) as fault:
            if isinstance(fault, XtaFault):
                self.provider.count(f"fault-{fault.code}")
            else:
                self.provider.count("soap-fault")
            if self.provider.received is not None:
                self.provider.received.record_invalid()
            log(NAME, "fault", path=path, action=action or None,
                code=getattr(fault, "code", None), reason=str(getattr(fault, "reason", fault))[:500])
            status, fault_action, payload = fault_envelope(fault, relates_to, action, cxf)
            ctype = f'application/soap+xml; charset=utf-8; action="{fault_action}"'
            return status, ctype, payload

    @staticmethod
    def _wsa_headers(header: etree._Element) -> dict:
        found: dict = {}
        for name in WSA_REQUIRED:
            elements = header.findall(f"wsa:{name}", NS)
            if not elements:
                raise wsa_fault("MessageAddressingHeaderRequired", f"the WS-Addressing header wsa:{name} is missing",
                                problem_header=f"wsa:{name}")
            if len(elements) > 1:
                raise wsa_fault("InvalidAddressingHeader", f"wsa:{name} occurs {len(elements)} times",
                                problem_header=f"wsa:{name}", sub_subcode="InvalidCardinality")
            if name == "ReplyTo":
                address = text_of(elements[0].find("wsa:Address", NS))
                if address != ANONYMOUS:
                    raise wsa_fault("OnlyAnonymousAddressSupported", f"wsa:ReplyTo must be {ANONYMOUS}, not "
                                    f"{address or '(empty)'}", problem_header="wsa:ReplyTo")
                found[name] = address
            else:
                value = text_of(elements[0])
                if not value:
                    raise wsa_fault("InvalidAddressingHeader", f"wsa:{name} is empty", problem_header=f"wsa:{name}")
                found[name] = value
        return found

    @staticmethod
    def _must_understand(header: etree._Element) -> None:
        for child in header:
            if not isinstance(child.tag, str):
                continue
            flag = child.get(f"{{{SOAP_NS}}}mustUnderstand", "false")
            if flag not in ("true", "1"):
                continue
            name = etree.QName(child)
            if (name.namespace, None) in UNDERSTOOD_HEADERS or (name.namespace, name.localname) in UNDERSTOOD_HEADERS:
                continue
            raise SoapFault(f"header {{{name.namespace}}}{name.localname} is marked mustUnderstand and not understood",
                            code="env:MustUnderstand", http_status=500)

    @staticmethod
    def _author_header(header: etree._Element) -> Optional[str]:
        """The identifier of the optional ``oscimeta:Author`` header (xta:AuthorIdentifier part)."""
        authors = header.findall("oscimeta:Author", NS)
        if not authors:
            return None
        if len(authors) > 1:
            raise SoapFault("more than one oscimeta:Author header")
        identifier = authors[0].find("oscimeta:Identifier", NS)
        if identifier is None or not text_of(identifier):
            raise SoapFault("oscimeta:Author header without Identifier")
        return text_of(identifier)

    def _success(self, operation: Operation, relates_to: str, answer: Answer) -> tuple:
        headers = wsa_response_headers(operation.action, relates_to) + answer.headers
        soap = envelope(headers, answer.body)
        if not answer.binary:
            return 200, f'application/soap+xml; charset=utf-8; action="{operation.action}"', soap
        boundary = f"uuid:{uuid.uuid4()}"
        root_id = f"root.message@{uuid.uuid4()}"
        chunks = [f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; "
                  f"type=\"application/soap+xml; action=\\\"{operation.action}\\\"\"\r\n"
                  f"Content-Transfer-Encoding: binary\r\nContent-ID: <{root_id}>\r\n\r\n".encode() + soap + b"\r\n"]
        for cid, content in answer.binary.items():
            chunks.append(f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                          f"Content-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n".encode()
                          + content + b"\r\n")
        chunks.append(f"--{boundary}--\r\n".encode())
        content_type = (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
                        f'start="<{root_id}>"; start-info="application/soap+xml; action=\\"{operation.action}\\""')
        return 200, content_type, b"".join(chunks)


class TlsSoapServer(ThreadingHTTPServer):
    """HTTPS with required client certificates; the TLS handshake runs in the request thread."""

    daemon_threads = True

    def __init__(self, address: tuple, endpoint: SoapEndpoint, context: ssl.SSLContext) -> None:
        self.endpoint = endpoint
        self.context = context
        super().__init__(address, _soap_handler(endpoint))

    def finish_request(self, request, client_address) -> None:  # noqa: ANN001 (socketserver signature)
        if self.endpoint.provider.settings.drop_connections:
            self.endpoint.provider.count("connections-dropped")
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not FIN
            return
        request.settimeout(60)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            self.endpoint.provider.count("tls-refused")
            log(NAME, "tls-refused", client=f"{client_address[0]}:{client_address[1]}",
                reason=getattr(error, "reason", None) or str(error))
            return
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            try:
                connection.close()
            except OSError:
                pass


def _soap_handler(endpoint: SoapEndpoint) -> type:
    class SoapHandler(BaseHTTPRequestHandler):
        server_version = "stadtbus-xta-double/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def _reply(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _read_body(self, limit: int) -> tuple:
            """(body, size) — body None if larger than ``limit`` (then read away, so that the client sees
            the fault, not a reset). Content-Length or chunked transfer coding; ValueError if neither."""
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            length_text = self.headers.get("Content-Length")
            if not chunked:
                if length_text is None or not length_text.strip().isdigit():
                    raise ValueError("Content-Length or Transfer-Encoding: chunked required")
                length = int(length_text)
                if length <= limit:
                    return self.rfile.read(length), length
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                return None, length
            parts, size = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    chunk_size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValueError(f"bad chunk size line {line[:40]!r}") from None
                if chunk_size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass   # trailers
                    break
                chunk = self.rfile.read(chunk_size)
                self.rfile.readline(16)
                size += len(chunk)
                if size <= limit:
                    parts.append(chunk)
            return (b"".join(parts) if size <= limit else None), size

        def do_GET(self) -> None:  # noqa: N802
            """``?wsdl`` on a port path: the WSDL with this double's port addresses."""
            parts = urllib.parse.urlsplit(self.path)
            if parts.path.rstrip("/") in PORTS.values() and parts.query.lower() == "wsdl":
                base = f"https://{self.headers.get('Host', 'localhost')}"
                text = (SCHEMAS / "XTA.wsdl").read_text(encoding="utf-8")
                for port in ("msgbox", "send", "management"):   # the order of the WSDL's service ports
                    text = text.replace("REPLACE_WITH_ACTUAL_URL", base + PORTS[port], 1)
                return self._reply(200, "text/xml; charset=utf-8", text.encode("utf-8"))
            name = parts.path.rsplit("/", 1)[-1]
            if parts.path.startswith("/xta/") and name.endswith(".xsd") and (SCHEMAS / name).is_file() \
                    and "/" not in name:
                return self._reply(200, "text/xml; charset=utf-8", (SCHEMAS / name).read_bytes())
            self._reply(404, "text/plain; charset=utf-8", b"not found\n")

        def do_POST(self) -> None:  # noqa: N802
            behaviour = endpoint.server.behaviour if endpoint.server else None
            limit = int(endpoint.provider.settings.max_container_bytes * 1.4) + 4 * 1024 * 1024
            try:
                body, size = self._read_body(limit)
            except ValueError as error:
                self.close_connection = True
                return self._reply(400, "text/plain; charset=utf-8", f"{error}\n".encode())
            if body is None:
                self.close_connection = True
                status, action, payload = fault_envelope(
                    XtaFault("9023", f"Anfrage mit {size} Bytes > {limit} Bytes"), "",
                    BY_NAME["sendMessage"].action, endpoint.provider.settings.fault_style == "cxf")
                endpoint.provider.count("fault-9023")
                return self._reply(status, f'application/soap+xml; charset=utf-8; action="{action}"', payload)
            if endpoint.server is not None:
                failure = endpoint.server._failure()
                if failure == "down":
                    log(NAME, "refused", reason="mode down", path=self.path)
                    return self._reply(503, "text/plain; charset=utf-8", b"XTA service unavailable (simulated)\n")
                if failure == "error":
                    log(NAME, "failed", reason="flaky 500", path=self.path)
                    return self._reply(500, "text/plain; charset=utf-8", b"simulated internal error\n")
                if failure == "hang":
                    log(NAME, "hanging", seconds=behaviour.hang_seconds, path=self.path)
                    time.sleep(behaviour.hang_seconds)
                    self.close_connection = True
                    return None
                if behaviour.delay_ms:
                    time.sleep(behaviour.delay_ms / 1000.0)
            try:
                result = endpoint.handle(urllib.parse.urlsplit(self.path).path,
                                         self.headers.get("Content-Type", ""), body, self.connection.getpeercert())
            except Exception as error:  # a double's bug must be visible, not kill the thread
                log(NAME, "handler-error", path=self.path, error=repr(error))
                result = fault_envelope(SoapFault(f"double error: {error!r}", code="env:Receiver"))
                result = (result[0], "application/soap+xml; charset=utf-8", result[2])
            self._reply(*result)

    return SoapHandler


def server_context(cert_dir: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_dir / "server.pem", cert_dir / "server.key")
    context.load_verify_locations(cert_dir / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class XtaDouble:
    """The whole double: TLS SOAP listener + plain-HTTP control listener (for tests and ``serve``)."""

    def __init__(self, cert_dir: Path = DEFAULT_CERTS, host: str = "127.0.0.1", port: int = 0,
                 control_host: str = "127.0.0.1", control_port: int = 0) -> None:
        self.provider = Provider()
        self.control = SimulatorServer(NAME, control_host, control_port)
        self.provider.received = self.control.received
        self.control.on_control(self.provider.apply_control)
        self.control.route("GET", "/state", lambda headers, body: common.Response(200, self.provider.summary()))
        self.endpoint = SoapEndpoint(self.provider, self.control)
        self.soap = TlsSoapServer((host, port), self.endpoint, server_context(cert_dir))
        self._threads: list = []

    @property
    def port(self) -> int:
        return self.soap.server_address[1]

    @property
    def control_port(self) -> int:
        return self.control.port

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}"

    def start(self) -> "XtaDouble":
        for target, name in ((self.soap.serve_forever, "xta-soap"), (self.control.httpd.serve_forever, "xta-control")):
            thread = threading.Thread(target=target, kwargs={"poll_interval": 0.1}, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.soap.shutdown()
        self.control.shutdown()
        self.soap.server_close()
        self.control.httpd.server_close()

    def announce(self) -> None:
        host = self.soap.server_address[0]
        log(NAME, "listening", address=f"https://{host}:{self.port}",
            control=f"http://{self.control.httpd.server_address[0]}:{self.control_port}",
            **{port: f"https://{host}:{self.port}{path}" for port, path in PORTS.items()},
            accounts={a.identifier: a.name for a in ACCOUNTS})


# --------------------------------------------------------------------------- certificates

def make_certs(directory: Path, force: bool = False, days: int = 825) -> list:
    """Makes the double's development PKI with openssl; returns the files written (idempotent).

    ``ca.pem`` (trust anchor for both sides), ``server.{pem,key}`` (localhost, 127.0.0.1), one
    client certificate per account ``<key>.{pem,key,p12}`` with the identifier as subject
    ``serialNumber`` (PKCS#12 passphrase ``$STADTBUS_P12_PASSPHRASE`` or ``stadtbus-dev``), and for
    refusal tests ``heiligenstedten.*`` (valid, but no account) and ``rogue-itzehoe.*`` (Itzehoe's
    subject from another CA, ``rogue-ca.*``).
    """
    if force and directory.exists():
        for path in directory.iterdir():
            if path.is_file():
                path.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    written = []

    def run(*args: str) -> None:
        result = subprocess.run(["openssl", *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"openssl {args[0]} failed: {result.stderr.strip()}")

    def ca(name: str, subject: str) -> None:
        if (directory / f"{name}.pem").exists():
            return
        run("req", "-x509", "-newkey", "rsa:2048", "-sha256", "-nodes", "-days", "3650",
            "-keyout", str(directory / f"{name}.key"), "-out", str(directory / f"{name}.pem"), "-subj", subject,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        written.append(f"{name}.pem")

    def issue(name: str, subject: str, extensions: str, issuer: str = "ca") -> None:
        cert = directory / f"{name}.pem"
        if cert.exists():
            return
        with tempfile.TemporaryDirectory() as scratch:
            csr, ext = Path(scratch) / "req.csr", Path(scratch) / "ext.cnf"
            ext.write_text(extensions + "\n", encoding="utf-8")
            run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(directory / f"{name}.key"),
                "-out", str(csr), "-subj", subject)
            run("x509", "-req", "-in", str(csr), "-CA", str(directory / f"{issuer}.pem"),
                "-CAkey", str(directory / f"{issuer}.key"), "-CAcreateserial", "-days", str(days), "-sha256",
                "-out", str(cert), "-extfile", str(ext))
        os.chmod(directory / f"{name}.key", 0o600)
        written.append(cert.name)

    client_ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n" \
                 "extendedKeyUsage=clientAuth"
    ca("ca", "/C=DE/O=Stadtbus Development/CN=Stadtbus XTA Development CA")
    issue("server", "/C=DE/O=Stadtbus Development/CN=localhost",
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1")
    passphrase = os.environ.get("STADTBUS_P12_PASSPHRASE", "stadtbus-dev")
    for account in ACCOUNTS + (UNKNOWN_PARTY,):
        issue(account.key, f"/C=DE/O={account.name}/OU=XTA/CN={account.name}/serialNumber={account.identifier}",
              client_ext)
        p12 = directory / f"{account.key}.p12"
        if not p12.exists():
            run("pkcs12", "-export", "-inkey", str(directory / f"{account.key}.key"),
                "-in", str(directory / f"{account.key}.pem"), "-certfile", str(directory / "ca.pem"),
                "-out", str(p12), "-passout", f"pass:{passphrase}")
            os.chmod(p12, 0o600)
            written.append(p12.name)
    ca("rogue-ca", "/C=DE/O=Somebody Else/CN=Rogue Development CA")
    itzehoe = ACCOUNTS[0]
    issue("rogue-itzehoe", f"/C=DE/O={itzehoe.name}/OU=XTA/CN={itzehoe.name}/serialNumber={itzehoe.identifier}",
          client_ext, issuer="rogue-ca")
    return written


# --------------------------------------------------------------------------- a small client (CLI)

class ClientFault(Exception):
    def __init__(self, status: int, code: str, text: str) -> None:
        super().__init__(f"HTTP {status} {code}: {text}")
        self.status, self.code, self.text = status, code, text


class XtaClient:
    """The double's own client for the ``send``/``fetch`` commands (tests build their envelopes themselves)."""

    def __init__(self, url: str, account: Account, cert_dir: Path, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.account = account
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=str(cert_dir / "ca.pem"))
        self.context.load_cert_chain(cert_dir / f"{account.key}.pem", cert_dir / f"{account.key}.key")

    def party(self, tag: str, identifier: str, name: str = "") -> str:
        name_attr = f" name={quoteattr(name)}" if name else ""
        return (f'<oscimeta:{tag}><oscimeta:Identifier type="{IDENTIFIER_TYPE}"{name_attr}>{escape(identifier)}'
                f"</oscimeta:Identifier></oscimeta:{tag}>")

    def call(self, operation: str, body: str = "", headers: str = "", author: bool = True) -> etree._Element:
        op = BY_NAME[operation]
        url = self.url + PORTS[op.port]
        addressing = (f"<wsa:Action>{op.action}</wsa:Action><wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
                      f"<wsa:To>{escape(url)}</wsa:To>"
                      f"<wsa:ReplyTo><wsa:Address>{ANONYMOUS}</wsa:Address></wsa:ReplyTo>")
        if author and op.name != "sendMessage":
            headers = self.party("Author", self.account.identifier) + headers
        payload = envelope(addressing + headers, body)
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=self.context, timeout=self.timeout)
        try:
            connection.request("POST", parts.path, payload,
                               {"Content-Type": f'application/soap+xml; charset=utf-8; action="{op.action}"'})
            response = connection.getresponse()
            content = response.read()
            content_type = response.getheader("Content-Type", "")
        finally:
            connection.close()
        soap, _, parts_by_id, _ = decode_request(content_type, content)
        root = etree.fromstring(soap, _PARSER)
        resolve_xop(root, parts_by_id)
        fault = root.find("env:Body/env:Fault", NS)
        if fault is not None:
            code = text_of(fault.find("env:Detail/*/xta:errorCode/code", NS)) or \
                text_of(fault.find("env:Code/env:Subcode/env:Value", NS)) or \
                text_of(fault.find("env:Code/env:Value", NS))
            raise ClientFault(response.status, code, text_of(fault.find("env:Reason/env:Text", NS)))
        return root

    def metadata(self, message_id: str, reader: Account, service: str, scenario: str, message_type: str,
                 payload_schema: str, size: int, test: bool = False) -> str:
        return (f'<oscimeta:MessageMetaData TestMsg="{str(test).lower()}"><oscimeta:DeliveryAttributes>'
                f"<oscimeta:Origin>{xs_datetime(now_utc())}</oscimeta:Origin></oscimeta:DeliveryAttributes>"
                f"<oscimeta:Originators>{self.party('Author', self.account.identifier, self.account.name)}"
                f"</oscimeta:Originators><oscimeta:Destinations>{self.party('Reader', reader.identifier, reader.name)}"
                f"</oscimeta:Destinations><oscimeta:MsgIdentification><wsa:MessageID>{escape(message_id)}"
                f"</wsa:MessageID></oscimeta:MsgIdentification><oscimeta:Qualifier>"
                f"<oscimeta:Service>{escape(service)}</oscimeta:Service><oscimeta:BusinessScenario>"
                f"<oscimeta:Undefined>{escape(scenario)}</oscimeta:Undefined></oscimeta:BusinessScenario>"
                f'<oscimeta:MessageType listURI="urn:de:payloadSchema:elementName" listVersionID="1.0" '
                f'payloadSchema={quoteattr(payload_schema)}><code>{escape(message_type)}</code></oscimeta:MessageType>'
                f"</oscimeta:Qualifier><oscimeta:MsgSize>{max(size, 1)}</oscimeta:MsgSize></oscimeta:MessageMetaData>")


def account_named(key: str) -> Account:
    for account in ACCOUNTS:
        if key in (account.key, account.identifier):
            return account
    raise SystemExit(f"unknown account {key!r} (itzehoe, breitenburg)")


def command_send(args: argparse.Namespace) -> int:
    client = XtaClient(args.url, account_named(args.sender), Path(args.certs))
    reader = account_named(args.to)
    content = Path(args.file).read_bytes()
    root_name = etree.QName(etree.fromstring(content, _PARSER)).localname if args.message_type is None else None
    client.call("checkAccountActive")
    lookup = client.call("lookupService", body=(
        f"<xta:LookupServiceRequest><xta:LookupServiceRequestList><xta:LookupService>"
        f"{client.party('Reader', reader.identifier)}<xta:ServiceType>{escape(args.service)}</xta:ServiceType>"
        f"</xta:LookupService></xta:LookupServiceRequestList></xta:LookupServiceRequest>"))
    available = text_of(lookup.find(".//xta:ServiceIsAvailable", NS))
    message_id = text_of(client.call("createMessageId").find("env:Body/wsa:MessageID", NS))
    metadata = client.metadata(message_id, reader, args.service, args.business_scenario,
                               args.message_type or root_name, args.payload_schema, len(content))
    container = (f'<xta:GenericContentContainer><xta:ContentContainer><xta:Message contentType="application/xml" '
                 f'encoding="UTF-8" filename={quoteattr(Path(args.file).name)} size="{len(content)}">'
                 f"{base64.b64encode(content).decode()}</xta:Message></xta:ContentContainer>"
                 f"</xta:GenericContentContainer>")
    client.call("sendMessage", body=container, headers=metadata)
    status = "0"
    deadline = time.monotonic() + args.wait
    while True:
        report = client.call("getTransportReport", body=f"<wsa:MessageID>{escape(message_id)}</wsa:MessageID>")
        status = text_of(report.find(".//xta:MessageStatus/xta:Status", NS))
        if status != "0" or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    print(json.dumps({"messageId": message_id, "serviceAvailable": available, "transportReportStatus": int(status),
                      "records": [text_of(r.find("xta:Reason", NS)) for r in report.iterfind(".//xta:Error", NS)]}))
    return 0 if status in ("1", "2") else 1


def command_fetch(args: argparse.Namespace) -> int:
    client = XtaClient(args.url, account_named(args.reader), Path(args.certs))
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    listing = client.call("getStatusList", body=f'<osci:MsgBoxStatusListRequest ListForm="MessageMetaData" '
                                                f'maxListItems="{args.page_size}"/>')
    ids = []
    while True:
        ids += [text_of(e) for e in listing.iterfind("env:Body/osci:MsgStatusList/oscimeta:MessageMetaData/"
                                                     "oscimeta:MsgIdentification/wsa:MessageID", NS)]
        response = listing.find("env:Header/osci:MsgBoxResponse", NS)
        pending = response.find("osci:ItemsPending", NS) if response is not None else None
        if pending is None or text_of(pending) == "0":
            break
        listing = client.call("getNextStatusList", body=f'<osci:MsgBoxGetNextRequest MsgBoxRequestID='
                                                        f'{quoteattr(response.get("MsgBoxRequestID"))}/>')
    fetched = []
    for message_id in ids:
        answer = client.call("getMessage", body=f"<osci:MsgBoxFetchRequest><osci:MsgSelector><wsa:MessageID>"
                                                f"{escape(message_id)}</wsa:MessageID></osci:MsgSelector>"
                                                f"</osci:MsgBoxFetchRequest>")
        metadata = answer.find("env:Header/oscimeta:MessageMetaData", NS)
        message = answer.find("env:Body/xta:GenericContentContainer/xta:ContentContainer/xta:Message", NS)
        content = base64.b64decode("".join((message.text or "").split())) if message is not None else b""
        entry = {"messageId": message_id, "author": text_of(metadata.find(
            "oscimeta:Originators/oscimeta:Author/oscimeta:Identifier", NS)), "size": len(content)}
        if out and message is not None:
            name = Path(message.get("filename") or f"{uuid.uuid4()}.bin").name
            (out / name).write_bytes(content)
            entry["file"] = str(out / name)
        if not args.no_close:
            client.call("close", body=f'<osci:MsgBoxCloseRequest MsgBoxRequestID="1"><osci:LastMsgReceived>'
                                      f"{escape(message_id)}</osci:LastMsgReceived></osci:MsgBoxCloseRequest>")
            entry["closed"] = True
        fetched.append(entry)
    print(json.dumps({"fetched": fetched}, ensure_ascii=False))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    certs = commands.add_parser("certs", help="make the double's development certificates with openssl")
    certs.add_argument("--dir", default=str(DEFAULT_CERTS))
    certs.add_argument("--force", action="store_true", help="regenerate everything")
    serve = commands.add_parser("serve", help="run the transport provider (HTTPS with client certificates)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8097, help="HTTPS port of the three XTA ports (0: any)")
    serve.add_argument("--control-port", type=int, default=8098, help="plain-HTTP /control on 127.0.0.1 (0: any)")
    serve.add_argument("--certs", default=str(DEFAULT_CERTS), help="made by the certs command if missing")
    serve.add_argument("--max-container-bytes", type=int, default=MAX_CONTAINER_BYTES)
    serve.add_argument("--page-size", type=int, default=50, help="largest status-list page")
    serve.add_argument("--delivery-delay-ms", type=int, default=0, help="transport report stays 0 this long")
    serve.add_argument("--payload-schema", action="append", default=[], metavar="URI=XSD",
                       help="validate XML Messages with this MessageType/@payloadSchema against XSD (9050)")
    for name, role in (("send", "sender"), ("fetch", "reader")):
        command = commands.add_parser(name, help=f"demo client: {name} as an account")
        command.add_argument("--url", required=True, help="https://127.0.0.1:PORT")
        command.add_argument("--as", dest=role, required=True, help="itzehoe or breitenburg")
        command.add_argument("--certs", default=str(DEFAULT_CERTS))
    send = commands.choices["send"]
    send.add_argument("--to", required=True, help="the reader: itzehoe or breitenburg")
    send.add_argument("--service", default="urn:xoev-de:xwasser:nachricht:1.0")
    send.add_argument("--business-scenario", default="XWASSER_DATA")
    send.add_argument("--message-type", help="MessageType code (default: the document's root element name)")
    send.add_argument("--payload-schema", default="http://www.xwasser.de/1.0.0")
    send.add_argument("--wait", type=float, default=10.0, help="seconds to follow the transport report")
    send.add_argument("file")
    fetch = commands.choices["fetch"]
    fetch.add_argument("--out", help="write each message's content here")
    fetch.add_argument("--no-close", action="store_true", help="leave the messages listed")
    fetch.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args()
    if args.command == "certs":
        written = make_certs(Path(args.dir), args.force)
        print(json.dumps({"dir": str(Path(args.dir).resolve()), "written": written}))
        return
    if args.command == "serve":
        cert_dir = Path(args.certs)
        if not (cert_dir / "server.pem").exists():
            make_certs(cert_dir)
        double = XtaDouble(cert_dir, args.host, args.port, control_port=args.control_port)
        schemas = dict(item.split("=", 1) for item in args.payload_schema if "=" in item)
        double.provider.apply_control({"max-container-bytes": args.max_container_bytes, "page-size": args.page_size,
                                       "delivery-delay-ms": args.delivery_delay_ms, "payload-schemas": schemas})
        double.announce()
        double.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            double.stop()
        return
    common.log_stream = sys.stderr
    try:
        sys.exit(command_send(args) if args.command == "send" else command_fetch(args))
    except ClientFault as fault:
        print(json.dumps({"error": str(fault), "code": fault.code}), file=sys.stdout)
        sys.exit(1)


if __name__ == "__main__":
    main()
