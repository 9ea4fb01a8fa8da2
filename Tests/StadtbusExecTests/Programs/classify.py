#!/usr/bin/env python3
"""A sink that answers by the body: OK, RETRY, FAIL, HANG (no answer), CRASH (exits
mid-message), GARBAGE (breaks the framing). Reports each delivery with its pid."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framing import read_frame, write_frame, report  # noqa: E402

report({"event": "started", "pid": os.getpid(), "secret": os.environ.get("STADTBUS_TEST_SECRET", "absent"),
        "mode": os.environ.get("EXEC_TEST_MODE", ""), "endpoint": os.environ.get("STADTBUS_ENDPOINT", "")})
print("classify started", file=sys.stderr, flush=True)
while True:
    frame = read_frame()
    if frame is None:
        report({"event": "eof", "pid": os.getpid()})
        break
    header, body = frame
    seq = header["seq"]
    report({"event": "deliver", "pid": os.getpid(), "seq": seq, "body": body.decode(errors="replace"),
            "message-id": header.get("message-id"), "route": header.get("route")})
    if b"CRASH" in body:
        sys.exit(3)
    if b"HANG" in body:
        continue
    if b"GARBAGE" in body:
        sys.stdout.buffer.write(b"this is not json\n")
        sys.stdout.buffer.flush()
        continue
    if b"RETRY" in body:
        write_frame({"type": "result", "seq": seq, "status": "retry", "code": "busy", "reason": "try later"})
    elif b"FAIL" in body:
        write_frame({"type": "result", "seq": seq, "status": "fail", "reason": "not an XML document", "extra": 1})
    else:
        write_frame({"type": "result", "seq": seq, "status": "ok", "reason": "", "future-field": [1, 2]})
