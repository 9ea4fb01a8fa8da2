#!/usr/bin/env python3
"""Injects sample messages for the Stadtbus demo into the portal queue of config/itzehoe.yaml.

Real XBeteiligung messages from shared/xoev (with fresh UUIDs so each run is new), plus the
cases an operator should see handled: a redelivered duplicate, an update routed by content,
a schema-invalid application, a hostile XXE document and a message no route covers.
"""
import argparse
import pathlib
import re
import uuid

import pika

QUEUE = "itzehoe.portal.antraege"


def with_uuid(xml: str, new_uuid: str) -> str:
    # The header's prefix differs between producers (ns2:, bn-g2g:, …).
    replaced, count = re.subn(
        r"(<(?:[\w.-]+:)?nachrichtenUUID>)[^<]+(</(?:[\w.-]+:)?nachrichtenUUID>)", rf"\g<1>{new_uuid}\g<2>", xml, count=1
    )
    if count != 1:
        raise SystemExit("demo message has no nachrichtenUUID to replace")
    return replaced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    password = pathlib.Path(args.password_file).read_text().strip()
    shared = pathlib.Path(args.shared) / "xoev"
    initiieren = (shared / "xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml").read_text(encoding="utf-8")
    aktualisieren = (shared / "xbeteiligung-1.2/examples/kommunal.Aktualisieren.0402.xml").read_text(encoding="utf-8")
    xdomea = (shared / "xdomea-3.0.0/examples/Aussonderung.Anbieteverzeichnis.0501.xml").read_text(encoding="utf-8")

    applications = [str(uuid.uuid4()) for _ in range(3)]
    messages = [(f"application {u}", with_uuid(initiieren, u)) for u in applications]
    messages.append((f"the same application again (redelivery) {applications[0]}", with_uuid(initiieren, applications[0])))
    messages.append(("an update (0402), routed by its reader authority", with_uuid(aktualisieren, str(uuid.uuid4()))))
    invalid = re.sub(r"<ns5:planID>.*?</ns5:planID>", "", with_uuid(initiieren, str(uuid.uuid4())), count=1, flags=re.S)
    messages.append(("an application that violates the XBeteiligung schema", invalid))
    messages.append(("a hostile document (XXE)", '<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<a>&x;</a>'))
    messages.append(("an xdomea message no route covers", xdomea))

    connection = pika.BlockingConnection(
        pika.ConnectionParameters(host=args.host, credentials=pika.PlainCredentials("stadtbus", password))
    )
    channel = connection.channel()
    channel.confirm_delivery()
    for label, body in messages:
        channel.basic_publish(
            exchange="",
            routing_key=QUEUE,
            body=body.encode("utf-8"),
            properties=pika.BasicProperties(content_type="application/xml", delivery_mode=2, message_id=str(uuid.uuid4())),
            mandatory=True,
        )
        print(f"  → {QUEUE}: {label}")
    connection.close()
    pathlib.Path("run/demo-last-application").write_text(applications[0])


if __name__ == "__main__":
    main()
