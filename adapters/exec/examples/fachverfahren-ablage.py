#!/usr/bin/env python3
"""Fachverfahren "Ablage": files every message Stadtbus delivers into a folder.

An example of an `exec` adapter (framing v1, see ../README.md). Each `deliver` frame's body
is checked to be XML; a well-formed document is written to ABLAGE_DIR (default: ./ablage)
as <message-id>.xml — to a temporary file first, flushed, then renamed, so the answer `ok`
is only given once the file is durable. Anything else is answered `fail` (Stadtbus
dead-letters it). A full disk is answered `retry`.

    fachverfahren.ablage:
      type: exec
      command: ../adapters/exec/examples/fachverfahren-ablage.py
      environment: {ABLAGE_DIR: /var/lib/fachverfahren/eingang}
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ElementTree

STDIN = sys.stdin.buffer
STDOUT = sys.stdout.buffer
FOLDER = os.environ.get("ABLAGE_DIR", "ablage")


def read_frame():
    """One frame: (header, body), or None when Stadtbus closed our input (shutdown)."""
    line = STDIN.readline()
    if not line:
        return None
    header = json.loads(line)
    body = STDIN.read(header["length"])
    if STDIN.read(1) != b"\n":
        raise SystemExit("framing error: body not followed by a newline")
    return header, body


def answer(seq, status, code="", reason=""):
    frame = {"v": 1, "type": "result", "seq": seq, "status": status, "code": code, "reason": reason, "length": 0}
    STDOUT.write(json.dumps(frame).encode() + b"\n" + b"\n")  # header line, 0 body bytes, newline
    STDOUT.flush()


def file_name(message_id):
    return re.sub(r"[^A-Za-z0-9._-]", "_", message_id or "ohne-id").lstrip(".") + ".xml"


def store(message_id, body):
    os.makedirs(FOLDER, exist_ok=True)
    target = os.path.join(FOLDER, file_name(message_id))
    temporary = os.path.join(FOLDER, "." + file_name(message_id) + ".tmp")
    with open(temporary, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, target)
    return target


def main():
    print("ablage: filing into %s" % os.path.abspath(FOLDER), file=sys.stderr, flush=True)
    while True:
        frame = read_frame()
        if frame is None:
            return  # end of input: Stadtbus is shutting down
        header, body = frame
        if header.get("type") != "deliver":
            continue  # unknown frame types are ignored (forward compatibility)
        seq = header["seq"]
        try:
            ElementTree.fromstring(body)
        except ElementTree.ParseError as error:
            answer(seq, "fail", code="not-xml", reason="not an XML document: %s" % error)
            continue
        try:
            path = store(header.get("message-id"), body)
        except OSError as error:
            answer(seq, "retry", code="disk", reason="cannot file the message: %s" % error)
            continue
        print("ablage: filed %s" % path, file=sys.stderr, flush=True)
        answer(seq, "ok")


if __name__ == "__main__":
    main()
