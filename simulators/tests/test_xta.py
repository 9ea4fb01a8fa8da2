"""Tests of the XTA 2 transport-provider double (simulators/xta.py).

The tests are an independent client: they write their SOAP 1.2 envelopes, WS-Addressing headers,
MessageMetaData and MTOM bodies as text here (not with the double's helpers), parse answers with
the standard library's ElementTree, and validate what they build and what the double answers
with ``xmllint --schema`` (libxml2's command-line validator, not the double's lxml).
Run: ``run/venv/bin/python -m unittest discover -s simulators/tests -t .``
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIMULATORS = ROOT / "simulators"
SHARED = Path(os.environ.get("STADTBUS_SHARED", str(ROOT.parent / "shared")))
SCHEMAS = SHARED / "xta-2" / "schemas"
sys.path.insert(0, str(SIMULATORS))

import xta  # noqa: E402  (the double under test: started in-process, driven over HTTPS only)

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
XTA = "http://xoev.de/transport/xta/211"
OSCI = "http://www.osci.eu/ws/2008/05/transport"
META = "http://www.osci.eu/ws/2014/10/transport"
N = {"env": SOAP, "wsa": WSA, "xta": XTA, "osci": OSCI, "oscimeta": META}
DECL = (f'xmlns:env="{SOAP}" xmlns:wsa="{WSA}" xmlns:xta="{XTA}" xmlns:osci="{OSCI}" xmlns:oscimeta="{META}"')
ANON = "http://www.w3.org/2005/08/addressing/anonymous"
ITZEHOE, BREITENBURG, HEILIGENSTEDTEN = "ags:01061046", "ags:01061017", "ags:01061034"
MSGBOX = "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/"
ACTION = {
    "checkAccountActive": ("/xta/management", "http://www.xta.de/XTA/CheckAccountActive"),
    "lookupService": ("/xta/management", "http://www.xta.de/XTA/IsServiceAvailable"),
    "createMessageId": ("/xta/management", "http://www.xta.de/XTA/CreateMessageID"),
    "getTransportReport": ("/xta/management", "http://www.xta.de/XTA/GetTransportReport"),
    "cancelMessage": ("/xta/management", "http://www.xta.de/XTA/CancelMessage"),
    "sendMessage": ("/xta/send", "http://www.xta.de/XTA/SendMessage"),
    "sendMessageSync": ("/xta/send", "http://www.xta.de/XTA/SendMessageSync"),
    "getStatusList": ("/xta/msgbox", MSGBOX + "MsgBoxStatusListRequest"),
    "getNextStatusList": ("/xta/msgbox", MSGBOX + "MsgBoxGetNextListRequest"),
    "getMessage": ("/xta/msgbox", MSGBOX + "MsgBoxFetchRequest"),
    "getNextMessage": ("/xta/msgbox", MSGBOX + "MsgBoxGetNextMsgRequest"),
    "close": ("/xta/msgbox", MSGBOX + "MsgBoxCloseRequest"),
}
XWASSER = b'<?xml version="1.0" encoding="UTF-8"?>\n<xwasser:pruefbericht xmlns:xwasser="urn:example:xwasser">' \
          b'<inhalt>Trinkwasser Breitenburg \xc3\xa4\xc3\xb6\xc3\xbc</inhalt></xwasser:pruefbericht>\n'


def xmllint(document: bytes, wrapper: Path) -> tuple[bool, str]:
    result = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(wrapper), "-"], input=document,
                            capture_output=True, timeout=60)
    return result.returncode == 0, result.stderr.decode("utf-8", "replace")


class Reply:
    """One HTTP answer: status, Content-Type, the SOAP envelope (MTOM resolved by the test) and parts."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status, self.content_type, self.raw = status, content_type, body
        self.parts: dict = {}
        self.envelope = None
        self.soap = b""
        if content_type.startswith("multipart/related"):
            boundary = content_type.split('boundary="', 1)[1].split('"', 1)[0]
            for chunk in body.split(b"--" + boundary.encode())[1:]:
                if chunk.startswith(b"--"):
                    break
                head, _, content = chunk[2:].partition(b"\r\n\r\n")
                headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
                self.parts[headers["Content-ID"].strip("<>")] = (headers, content[:-2])
            root = next(content for headers, content in self.parts.values()
                        if headers["Content-Type"].startswith("application/xop+xml"))
            self.soap = root
        elif content_type.startswith("application/soap+xml"):
            self.soap = body
        if self.soap:
            self.envelope = ET.fromstring(self.soap)

    def find(self, path: str):
        return self.envelope.find(path, N)

    def text(self, path: str) -> str:
        element = self.find(path)
        return (element.text or "").strip() if element is not None else ""

    @property
    def fault(self):
        return self.find("env:Body/env:Fault")

    @property
    def error_code(self) -> str:
        return self.text("env:Body/env:Fault/env:Detail/*/xta:errorCode/code")

    @property
    def exception(self) -> str:
        detail = self.find("env:Body/env:Fault/env:Detail/*")
        return detail.tag.split("}", 1)[1] if detail is not None else ""

    @property
    def subcodes(self) -> list:
        return [e.text for e in self.envelope.iterfind(".//env:Subcode/env:Value", N)] if self.fault is not None else []

    def content(self, element) -> bytes:
        """The bytes of a base64 element, or of the MIME part its xop:Include references."""
        include = element.find("{http://www.w3.org/2004/08/xop/include}Include")
        if include is not None:
            return self.parts[include.get("href")[4:]][1]
        return base64.b64decode("".join((element.text or "").split()))


CERTS: dict = {}


def setUpModule() -> None:  # noqa: N802 (unittest name)
    """One development PKI for all tests, made by the double's ``certs`` command (openssl)."""
    CERTS["tmp"] = Path(tempfile.mkdtemp(prefix="xta-test-"))
    CERTS["dir"] = CERTS["tmp"] / "certs"
    made = subprocess.run([sys.executable, str(SIMULATORS / "xta.py"), "certs", "--dir", str(CERTS["dir"])],
                          capture_output=True, text=True, timeout=120)
    if made.returncode != 0:
        raise RuntimeError(f"xta.py certs failed: {made.stderr}")


def tearDownModule() -> None:  # noqa: N802
    shutil.rmtree(CERTS["tmp"], ignore_errors=True)


class XtaDoubleTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = Path(tempfile.mkdtemp(prefix="xta-test-", dir=CERTS["tmp"]))
        cls.certs = CERTS["dir"]
        cls.log = (cls.tmp / "double.log").open("w", encoding="utf-8")
        cls.saved_stream, xta.common.log_stream = xta.common.log_stream, cls.log   # event lines to a file
        cls.double = xta.XtaDouble(cls.certs).start()
        cls.base = f"https://127.0.0.1:{cls.double.port}"
        cls.control = f"http://127.0.0.1:{cls.double.control_port}/control"
        cls.meta_xsd = cls.tmp / "meta-wrapper.xsd"
        cls.meta_xsd.write_text(
            f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test:wrapper">'
            f'<xs:import namespace="{META}" schemaLocation="{(SCHEMAS / "OSCI_MessageMetaData_V2.02.xsd").as_uri()}"/>'
            f"</xs:schema>", encoding="utf-8")
        cls.xta_xsd = cls.tmp / "xta-wrapper.xsd"
        cls.xta_xsd.write_text(
            f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{XTA}" '
            f'elementFormDefault="qualified">'
            f'<xs:import namespace="{OSCI}" schemaLocation="{(SCHEMAS / "OSCI2_02.xsd").as_uri()}"/>'
            f'<xs:include schemaLocation="{(SCHEMAS / "XTA-Webservice-Globale-Elemente.xsd").as_uri()}"/>'
            f'<xs:include schemaLocation="{(SCHEMAS / "XTA-Webservice-Exceptions.xsd").as_uri()}"/>'
            f"</xs:schema>", encoding="utf-8")
        cls.osci_xsd = cls.tmp / "osci-wrapper.xsd"
        cls.osci_xsd.write_text(
            f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test:wrapper2">'
            f'<xs:import namespace="{OSCI}" schemaLocation="{(SCHEMAS / "OSCI2_02.xsd").as_uri()}"/>'
            f"</xs:schema>", encoding="utf-8")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.double.stop()
        xta.common.log_stream = cls.saved_stream
        cls.log.close()

    def setUp(self) -> None:
        self.assertEqual(self.set_control({"reset": True})["page-size"], 50)

    # ---- the test's own client

    def set_control(self, body: dict, expect: int = 200) -> dict:
        request = urllib.request.Request(self.control, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, text = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        self.assertEqual(status, expect, text)
        return json.loads(text)

    def state(self) -> dict:
        with urllib.request.urlopen(self.control.replace("/control", "/state"), timeout=10) as answer:
            return json.loads(answer.read())

    def tls(self, cert: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.certs / "ca.pem"))
        if cert:
            context.load_cert_chain(self.certs / f"{cert}.pem", self.certs / f"{cert}.key")
        return context

    def post(self, cert: str | None, path: str, payload: bytes, content_type: str) -> Reply:
        connection = http.client.HTTPSConnection("127.0.0.1", self.double.port, context=self.tls(cert), timeout=10)
        try:
            connection.request("POST", path, payload, {"Content-Type": content_type})
            response = connection.getresponse()
            return Reply(response.status, response.getheader("Content-Type", ""), response.read())
        finally:
            connection.close()

    def wsa(self, operation: str, *, action: str | None = None, to: str | None = None, omit: str = "",
            reply_to: str = ANON) -> str:
        path, default_action = ACTION[operation]
        headers = {"Action": f"<wsa:Action>{action or default_action}</wsa:Action>",
                   "MessageID": f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>",
                   "To": f"<wsa:To>{to or self.base + path}</wsa:To>",
                   "ReplyTo": f"<wsa:ReplyTo><wsa:Address>{reply_to}</wsa:Address></wsa:ReplyTo>"}
        return "".join(value for key, value in headers.items() if key != omit)

    @staticmethod
    def author(identifier: str) -> str:
        return f'<oscimeta:Author><oscimeta:Identifier type="xoev">{identifier}</oscimeta:Identifier></oscimeta:Author>'

    def call(self, cert: str | None, operation: str, body: str = "", headers: str | None = None, *,
             as_identifier: str | None = None, wsa: str | None = None, content_type: str | None = None,
             path: str | None = None) -> Reply:
        """One SOAP 1.2 request written by hand; ``headers`` None → the AuthorIdentifier header of ``cert``."""
        own = {"itzehoe": ITZEHOE, "breitenburg": BREITENBURG, "heiligenstedten": HEILIGENSTEDTEN}.get(cert or "")
        if headers is None:
            headers = self.author(as_identifier or own) if operation != "sendMessage" else ""
        envelope = (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope {DECL}><env:Header>'
                    f"{self.wsa(operation) if wsa is None else wsa}{headers}</env:Header>"
                    f"<env:Body>{body}</env:Body></env:Envelope>").encode()
        own_path, action = ACTION[operation]
        if content_type is None:
            content_type = f'application/soap+xml; charset=utf-8; action="{action}"'
        return self.post(cert, path or own_path, envelope, content_type)

    def ok(self, reply: Reply) -> Reply:
        self.assertEqual(reply.status, 200, reply.raw[:1500])
        self.assertIsNone(reply.fault)
        return reply

    def assert_xta_fault(self, reply: Reply, code: str, exception: str, status: int = 400) -> Reply:
        self.assertIsNotNone(reply.envelope, reply.raw[:500])
        self.assertIsNotNone(reply.fault, reply.raw[:1500])
        self.assertEqual((reply.error_code, reply.exception), (code, exception), reply.raw[:1500])
        self.assertEqual(reply.status, status)
        error_code = reply.find("env:Body/env:Fault/env:Detail/*/xta:errorCode")
        self.assertEqual(error_code.get("listURI"), "urn:de:xta:webservice:codeliste:fehlernummer")
        valid, errors = xmllint(ET.tostring(reply.find("env:Body/env:Fault/env:Detail/*")), self.xta_xsd)
        self.assertTrue(valid, errors)
        return reply

    def assert_soap_fault(self, reply: Reply, code: str, subcode: str | None = None, status: int = 400) -> Reply:
        self.assertEqual(reply.status, status, reply.raw[:1500])
        self.assertIsNotNone(reply.fault, reply.raw[:1500])
        self.assertEqual(reply.text("env:Body/env:Fault/env:Code/env:Value"), code)
        if subcode:
            self.assertEqual(reply.subcodes[:1], [subcode], reply.raw[:1500])
        self.assertEqual(reply.error_code, "")
        return reply

    # ---- message building

    def message_id(self, cert: str = "itzehoe") -> str:
        reply = self.ok(self.call(cert, "createMessageId"))
        message_id = reply.text("env:Body/wsa:MessageID")
        self.assertTrue(message_id.startswith("urn:"), message_id)
        return message_id

    def metadata(self, message_id: str, author: str = ITZEHOE, reader: str = BREITENBURG, *, scenario: bool = True,
                 payload_schema: bool = True, not_before: str = "", service: str = "urn:xoev-de:xwasser:1.0") -> str:
        scenario_xml = ('<oscimeta:BusinessScenario><oscimeta:Defined listURI="urn:de:dataport:codeliste:'
                        'business.scenario" listVersionID="1"><code>XWASSER_DATA</code></oscimeta:Defined>'
                        '</oscimeta:BusinessScenario>') if scenario else ""
        schema_attr = ' payloadSchema="http://www.xwasser.de/1.0.0"' if payload_schema else ""
        not_before_xml = f"<oscimeta:NotBefore>{not_before}</oscimeta:NotBefore>" if not_before else ""
        return (f'<oscimeta:MessageMetaData xmlns:oscimeta="{META}" xmlns:wsa="{WSA}" TestMsg="true">'
                f"<oscimeta:DeliveryAttributes><oscimeta:Origin>2026-12-03T10:00:00Z</oscimeta:Origin>{not_before_xml}"
                f"</oscimeta:DeliveryAttributes>"
                f'<oscimeta:Originators><oscimeta:Author><oscimeta:Identifier type="xoev" name="Stadt Itzehoe">'
                f"{author}</oscimeta:Identifier></oscimeta:Author></oscimeta:Originators>"
                f'<oscimeta:Destinations><oscimeta:Reader><oscimeta:Identifier type="xoev">{reader}'
                f"</oscimeta:Identifier></oscimeta:Reader></oscimeta:Destinations>"
                f"<oscimeta:MsgIdentification><wsa:MessageID>{message_id}</wsa:MessageID></oscimeta:MsgIdentification>"
                f"<oscimeta:Qualifier><oscimeta:Subject>Prüfbericht</oscimeta:Subject>"
                f"<oscimeta:Service>{service}</oscimeta:Service>{scenario_xml}"
                f'<oscimeta:MessageType listURI="urn:de:payloadSchema:elementName" listVersionID="1.0"{schema_attr}>'
                f"<code>pruefbericht</code></oscimeta:MessageType></oscimeta:Qualifier></oscimeta:MessageMetaData>")

    @staticmethod
    def container(content: bytes = XWASSER, encoding: str = "UTF-8", attachments: tuple = ()) -> str:
        parts = [f'<xta:Message contentType="application/xml" encoding="{encoding}" filename="pruefbericht.xml" '
                 f'size="{len(content)}">{base64.b64encode(content).decode()}</xta:Message>']
        parts += [f'<xta:Attachment contentType="application/octet-stream" filename="anlage{i}.bin">'
                  f"{base64.b64encode(a).decode()}</xta:Attachment>" for i, a in enumerate(attachments)]
        return f"<xta:GenericContentContainer><xta:ContentContainer>{''.join(parts)}</xta:ContentContainer>" \
               f"</xta:GenericContentContainer>"

    def send(self, cert: str = "itzehoe", message_id: str | None = None, metadata: str | None = None,
             container: str | None = None) -> tuple[str, Reply]:
        message_id = message_id or self.message_id(cert)
        metadata = metadata or self.metadata(message_id)
        return message_id, self.call(cert, "sendMessage", container or self.container(), metadata)

    def report(self, message_id: str, cert: str = "itzehoe") -> Reply:
        return self.call(cert, "getTransportReport", f"<wsa:MessageID>{message_id}</wsa:MessageID>")

    def status_list(self, cert: str = "breitenburg", max_items: int | None = None) -> Reply:
        attr = f' maxListItems="{max_items}"' if max_items else ""
        body = f'<osci:MsgBoxStatusListRequest ListForm="MessageMetaData"{attr}/>'
        return self.ok(self.call(cert, "getStatusList", body))

    @staticmethod
    def listed(reply: Reply) -> list:
        return [e.text for e in reply.envelope.iterfind(
            "env:Body/osci:MsgStatusList/oscimeta:MessageMetaData/oscimeta:MsgIdentification/wsa:MessageID", N)]

    def fetch(self, message_id: str, cert: str = "breitenburg") -> Reply:
        return self.call(cert, "getMessage", f"<osci:MsgBoxFetchRequest><osci:MsgSelector><wsa:MessageID>{message_id}"
                                             f"</wsa:MessageID></osci:MsgSelector></osci:MsgBoxFetchRequest>")

    def close_message(self, message_id: str, cert: str = "breitenburg") -> Reply:
        return self.call(cert, "close", f'<osci:MsgBoxCloseRequest MsgBoxRequestID="1"><osci:LastMsgReceived>'
                                        f"{message_id}</osci:LastMsgReceived></osci:MsgBoxCloseRequest>")

    # ================================================================= the round trip

    def test_round_trip_itzehoe_to_breitenburg(self) -> None:
        self.ok(self.call("itzehoe", "checkAccountActive"))
        lookup = self.ok(self.call("itzehoe", "lookupService", (
            "<xta:LookupServiceRequest>"
            + "".join(f'<xta:LookupServiceRequestList><xta:LookupService><oscimeta:Reader><oscimeta:Identifier '
                      f'type="xoev">{reader}</oscimeta:Identifier></oscimeta:Reader><xta:ServiceType>'
                      f"urn:xoev-de:xwasser:1.0</xta:ServiceType></xta:LookupService></xta:LookupServiceRequestList>"
                      for reader in (BREITENBURG, HEILIGENSTEDTEN))
            + "</xta:LookupServiceRequest>")))
        self.assertEqual([e.text for e in lookup.envelope.iterfind(".//xta:ServiceIsAvailable", N)], ["true", "false"])
        valid, errors = xmllint(ET.tostring(lookup.find("env:Body/xta:LookupServiceResponse")), self.xta_xsd)
        self.assertTrue(valid, errors)
        message_id = self.message_id()
        metadata = self.metadata(message_id)
        valid, errors = xmllint(metadata.encode(), self.meta_xsd)
        self.assertTrue(valid, errors)
        self.set_control({"hold-delivery": True})
        attachment = bytes(range(256)) * 4 + b"\r\n--boundary-lookalike\r\n"
        _, sent = self.send(message_id=message_id, metadata=metadata,
                            container=self.container(attachments=(attachment,)))
        self.ok(sent)
        self.assertEqual(sent.text("env:Header/wsa:Action"), "http://www.xta.de/XTA/SendMessage")
        open_report = self.ok(self.report(message_id))
        self.assertEqual(open_report.text(".//xta:MessageStatus/xta:Status"), "0")
        self.assertEqual(self.listed(self.status_list()), [], "not delivered while held")
        self.set_control({"hold-delivery": False})
        report = self.ok(self.report(message_id))
        self.assertEqual(report.text(".//xta:MessageStatus/xta:Status"), "1")
        valid, errors = xmllint(ET.tostring(report.find("env:Body/xta:TransportReport")), self.xta_xsd)
        self.assertTrue(valid, errors)

        listing = self.status_list()
        self.assertEqual(self.listed(listing), [message_id])
        self.assertEqual(listing.text("env:Header/osci:MsgBoxResponse/osci:ItemsPending"), "0")
        self.assertEqual(self.listed(self.status_list("itzehoe")), [], "the author's own box stays empty")
        fetched = self.ok(self.fetch(message_id))
        self.assertTrue(fetched.content_type.startswith("multipart/related"), fetched.content_type)
        self.assertIn('type="application/xop+xml"', fetched.content_type)
        header_metadata = fetched.find("env:Header/oscimeta:MessageMetaData")
        valid, errors = xmllint(ET.tostring(header_metadata), self.meta_xsd)
        self.assertTrue(valid, errors)
        self.assertEqual(header_metadata.findtext("oscimeta:Originators/oscimeta:Author/oscimeta:Identifier",
                                                  namespaces=N), ITZEHOE)
        self.assertIsNotNone(header_metadata.find("oscimeta:DeliveryAttributes/oscimeta:Delivery", N))
        message = fetched.find("env:Body/xta:GenericContentContainer/xta:ContentContainer/xta:Message")
        self.assertEqual(fetched.content(message), XWASSER)
        self.assertEqual(message.get("filename"), "pruefbericht.xml")
        attached = fetched.find("env:Body/xta:GenericContentContainer/xta:ContentContainer/xta:Attachment")
        self.assertEqual(fetched.content(attached), attachment)
        self.assertEqual(self.listed(self.status_list()), [message_id], "listed until close")
        self.ok(self.close_message(message_id))
        after = self.status_list()
        self.assertEqual(self.listed(after), [])
        self.assertEqual(after.find("env:Header/osci:MsgBoxResponse/osci:NoMessageAvailable").get("reason"),
                         "http://www.osci.eu/ws/2008/05/transport/MsgBox/reasons/NoMatch")
        self.ok(self.close_message(message_id))  # a repeated close (lost answer) is harmless
        final = self.ok(self.report(message_id))
        self.assertEqual(final.text(".//xta:MessageStatus/xta:Status"), "1")
        self.assertEqual([e.text for e in final.envelope.iterfind(".//xta:InfoList/xta:Info/xta:Code/code", N)],
                         ["accepted", "delivered", "fetched", "closed"])
        self.assertIsNone(final.find(".//xta:ErrorList"))

    def test_plain_response_when_mtom_is_off_and_mtom_request(self) -> None:
        self.set_control({"mtom-responses": False})
        message_id = self.message_id()
        binary = b"\x00\x01\xff\r\n" * 50
        cid = f"{uuid.uuid4()}@test"
        envelope = (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope {DECL} '
                    f'xmlns:xop="http://www.w3.org/2004/08/xop/include"><env:Header>{self.wsa("sendMessage")}'
                    f"{self.metadata(message_id)}</env:Header><env:Body><xta:GenericContentContainer>"
                    f'<xta:ContentContainer><xta:Message contentType="application/octet-stream" filename="daten.bin">'
                    f'<xop:Include href="cid:{cid}"/></xta:Message></xta:ContentContainer>'
                    f"</xta:GenericContentContainer></env:Body></env:Envelope>").encode()
        boundary = "MIMEBoundary_test"
        action = ACTION["sendMessage"][1]
        body = (f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n"
                f"Content-Transfer-Encoding: binary\r\nContent-ID: <root@test>\r\n\r\n").encode() + envelope + \
            (f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
             f"Content-ID: <{cid}>\r\n\r\n").encode() + binary + f"\r\n--{boundary}--\r\n".encode()
        content_type = (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; start="<root@test>"; '
                        f'start-info="application/soap+xml; action=\\"{action}\\""')
        self.ok(self.post("itzehoe", "/xta/send", body, content_type))
        fetched = self.ok(self.fetch(message_id))
        self.assertTrue(fetched.content_type.startswith("application/soap+xml"), fetched.content_type)
        message = fetched.find("env:Body/xta:GenericContentContainer/xta:ContentContainer/xta:Message")
        self.assertEqual(base64.b64decode(message.text), binary)

    # ================================================================= TLS and identity

    def test_no_client_certificate_is_refused_in_the_tls_handshake(self) -> None:
        before = self.state()["counters"].get("tls-refused", 0)
        for cert in (None, "rogue-itzehoe"):
            with self.subTest(cert=cert):
                with self.assertRaises((ssl.SSLError, ConnectionError)):
                    self.call(cert, "checkAccountActive", headers="")
        self.assertEqual(self.state()["counters"].get("tls-refused", 0), before + 2)

    def test_certificate_without_account_is_9012(self) -> None:
        self.assert_xta_fault(self.call("heiligenstedten", "checkAccountActive", headers=""), "9012",
                              "PermissionDeniedException")

    def test_author_identifier_header_must_match_the_certificate(self) -> None:
        self.ok(self.call("itzehoe", "checkAccountActive", as_identifier=ITZEHOE))
        self.assert_xta_fault(self.call("itzehoe", "checkAccountActive", as_identifier=BREITENBURG), "9014",
                              "PermissionDeniedException")
        self.assert_xta_fault(self.call("itzehoe", "createMessageId", as_identifier="ags:99999999"), "9012",
                              "PermissionDeniedException")
        self.assert_xta_fault(self.call("breitenburg", "getStatusList", "<osci:MsgBoxStatusListRequest/>",
                                        as_identifier=ITZEHOE), "9014", "PermissionDeniedException")

    def test_lookup_service_parameters(self) -> None:
        self.assert_xta_fault(self.call("itzehoe", "lookupService", ""), "9020", "ParameterIsNotValidException")
        not_a_uri = ('<xta:LookupServiceRequest><xta:LookupServiceRequestList><xta:LookupService><oscimeta:Reader>'
                     f'<oscimeta:Identifier type="xoev">{BREITENBURG}</oscimeta:Identifier></oscimeta:Reader>'
                     "<xta:ServiceType>kein uri</xta:ServiceType></xta:LookupService></xta:LookupServiceRequestList>"
                     "</xta:LookupServiceRequest>")
        self.assert_xta_fault(self.call("itzehoe", "lookupService", not_a_uri), "9021", "ParameterIsNotValidException")
        no_reader = ("<xta:LookupServiceRequest><xta:LookupServiceRequestList><xta:LookupService><xta:ServiceType>"
                     "urn:x</xta:ServiceType></xta:LookupService></xta:LookupServiceRequestList>"
                     "</xta:LookupServiceRequest>")
        self.assert_xta_fault(self.call("itzehoe", "lookupService", no_reader), "9022", "ParameterIsNotValidException")
        self.set_control({"booked-services": {"breitenburg": ["urn:xoev-de:xdomea:3.0"]}})
        request = not_a_uri.replace("kein uri", "urn:xoev-de:xwasser:1.0")
        booked = self.ok(self.call("itzehoe", "lookupService", request))
        self.assertEqual(booked.text(".//xta:ServiceIsAvailable"), "false", "the reader has not booked it")

    def test_send_with_another_author_is_9014(self) -> None:
        message_id = self.message_id("itzehoe")
        _, reply = self.send("itzehoe", message_id, self.metadata(message_id, author=BREITENBURG))
        self.assert_xta_fault(reply, "9014", "PermissionDeniedException")

    def test_locked_account_is_9011_and_unbooked_service_9013(self) -> None:
        self.set_control({"lock-account": "itzehoe"})
        self.assert_xta_fault(self.call("itzehoe", "checkAccountActive"), "9011", "PermissionDeniedException")
        self.ok(self.call("breitenburg", "checkAccountActive"))
        self.set_control({"unlock-account": "itzehoe", "booked-services": {"itzehoe": ["urn:xoev-de:xdomea:3.0"]}})
        self.assert_xta_fault(self.send()[1], "9013", "PermissionDeniedException")

    # ================================================================= MessageMetaData and MessageIDs

    def test_metadata_without_business_scenario_or_payload_schema_is_9050(self) -> None:
        for variant, missing in (({"scenario": False}, "BusinessScenario"),
                                 ({"payload_schema": False}, "payloadSchema")):
            with self.subTest(missing=missing):
                message_id = self.message_id()
                metadata = self.metadata(message_id, **variant)
                valid, _ = xmllint(metadata.encode(), self.meta_xsd)
                self.assertFalse(valid, "xmllint must reject it too")
                reply = self.assert_xta_fault(self.send(message_id=message_id, metadata=metadata)[1], "9050",
                                              "MessageSchemaViolationException")
                self.assertIn(missing, reply.text("env:Body/env:Fault/env:Reason/env:Text"))
                self.assertNotIn(message_id, self.state()["reports"])

    def test_metadata_header_is_mandatory(self) -> None:
        self.assert_xta_fault(self.call("itzehoe", "sendMessage", self.container(), ""), "9020",
                              "ParameterIsNotValidException")

    def test_message_id_must_come_from_create_message_id_and_be_unused(self) -> None:
        invented = f"urn:de:xta:messageid:invented:{uuid.uuid4()}"
        self.assert_xta_fault(self.send(message_id=invented)[1], "9024", "ParameterIsNotValidException")
        foreign = self.message_id("breitenburg")
        self.assert_xta_fault(self.send("itzehoe", message_id=foreign)[1], "9024", "ParameterIsNotValidException")
        message_id, first = self.send()
        self.ok(first)
        self.assert_xta_fault(self.send(message_id=message_id)[1], "9024", "ParameterIsNotValidException")
        self.assertEqual(self.state()["boxes"][BREITENBURG], [message_id])

    def test_container_limit_is_9023(self) -> None:
        self.set_control({"max-container-bytes": 1000})
        message_id = self.message_id()
        reply = self.send(message_id=message_id, container=self.container(b"<a>" + b"x" * 994 + b"</a>"))[1]
        self.assert_xta_fault(reply, "9023", "ParameterIsNotValidException")  # 1001 bytes
        self.assertNotIn(message_id, self.state()["reports"])
        self.ok(self.send(container=self.container(b"<a>" + b"x" * 993 + b"</a>"))[1])  # 1000 bytes: fits

    def test_wrong_encoding_is_9051_and_virus_9060(self) -> None:
        self.assert_xta_fault(self.send(container=self.container(encoding="ISO-8859-1"))[1], "9051",
                              "MessageSchemaViolationException")
        latin = '<?xml version="1.0" encoding="UTF-8"?><a>Ä</a>'.encode("latin-1")
        self.assert_xta_fault(self.send(container=self.container(latin))[1], "9051", "MessageSchemaViolationException")
        pattern = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"
        self.assert_xta_fault(self.send(container=self.container(attachments=(pattern,)))[1], "9060",
                              "MessageVirusDetectionException")

    def test_invalid_container_is_9050(self) -> None:
        container = ("<xta:GenericContentContainer><xta:ContentContainer><xta:Message filename=\"a.xml\">"
                     "PGEvPg==</xta:Message></xta:ContentContainer></xta:GenericContentContainer>")  # no contentType
        reply = self.assert_xta_fault(self.send(container=container)[1], "9050", "MessageSchemaViolationException")
        self.assertIn("contentType", reply.text("env:Body/env:Fault/env:Reason/env:Text"))

    def test_xoev_payload_is_validated_against_its_schema(self) -> None:
        namespace = "https://gitlab.opencode.de/akdb/xoev/xwasser/-/raw/main/V1_0_0"
        example = (SHARED / "xoev" / "xwasser-1.0.0" / "examples" / "quality_report_minimal.xml").read_bytes()
        broken = example.replace(b"</nachrichtenkopf.g2g>", b"<unerwartet/></nachrichtenkopf.g2g>", 1)
        self.assertNotEqual(broken, example)
        for document, accepted in ((example, True), (broken, False)):
            with self.subTest(accepted=accepted):
                message_id = self.message_id()
                metadata = self.metadata(message_id).replace('payloadSchema="http://www.xwasser.de/1.0.0"',
                                                             f'payloadSchema="{namespace}"')
                self.assertIn(namespace, metadata)
                reply = self.send(message_id=message_id, metadata=metadata, container=self.container(document))[1]
                if accepted:
                    self.ok(reply)
                else:
                    self.assert_xta_fault(reply, "9050", "MessageSchemaViolationException")
                    self.assertIn("unerwartet", reply.text("env:Body/env:Fault/env:Reason/env:Text"))
        self.set_control({"validate-payload": False})
        message_id = self.message_id()
        metadata = self.metadata(message_id).replace('payloadSchema="http://www.xwasser.de/1.0.0"',
                                                     f'payloadSchema="{namespace}"')
        self.ok(self.send(message_id=message_id, metadata=metadata, container=self.container(broken))[1])

    def test_oversized_request_is_read_and_refused_with_9023(self) -> None:
        self.set_control({"max-container-bytes": 10})
        padding = "<!--" + "x" * (4 * 1024 * 1024 + 100) + "-->"
        reply = self.call("itzehoe", "checkAccountActive", padding)
        self.assert_xta_fault(reply, "9023", "ParameterIsNotValidException")

    def test_chunked_request_body_is_read(self) -> None:
        message_id = self.message_id()
        envelope = (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope {DECL}><env:Header>{self.wsa("sendMessage")}'
                    f"{self.metadata(message_id)}</env:Header><env:Body>{self.container()}</env:Body>"
                    f"</env:Envelope>").encode()
        connection = http.client.HTTPSConnection("127.0.0.1", self.double.port, context=self.tls("itzehoe"), timeout=10)
        try:
            connection.request("POST", "/xta/send", iter([envelope[:100], envelope[100:]]), encode_chunked=True,
                               headers={"Content-Type": f'application/soap+xml; action="{ACTION["sendMessage"][1]}"'})
            response = connection.getresponse()
            self.ok(Reply(response.status, response.getheader("Content-Type"), response.read()))
        finally:
            connection.close()
        self.assertEqual(self.listed(self.status_list()), [message_id])

    def test_send_message_sync_is_not_offered(self) -> None:
        message_id = self.message_id()
        reply = self.call("itzehoe", "sendMessageSync", self.container(), self.metadata(message_id))
        self.assert_xta_fault(reply, "9080", "SyncAsyncException")

    # ================================================================= the reader's box

    def test_a_reader_sees_only_its_own_messages(self) -> None:
        message_id, sent = self.send()
        self.ok(sent)
        self.assert_xta_fault(self.fetch(message_id, "itzehoe"), "9070", "InvalidMessageIDException")
        self.assert_xta_fault(self.close_message(message_id, "itzehoe"), "9070", "InvalidMessageIDException")
        self.assert_xta_fault(self.report(message_id, "breitenburg"), "9070", "InvalidMessageIDException")
        self.assert_xta_fault(self.fetch(f"urn:de:xta:messageid:x:{uuid.uuid4()}"), "9070", "InvalidMessageIDException")
        self.assertEqual(self.listed(self.status_list()), [message_id], "refused attempts changed nothing")

    def test_paging_with_more_messages_than_a_page(self) -> None:
        sent = []
        for _ in range(5):
            message_id, reply = self.send()
            self.ok(reply)
            sent.append(message_id)
        first = self.status_list(max_items=2)
        request_id = first.find("env:Header/osci:MsgBoxResponse").get("MsgBoxRequestID")
        valid, errors = xmllint(ET.tostring(first.find("env:Header/osci:MsgBoxResponse")), self.osci_xsd)
        self.assertTrue(valid, errors)
        pages = [(self.listed(first), first.text("env:Header/osci:MsgBoxResponse/osci:ItemsPending"))]
        next_body = f'<osci:MsgBoxGetNextRequest MsgBoxRequestID="{request_id}"/>'
        for _ in range(2):
            page = self.ok(self.call("breitenburg", "getNextStatusList", next_body))
            self.assertEqual(page.find("env:Header/osci:MsgBoxResponse").get("MsgBoxRequestID"), request_id)
            pages.append((self.listed(page), page.text("env:Header/osci:MsgBoxResponse/osci:ItemsPending")))
        self.assertEqual([(len(ids), pending) for ids, pending in pages], [(2, "3"), (2, "1"), (1, "0")])
        self.assertEqual([mid for ids, _ in pages for mid in ids], sent)
        done = self.ok(self.call("breitenburg", "getNextStatusList", next_body))
        self.assertEqual(done.find("env:Header/osci:MsgBoxResponse/osci:NoMessageAvailable").get("reason"),
                         "http://www.osci.eu/ws/2008/05/transport/MsgBox/reasons/RequestIdInvalid")
        self.ok(self.close_message(sent[0]))
        self.assertEqual(self.listed(self.status_list()), sent[1:])
        self.set_control({"page-size": 3})
        capped = self.status_list(max_items=10)
        self.assertEqual((len(self.listed(capped)), capped.text("env:Header/osci:MsgBoxResponse/osci:ItemsPending")),
                         (3, "1"))

    def test_get_message_without_selector_and_get_next_message(self) -> None:
        sent = [self.send()[0] for _ in range(3)]
        first = self.ok(self.call("breitenburg", "getMessage", "<osci:MsgBoxFetchRequest/>"))
        response = first.find("env:Header/osci:MsgBoxResponse")
        self.assertEqual(first.text("env:Header/oscimeta:MessageMetaData/oscimeta:MsgIdentification/wsa:MessageID"),
                         sent[0])
        self.assertEqual(response.findtext("osci:ItemsPending", namespaces=N), "2")
        fresh = self.ok(self.call("breitenburg", "getStatusList", '<osci:MsgBoxStatusListRequest>'
                                  '<osci:MsgSelector newEntry="true"/></osci:MsgBoxStatusListRequest>'))
        self.assertEqual(self.listed(fresh), sent[1:], "newEntry: only messages not fetched yet")
        next_body = f'<osci:MsgBoxGetNextRequest MsgBoxRequestID="{response.get("MsgBoxRequestID")}"/>'
        got = [self.ok(self.call("breitenburg", "getNextMessage", next_body)).text(
            "env:Header/oscimeta:MessageMetaData/oscimeta:MsgIdentification/wsa:MessageID") for _ in range(2)]
        self.assertEqual(got, sent[1:])
        self.assert_xta_fault(self.call("breitenburg", "getNextMessage", next_body), "9070",
                              "InvalidMessageIDException")
        self.assertEqual(self.listed(self.status_list()), sent, "fetching is not closing")
        attributes = self.ok(self.call("breitenburg", "getStatusList",
                                       '<osci:MsgBoxStatusListRequest ListForm="MsgAtrributes"/>'))
        status_list = attributes.find("env:Body/osci:MsgStatusList")
        self.assertEqual([e.text for e in status_list.iterfind("osci:MsgAttributes/wsa:MessageID", N)], sent)
        valid, errors = xmllint(ET.tostring(status_list), self.osci_xsd)
        self.assertTrue(valid, errors)

    def test_wsdl_with_this_doubles_addresses(self) -> None:
        connection = http.client.HTTPSConnection("127.0.0.1", self.double.port, context=self.tls("itzehoe"), timeout=10)
        try:
            connection.request("GET", "/xta/send?wsdl")
            response = connection.getresponse()
            wsdl = ET.fromstring(response.read())
        finally:
            connection.close()
        self.assertEqual(response.status, 200)
        locations = {port.get("name"): port.find("{http://schemas.xmlsoap.org/wsdl/soap12/}address").get("location")
                     for port in wsdl.iterfind(".//{http://schemas.xmlsoap.org/wsdl/}port")}
        self.assertEqual(locations, {"MsgBoxPort": self.base + "/xta/msgbox", "SendXtaPort": self.base + "/xta/send",
                                     "ManagementPort": self.base + "/xta/management"})

    # ================================================================= transport reports

    def test_red_and_yellow_transport_reports(self) -> None:
        self.set_control({"fail-delivery": {"times": 1, "code": "9032",
                                            "reason": "Empfänger-Intermediär nicht erreichbar"}})
        red_id, reply = self.send()
        self.ok(reply)
        red = self.ok(self.report(red_id))
        self.assertEqual(red.text(".//xta:MessageStatus/xta:Status"), "3")
        self.assertEqual(red.text(".//xta:ErrorList/xta:Error/xta:Code/code"), "9032")
        self.assertEqual(red.text(".//xta:ErrorList/xta:Error/xta:Reason"), "Empfänger-Intermediär nicht erreichbar")
        valid, errors = xmllint(ET.tostring(red.find("env:Body/xta:TransportReport")), self.xta_xsd)
        self.assertTrue(valid, errors)
        self.assertEqual(self.listed(self.status_list()), [], "a failed message is not delivered")
        self.set_control({"warn-delivery": {"reason": "Zertifikat läuft bald ab"}})
        yellow_id, reply = self.send()
        self.ok(reply)
        yellow = self.ok(self.report(yellow_id))
        self.assertEqual(yellow.text(".//xta:MessageStatus/xta:Status"), "2")
        self.assertEqual(yellow.text(".//xta:WarnList/xta:Warning/xta:Reason"), "Zertifikat läuft bald ab")
        unknown_id = self.message_id()
        self.ok(self.send(message_id=unknown_id, metadata=self.metadata(unknown_id, reader=HEILIGENSTEDTEN))[1])
        self.assertEqual(self.ok(self.report(unknown_id)).text(".//xta:MessageStatus/xta:Status"), "3")
        self.assertEqual(self.listed(self.status_list()), [yellow_id])

    def test_cancel_message_only_before_not_before(self) -> None:
        plain_id, reply = self.send()
        self.ok(reply)
        self.assert_xta_fault(self.call("itzehoe", "cancelMessage", f"<wsa:MessageID>{plain_id}</wsa:MessageID>"),
                              "9101", "CancelDeniedException")
        later_id = self.message_id()
        self.ok(self.send(message_id=later_id, metadata=self.metadata(later_id, not_before="2099-01-01T00:00:00Z"))[1])
        self.assertEqual(self.ok(self.report(later_id)).text(".//xta:MessageStatus/xta:Status"), "0")
        self.ok(self.call("itzehoe", "cancelMessage", f"<wsa:MessageID>{later_id}</wsa:MessageID>"))
        self.assertEqual(self.ok(self.report(later_id)).text(".//xta:MessageStatus/xta:Status"), "3")
        past_id = self.message_id()
        self.ok(self.send(message_id=past_id, metadata=self.metadata(past_id, not_before="2020-01-01T00:00:00Z"))[1])
        self.assert_xta_fault(self.call("itzehoe", "cancelMessage", f"<wsa:MessageID>{past_id}</wsa:MessageID>"),
                              "9100", "CancelDeniedException")
        self.assertEqual(self.listed(self.status_list()), [plain_id, past_id])

    # ================================================================= envelope and WS-Addressing

    def test_ws_addressing_headers_are_mandatory(self) -> None:
        for header in ("Action", "MessageID", "To", "ReplyTo"):
            with self.subTest(missing=header):
                reply = self.call("itzehoe", "checkAccountActive", wsa=self.wsa("checkAccountActive", omit=header))
                self.assert_soap_fault(reply, "env:Sender", "wsa:MessageAddressingHeaderRequired")
                self.assertEqual(reply.text("env:Body/env:Fault/env:Detail/wsa:ProblemHeaderQName"), f"wsa:{header}")
        reply = self.call("itzehoe", "checkAccountActive",
                          wsa=self.wsa("checkAccountActive", reply_to="https://example.invalid/callback"))
        self.assert_soap_fault(reply, "env:Sender", "wsa:OnlyAnonymousAddressSupported")
        twice = self.wsa("checkAccountActive") + f"<wsa:Action>{ACTION['checkAccountActive'][1]}</wsa:Action>"
        self.assert_soap_fault(self.call("itzehoe", "checkAccountActive", wsa=twice), "env:Sender",
                               "wsa:InvalidAddressingHeader")
        reply = self.call("itzehoe", "checkAccountActive",
                          wsa=self.wsa("checkAccountActive", to=self.base + "/xta/send"))
        self.assert_soap_fault(reply, "env:Sender", "wsa:DestinationUnreachable")

    def test_action_must_belong_to_the_port_and_match_the_media_type(self) -> None:
        send_action = ACTION["sendMessage"][1]
        reply = self.call("itzehoe", "checkAccountActive", wsa=self.wsa("checkAccountActive", action=send_action),
                          content_type=f'application/soap+xml; action="{send_action}"')
        self.assert_soap_fault(reply, "env:Sender", "wsa:ActionNotSupported")
        reply = self.call("itzehoe", "checkAccountActive",
                          content_type=f'application/soap+xml; action="{ACTION["createMessageId"][1]}"')
        self.assert_soap_fault(reply, "env:Sender", "wsa:ActionMismatch")
        self.assert_soap_fault(self.call("itzehoe", "checkAccountActive", content_type="application/soap+xml"),
                               "env:Sender")
        self.assertEqual(self.call("itzehoe", "checkAccountActive", content_type="text/xml; charset=utf-8").status, 415)
        self.assertEqual(self.call("itzehoe", "checkAccountActive", path="/xta/nowhere").status, 404)

    def test_envelope_must_be_soap_1_2(self) -> None:
        action = ACTION["checkAccountActive"][1]
        soap11 = (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wsa="{WSA}"><s:Header>'
                  f"{self.wsa('checkAccountActive')}</s:Header><s:Body/></s:Envelope>").encode()
        reply = self.post("itzehoe", "/xta/management", soap11, f'application/soap+xml; action="{action}"')
        self.assert_soap_fault(reply, "env:VersionMismatch", status=500)
        doctype = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><env:Envelope {DECL}><env:Header>'
                   f"{self.wsa('checkAccountActive')}</env:Header><env:Body/></env:Envelope>").encode()
        self.assert_soap_fault(self.post("itzehoe", "/xta/management", doctype,
                                         f'application/soap+xml; action="{action}"'), "env:Sender")
        must = (f'<wsse:Security xmlns:wsse="urn:example:unknown" env:mustUnderstand="true"/>'
                + self.author(ITZEHOE))
        self.assert_soap_fault(self.call("itzehoe", "checkAccountActive", headers=must), "env:MustUnderstand",
                               status=500)

    # ================================================================= fault injection

    def test_every_code_can_be_injected_as_its_exception(self) -> None:
        targets = {"PermissionDeniedException": "checkAccountActive",
                   "XTAWSTechnicalProblemException": "createMessageId",
                   "ParameterIsNotValidException": "sendMessage", "MessageSchemaViolationException": "sendMessage",
                   "MessageVirusDetectionException": "sendMessage", "SyncAsyncException": "sendMessage",
                   "InvalidMessageIDException": "getMessage", "CancelDeniedException": "cancelMessage"}
        codes = {"9000": "XTAWSTechnicalProblemException", **{c: "PermissionDeniedException" for c in
                 ("9010", "9011", "9012", "9013", "9014")},
                 **{c: "ParameterIsNotValidException" for c in ("9020", "9021", "9022", "9023", "9024")},
                 **{c: "XTAWSTechnicalProblemException" for c in ("9030", "9031", "9032")},
                 **{c: "MessageSchemaViolationException" for c in ("9050", "9051", "9052")},
                 "9060": "MessageVirusDetectionException", "9070": "InvalidMessageIDException",
                 "9080": "SyncAsyncException", "9081": "SyncAsyncException",
                 "9100": "CancelDeniedException", "9101": "CancelDeniedException"}
        for code, exception in codes.items():
            with self.subTest(code=code):
                operation = targets[exception]
                self.set_control({"inject-fault": {"code": code, "operation": operation, "account": "itzehoe"}})
                body = {"getMessage": "<osci:MsgBoxFetchRequest/>", "cancelMessage": "<wsa:MessageID>x</wsa:MessageID>",
                        "sendMessage": self.container()}.get(operation, "")
                reply = self.call("itzehoe", operation, body)
                status = 500 if code in ("9000", "9030", "9031", "9032") else 400
                self.assert_xta_fault(reply, code, exception, status)
                self.assertEqual(reply.text("env:Header/wsa:Action"), ACTION[operation][1])
                self.assertEqual(self.state()["pending-injections"], [], "times defaults to one request")
        self.set_control({"inject-fault": {"code": "9030", "times": 2}})
        self.assert_xta_fault(self.call("breitenburg", "checkAccountActive"), "9030",
                              "XTAWSTechnicalProblemException", 500)
        self.assert_xta_fault(self.call("itzehoe", "createMessageId"), "9030", "XTAWSTechnicalProblemException", 500)
        self.ok(self.call("itzehoe", "checkAccountActive"))
        self.set_control({"fault-style": "cxf", "inject-fault": {"code": "9014"}})
        reply = self.call("itzehoe", "checkAccountActive")
        self.assert_xta_fault(reply, "9014", "PermissionDeniedException", 500)
        self.assertEqual(reply.text("env:Body/env:Fault/env:Code/env:Value"), "env:Receiver")

    def test_injection_refuses_what_the_wsdl_does_not_declare(self) -> None:
        self.set_control({"inject-fault": {"code": "9070", "operation": "sendMessage"}}, expect=400)
        self.set_control({"inject-fault": {"code": "9999"}}, expect=400)
        self.set_control({"inject-fault": {"code": "9030", "operation": "noSuchOperation"}}, expect=400)
        self.set_control({"lock-account": "gotham"}, expect=400)
        self.set_control({"inject-fault": {"code": "9070"}})
        self.ok(self.call("itzehoe", "checkAccountActive"))   # declares no InvalidMessageIDException
        self.assert_xta_fault(self.fetch("urn:x"), "9070", "InvalidMessageIDException")

    def test_dropped_connections_look_like_an_unreachable_provider(self) -> None:
        self.set_control({"drop-connections": True})
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.call("itzehoe", "checkAccountActive")
        self.set_control({"drop-connections": False})
        self.ok(self.call("itzehoe", "checkAccountActive"))
        self.assertEqual(self.state()["counters"]["connections-dropped"], 1)

    def test_down_mode_answers_503(self) -> None:
        self.set_control({"mode": "down"})
        try:
            reply = self.call("itzehoe", "checkAccountActive")
            self.assertEqual(reply.status, 503)
        finally:
            self.set_control({"mode": "ok"})
        self.ok(self.call("itzehoe", "checkAccountActive"))


