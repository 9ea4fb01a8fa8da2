#!/usr/bin/env python3
"""A source: sends the bodies of the files named in $EXEC_TEST_BODIES (colon-separated) as
messages, then reports every `settled` answer until its input ends."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framing import read_frame, write_frame, report  # noqa: E402

paths = [p for p in os.environ.get("EXEC_TEST_BODIES", "").split(":") if p]
for seq, path in enumerate(paths, start=1):
    with open(path, "rb") as f:
        body = f.read()
    write_frame({"type": "message", "seq": seq, "message-id": "file-%d" % seq, "headers": {"x-test": str(seq)},
                 "content-type": "application/xml"}, body)
    report({"event": "sent", "seq": seq})
while True:
    frame = read_frame()
    if frame is None:
        report({"event": "eof"})
        break
    header, _ = frame
    report({"event": "settled", "seq": header["seq"], "status": header["status"], "reason": header.get("reason")})
