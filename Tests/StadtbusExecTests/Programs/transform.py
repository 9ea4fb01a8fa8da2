#!/usr/bin/env python3
"""A transformer for exec-transform: replaces "Bebauungsplan" by "Umgewandelt" in the
document; answers a non-XML body for documents containing NOXML."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framing import read_frame, write_frame  # noqa: E402

while True:
    frame = read_frame()
    if frame is None:
        break
    header, body = frame
    if b"NOXML" in body:
        write_frame({"type": "result", "seq": header["seq"], "status": "ok"}, b"kein XML")
    else:
        write_frame({"type": "result", "seq": header["seq"], "status": "ok"}, body.replace(b"Bebauungsplan", b"Umgewandelt"))
