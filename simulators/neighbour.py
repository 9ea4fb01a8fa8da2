#!/usr/bin/env python3
"""Neighbour simulator: Gemeinde Breitenburg (AGS 01061017), a neighbouring municipality's system.

In reality this is the drinking-water supervision software of a neighbouring municipality in
Kreis Steinburg that exchanges XWasser 1.0.0 reports with Itzehoe over its own message broker;
every message carries an enveloped XMLDSig signature of the sending authority (certificate from
the public-administration PKI, here the development CA of certs/make-dev-certs).

Commands:

* ``receive``: consumes queue ``breitenburg.eingang`` on the peer broker (default port 5682;
  declared as a durable quorum queue if missing; manual acks), verifies each message's signature
  with ``xmlsec1 --verify`` against the CA certificates in ``certs/trust`` only, records it as
  valid or invalid and serves ``/received`` (with ``valid``/``invalid`` counts and reasons),
  ``/health`` and ``/control`` on port 8094.
* ``send``: publishes N signed XWasser messages (fresh nachrichtenUUID; autor kennung
  ``ags:01061017``, leser kennung ``ags:01061046``) to Itzehoe's broker (default port 5672), queue
  ``itzehoe.eingang.nachbarn``, persistent, with publisher confirms, message_id = nachrichtenUUID.
  ``--tamper`` changes a signed value after signing, so the signature no longer verifies.
* ``sign`` / ``verify``: the same signing and verification for one file (handy by hand and for
  checking against ``stadtbus verify``).

Usage::

    run/venv/bin/python simulators/neighbour.py receive --port 8094 --broker-port 5682
    run/venv/bin/python simulators/neighbour.py send --count 3 [--tamper]

The broker password comes from $STADTBUS_BROKER_PASSWORD or run/broker-password.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import common
from common import REPO_ROOT, SHARED, SimulatorServer, has_doctype, log, utc_now

NAME = "neighbour"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
BREITENBURG = "ags:01061017"
ITZEHOE = "ags:01061046"
EXAMPLES = SHARED / "xoev" / "xwasser-1.0.0" / "examples"
DEFAULT_TEMPLATES = ["quality_report_minimal.xml", "olb_report_minimal.xml", "administration_receipt.xml"]
CERTS = Path(os.environ.get("STADTBUS_CERTS", str(REPO_ROOT / "certs")))

#: The signature shape Stadtbus's verifier accepts (Sources/StadtbusSignature/SignatureStructure.swift):
#: enveloped, direct child of the root, one Reference URI="", exclusive C14N, RSA-SHA256, X509 certificate.
SIGNATURE_TEMPLATE = """<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
<ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI="">
<ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
</ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
<ds:DigestValue></ds:DigestValue>
</ds:Reference>
</ds:SignedInfo>
<ds:SignatureValue></ds:SignatureValue>
<ds:KeyInfo>
<ds:X509Data>
<ds:X509Certificate></ds:X509Certificate>
</ds:X509Data>
</ds:KeyInfo>
</ds:Signature>"""


# --------------------------------------------------------------------------- XWasser documents

def xwasser_message(template: str, author: str = BREITENBURG, reader: str = ITZEHOE) -> tuple[str, str]:
    """Returns (nachrichtenUUID, document) from an XWasser example with a fresh header.

    XWasser's header ``nachrichtenkopf.g2g`` is unqualified: the kennung lives in
    ``/*/nachrichtenkopf.g2g/autor/kennung`` and ``/*/nachrichtenkopf.g2g/leser/kennung`` (no
    namespace prefix). Those, ``nachrichtenUUID``, ``erstellungszeitpunkt`` and the authorities'
    names change; the rest of the example stays as it is.
    """
    message_id = str(uuid.uuid4())
    document, found = re.subn(r"<nachrichtenUUID>[^<]*</nachrichtenUUID>",
                              f"<nachrichtenUUID>{message_id}</nachrichtenUUID>", template, count=1)
    if found != 1:
        raise SystemExit("the XWasser template has no unqualified nachrichtenUUID")
    document = re.sub(r"<erstellungszeitpunkt>[^<]*</erstellungszeitpunkt>",
                      f"<erstellungszeitpunkt>{utc_now()}</erstellungszeitpunkt>", document, count=1)
    for role, kennung, name in (("leser", reader, "Stadt Itzehoe"), ("autor", author, "Gemeinde Breitenburg")):
        document, found = re.subn(
            rf"(<{role}>.*?<kennung>)[^<]*(</kennung>\s*<name>)[^<]*(</name>)",
            rf"\g<1>{kennung}\g<2>{name}\g<3>", document, count=1, flags=re.S)
        if found != 1:
            raise SystemExit(f"the XWasser template has no {role}/kennung followed by name")
    return message_id, document


def insert_signature_template(document: str) -> str:
    """Puts the unsigned ds:Signature template as the last child of the document element."""
    match = re.search(r"</[^<>]+>\s*$", document)
    if not match:
        raise SystemExit("cannot find the end tag of the document element")
    return document[:match.start()] + SIGNATURE_TEMPLATE + "\n" + document[match.start():]


def sign(document: str, key: Path, cert: Path) -> bytes:
    """Signs with ``xmlsec1 --sign`` (RSA-SHA256, exclusive C14N, enveloped, certificate in KeyInfo)."""
    with tempfile.TemporaryDirectory(prefix="neighbour-sign-") as work:
        unsigned = Path(work) / "unsigned.xml"
        unsigned.write_text(insert_signature_template(document), encoding="utf-8")
        result = subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}",
                                 "--output", str(Path(work) / "signed.xml"), str(unsigned)],
                                capture_output=True, timeout=60)
        if result.returncode != 0:
            raise SystemExit("xmlsec1 --sign failed: " + result.stderr.decode("utf-8", "replace").strip())
        return (Path(work) / "signed.xml").read_bytes()


def tamper(signed: bytes) -> bytes:
    """Changes a signed value (the author's name) after signing; the header stays routable."""
    changed, found = re.subn(rb"(<autor>.*?<name>)([^<]*)(</name>)", rb"\g<1>\g<2> (manipuliert)\g<3>",
                             signed, count=1, flags=re.S)
    if found != 1:
        raise SystemExit("cannot tamper: no autor/name in the signed document")
    return changed


def structure_problem(document: bytes) -> Optional[str]:
    """Checks the signature's shape before the cryptography (against signature wrapping).

    Returns None if there is exactly one ds:Signature in the whole document, as a direct child of
    the root, with exactly one Reference whose URI is "" (the whole document); a reason otherwise.
    """
    if has_doctype(document):
        return "DOCTYPE/ENTITY declarations are refused"
    try:
        root = ET.fromstring(document)
    except ET.ParseError as error:
        return f"not well-formed XML: {error}"
    everywhere = root.findall(f".//{{{DSIG_NS}}}Signature")
    on_root = root.findall(f"{{{DSIG_NS}}}Signature")
    if not everywhere:
        return "no ds:Signature"
    if len(on_root) != 1 or len(everywhere) != 1:
        return f"expected one ds:Signature as a child of the root, found {len(on_root)} there and " \
               f"{len(everywhere)} in all"
    references = on_root[0].findall(f"{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != "":
        return 'the signature must have exactly one Reference with URI="" (the whole document)'
    if on_root[0].find(f"{{{DSIG_NS}}}Object") is not None:
        return "ds:Object inside the signature is refused"
    return None


def trust_anchors(trust_dir: Path) -> list[Path]:
    """The CA certificates (*.pem) in the trust directory; exits if there are none."""
    anchors = sorted(trust_dir.glob("*.pem"))
    if not anchors:
        raise SystemExit(f"no CA certificates (*.pem) in {trust_dir}; run certs/make-dev-certs")
    return anchors


def verify(document: bytes, anchors: list[Path]) -> tuple[bool, str]:
    """Verifies the enveloped signature; only certificates chaining to ``anchors`` are accepted.

    ``--enabled-key-data x509`` makes xmlsec1 take the key from the X509 certificate alone (no
    KeyValue, no key names) and ``--trusted-pem`` names the only trust anchors; the system's CA
    store is not used because xmlsec1 does not load it for XMLDSig.
    """
    problem = structure_problem(document)
    if problem:
        return False, problem
    command = ["xmlsec1", "--verify", "--enabled-key-data", "x509", "--enabled-reference-uris", "empty"]
    for anchor in anchors:
        command += ["--trusted-pem", str(anchor)]
    with tempfile.NamedTemporaryFile(prefix="neighbour-verify-", suffix=".xml") as handle:
        handle.write(document)
        handle.flush()
        result = subprocess.run(command + [handle.name], capture_output=True, timeout=60)
    output = result.stderr.decode("utf-8", "replace")
    if result.returncode == 0 and "OK" in output:
        return True, "signature valid"
    return False, readable_failure(output)


def readable_failure(output: str) -> str:
    """Condenses xmlsec1's error trace to the reason that matters (certificate, digest, key)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for needle, prefix in (("certificate verification failed", "certificate not trusted"),
                           ("data and digest do not match", "digest mismatch (content changed after signing)"),
                           ("signature do not match", "signature value mismatch"),
                           ("key is not found", "no usable key in KeyInfo")):
        for line in lines:
            if needle in line:
                detail = line.split(needle, 1)[1].strip(":; ")
                detail = re.sub(r"^X509_verify_cert:\s*", "", detail)
                return f"{prefix}: {detail}" if detail and detail != "details=NULL" else prefix
    reason = "; ".join(line for line in lines if line.startswith(("func=", "Error")))[-600:]
    return reason or "xmlsec1 --verify failed"


def header_value(document: bytes, name: str) -> str:
    """The first unqualified header element ``name`` (e.g. nachrichtenUUID), '' if absent."""
    match = re.search(rb"<" + name.encode() + rb">([^<]*)</" + name.encode() + rb">", document)
    return match.group(1).decode("utf-8", "replace").strip() if match else ""


def author_kennung(document: bytes) -> str:
    """The unqualified ``nachrichtenkopf.g2g/autor/kennung``, '' if absent."""
    match = re.search(rb"<autor>.*?<kennung>([^<]*)</kennung>", document, re.S)
    return match.group(1).decode("utf-8", "replace").strip() if match else ""


# --------------------------------------------------------------------------- AMQP

def broker_password(explicit: Optional[str]) -> str:
    """The broker password: --password-file, $STADTBUS_BROKER_PASSWORD or run/broker-password."""
    if os.environ.get("STADTBUS_BROKER_PASSWORD") and not explicit:
        return os.environ["STADTBUS_BROKER_PASSWORD"]
    path = Path(explicit) if explicit else REPO_ROOT / "run" / "broker-password"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        raise SystemExit(f"no broker password: set STADTBUS_BROKER_PASSWORD or create {path}") from None


def connect(args: argparse.Namespace):  # -> pika.BlockingConnection
    """Opens a blocking pika connection with the command line's broker settings."""
    try:
        import pika
    except ImportError:
        raise SystemExit("pika is missing: run with run/venv/bin/python (scripts/lib.sh ensure_pika)") from None
    credentials = pika.PlainCredentials(args.user, broker_password(args.password_file))
    parameters = pika.ConnectionParameters(host=args.broker_host, port=args.broker_port, credentials=credentials,
                                           heartbeat=30, blocked_connection_timeout=30,
                                           connection_attempts=args.connect_attempts, retry_delay=2)
    try:
        return pika.BlockingConnection(parameters)
    except pika.exceptions.AMQPError as error:
        raise SystemExit(f"cannot connect to the broker at {args.broker_host}:{args.broker_port} as "
                         f"{args.user}: {error!r}") from None


def ensure_queue(connection, queue: str, declare: bool) -> None:
    """Checks that ``queue`` exists; declares it durable quorum if missing and ``declare`` is set."""
    import pika
    channel = connection.channel()
    try:
        channel.queue_declare(queue=queue, passive=True)
        channel.close()
        return
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code != 404:
            raise
    if not declare:
        raise SystemExit(f"queue {queue} does not exist on the broker (is Stadtbus running? or pass --declare)")
    channel = connection.channel()
    channel.queue_declare(queue=queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.close()
    log(NAME, "queue-declared", queue=queue, type="quorum")


def run_receive(args: argparse.Namespace) -> None:
    """Consumes ``args.queue``, verifies and records each message, serves /received."""
    anchors = trust_anchors(Path(args.trust))
    server = SimulatorServer(NAME, args.host, args.port)
    server.received.extra.update({"valid": 0, "invalid-reasons": []})
    server.start_background()
    while True:
        connection = connect(args)
        try:
            ensure_queue(connection, args.queue, declare=True)
            channel = connection.channel()
            channel.basic_qos(prefetch_count=10)

            def on_message(channel, method, properties, body: bytes) -> None:
                mode = server.behaviour.mode
                if mode == "down":  # the neighbour's system is offline: leave the message on the queue
                    channel.basic_nack(method.delivery_tag, requeue=True)
                    time.sleep(1)
                    return
                identity = properties.message_id or header_value(body, "nachrichtenUUID") or "?"
                valid, reason = verify(body, anchors)
                if valid:
                    duplicate = server.received.record(identity)
                    server.received.bump("valid")
                    log(NAME, "received", nachrichtenUUID=identity, signature="valid", duplicate=duplicate,
                        autor=author_kennung(body))
                else:
                    server.received.record_invalid()
                    with server.received.lock:
                        server.received.extra["invalid-reasons"].append({"id": identity, "reason": reason})
                    log(NAME, "received", nachrichtenUUID=identity, signature="invalid", reason=reason)
                channel.basic_ack(method.delivery_tag)

            channel.basic_consume(args.queue, on_message, auto_ack=False)
            log(NAME, "consuming", queue=args.queue, broker=f"{args.broker_host}:{args.broker_port}")
            channel.start_consuming()
        except KeyboardInterrupt:
            break
        except Exception as error:  # broker restart, connection loss: reconnect
            log(NAME, "consumer-error", error=repr(error), retry_in_s=2)
            time.sleep(2)
        finally:
            try:
                connection.close()
            except Exception:
                pass


def run_send(args: argparse.Namespace) -> int:
    """Publishes ``args.count`` signed XWasser messages with publisher confirms."""
    import pika
    key, cert = Path(args.key), Path(args.cert)
    for path in (key, cert):
        if not path.is_file():
            raise SystemExit(f"{path} is missing; run certs/make-dev-certs")
    templates = [Path(t) for t in args.template] or [EXAMPLES / name for name in DEFAULT_TEMPLATES]
    texts = [t.read_text(encoding="utf-8") for t in templates]
    connection = connect(args)
    ensure_queue(connection, args.queue, declare=args.declare)
    channel = connection.channel()
    channel.confirm_delivery()
    sent: list[str] = []
    failed: list[dict] = []
    for index in range(args.count):
        message_id, document = xwasser_message(texts[index % len(texts)])
        body = sign(document, key, cert)
        if args.tamper:
            body = tamper(body)
        properties = pika.BasicProperties(message_id=message_id, delivery_mode=2, content_type="application/xml",
                                          app_id="breitenburg-xwasser", timestamp=int(time.time()),
                                          headers={"x-sender": BREITENBURG})
        try:
            channel.basic_publish(exchange="", routing_key=args.queue, body=body, properties=properties,
                                  mandatory=True)
            sent.append(message_id)
            log(NAME, "published", nachrichtenUUID=message_id, queue=args.queue, tampered=args.tamper,
                template=templates[index % len(templates)].name)
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as error:
            failed.append({"nachrichtenUUID": message_id, "error": repr(error)})
            log(NAME, "publish-failed", nachrichtenUUID=message_id, error=repr(error))
    connection.close()
    print(json.dumps({"sent": sent, "failed": failed, "tampered": args.tamper}, indent=2))
    return 0 if not failed else 1


def add_broker_arguments(parser: argparse.ArgumentParser, port: int, queue: str) -> None:
    parser.add_argument("--broker-host", default=os.environ.get("STADTBUS_BROKER_HOST", "127.0.0.1"))
    parser.add_argument("--broker-port", type=int, default=port)
    parser.add_argument("--user", default="stadtbus")
    parser.add_argument("--password-file", help="file with the broker password (default: "
                        "$STADTBUS_BROKER_PASSWORD, else run/broker-password)")
    parser.add_argument("--queue", default=queue)
    parser.add_argument("--connect-attempts", type=int, default=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    receive = commands.add_parser("receive", help="consume breitenburg.eingang on the peer broker")
    add_broker_arguments(receive, 5682, "breitenburg.eingang")
    receive.add_argument("--host", default="127.0.0.1")
    receive.add_argument("--port", type=int, default=8094)
    receive.add_argument("--trust", default=str(CERTS / "trust"), help="directory of trusted CA *.pem")
    send = commands.add_parser("send", help="publish signed XWasser messages to Itzehoe")
    add_broker_arguments(send, 5672, "itzehoe.eingang.nachbarn")
    send.add_argument("--count", type=int, default=1)
    send.add_argument("--tamper", action="store_true", help="alter each message after signing")
    send.add_argument("--declare", action="store_true", help="declare the queue (quorum) if it is missing")
    send.add_argument("--template", action="append", default=[], help="XWasser document(s) to vary")
    send.add_argument("--key", default=str(CERTS / "out" / "authorities" / "breitenburg-rsa.key"))
    send.add_argument("--cert", default=str(CERTS / "out" / "authorities" / "breitenburg-rsa.pem"))
    one = commands.add_parser("sign", help="print a signed XWasser message (fresh header) to stdout")
    one.add_argument("--template", default=str(EXAMPLES / DEFAULT_TEMPLATES[0]))
    one.add_argument("--tamper", action="store_true")
    one.add_argument("--key", default=str(CERTS / "out" / "authorities" / "breitenburg-rsa.key"))
    one.add_argument("--cert", default=str(CERTS / "out" / "authorities" / "breitenburg-rsa.pem"))
    check = commands.add_parser("verify", help="verify one signed file against the trust directory")
    check.add_argument("file")
    check.add_argument("--trust", default=str(CERTS / "trust"))
    args = parser.parse_args()
    if args.command == "receive":
        run_receive(args)
    elif args.command == "send":
        if args.count < 1:
            parser.error("--count must be at least 1")
        common.log_stream = sys.stderr  # stdout carries the JSON result
        sys.exit(run_send(args))
    elif args.command == "sign":
        _, document = xwasser_message(Path(args.template).read_text(encoding="utf-8"))
        body = sign(document, Path(args.key), Path(args.cert))
        sys.stdout.buffer.write(tamper(body) if args.tamper else body)
    else:
        valid, reason = verify(Path(args.file).read_bytes(), trust_anchors(Path(args.trust)))
        print(json.dumps({"valid": valid, "reason": reason}))
        sys.exit(0 if valid else 1)


if __name__ == "__main__":
    main()
