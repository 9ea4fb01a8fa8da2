#!/usr/bin/env python3
"""A slow sink that answers from threads, out of order, and reports how many deliveries it
saw outstanding at most (max-in-flight must bound this)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framing import read_frame, write_frame, report  # noqa: E402

lock = threading.Lock()
outstanding = 0


def answer(seq, delay):
    global outstanding
    time.sleep(delay)
    with lock:
        outstanding -= 1
        # Decrement before answering: Stadtbus may send the next frame as soon as it has the answer.
    write_frame({"type": "result", "seq": seq, "status": "ok"})


while True:
    frame = read_frame()
    if frame is None:
        break
    header, _ = frame
    with lock:
        outstanding += 1
        report({"event": "deliver", "seq": header["seq"], "outstanding": outstanding})
    delay = 0.3 if header["seq"] % 2 else 0.1
    threading.Thread(target=answer, args=(header["seq"], delay), daemon=True).start()
