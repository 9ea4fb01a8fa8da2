"""Framing v1 helpers shared by the test programs (see adapters/exec/README.md)."""
import json
import sys
import threading

_out_lock = threading.Lock()


def read_frame(stream=sys.stdin.buffer):
    """Returns (header, body), or None at end of input."""
    line = stream.readline()
    if not line:
        return None
    header = json.loads(line)
    body = stream.read(header["length"])
    if stream.read(1) != b"\n":
        raise ValueError("frame not terminated by a newline")
    return header, body


def write_frame(header, body=b"", stream=sys.stdout.buffer):
    header = dict(header, v=1, length=len(body))
    with _out_lock:
        stream.write(json.dumps(header, separators=(",", ":")).encode() + b"\n" + body + b"\n")
        stream.flush()


def report(line):
    """Appends one line to the file named by $EXEC_TEST_REPORT (what the test inspects)."""
    import os
    path = os.environ.get("EXEC_TEST_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")