class XtaCommandLineTest(unittest.TestCase):
    """``serve --port 0`` prints its port; ``send`` and ``fetch`` work from the shell."""

    def test_serve_send_fetch(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="xta-cli-", dir=CERTS["tmp"]))
        script = str(SIMULATORS / "xta.py")
        server = subprocess.Popen([sys.executable, script, "serve", "--port", "0", "--control-port", "0",
                                   "--certs", str(CERTS["dir"])],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(server.stdout.close)
        self.addCleanup(server.wait, 10)
        self.addCleanup(server.kill)
        first: list = []
        reader = threading.Thread(target=lambda: first.append(server.stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        self.assertTrue(first, "serve printed no listening line within 60 s")
        line = first[0]
        threading.Thread(target=server.stdout.read, daemon=True).start()   # keep the event lines flowing
        self.assertIn('"event": "listening"', line)
        announced = json.loads(line.split(" ", 1)[1])
        url = announced["address"]
        self.assertRegex(url, r"^https://127\.0\.0\.1:\d+$")
        self.assertEqual(announced["send"], url + "/xta/send")
        document = tmp / "bericht.xml"
        document.write_bytes(XWASSER)
        common = ["--url", url, "--certs", str(CERTS["dir"])]
        sent = subprocess.run([sys.executable, script, "send", *common, "--as", "itzehoe", "--to", "breitenburg",
                               str(document)], capture_output=True, text=True, timeout=60)
        self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
        result = json.loads(sent.stdout)
        self.assertEqual(result["transportReportStatus"], 1)
        fetched = subprocess.run([sys.executable, script, "fetch", *common, "--as", "breitenburg", "--out",
                                  str(tmp / "in")], capture_output=True, text=True, timeout=60)
        self.assertEqual(fetched.returncode, 0, fetched.stdout + fetched.stderr)
        entries = json.loads(fetched.stdout)["fetched"]
        self.assertEqual([(e["messageId"], e["author"], e["closed"]) for e in entries],
                         [(result["messageId"], ITZEHOE, True)])
        self.assertEqual((tmp / "in" / "bericht.xml").read_bytes(), XWASSER)
        again = subprocess.run([sys.executable, script, "fetch", *common, "--as", "breitenburg"],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(json.loads(again.stdout)["fetched"], [])


if __name__ == "__main__":
    unittest.main()
