#!/usr/bin/env python3
"""Prints where the demo's messages went: per-route counters from /metrics, queue depths,
and the reasons in the dead-letter queue's headers."""
import argparse
import json
import pathlib
import re
import subprocess
import urllib.request

import pika

QUEUES = [
    ("itzehoe.gesundheitsamt", "health office (XWasser for Itzehoe, verified neighbours' reports)"),
    ("itzehoe.clearing", "clearing office"),
    ("itzehoe.audit.copies", "audit copies (wire tap)"),
    ("itzehoe.dlq", "dead letters"),
]

# What the simulated systems received (their GET /received).
SIMULATORS = [
    ("eAkte", "http://127.0.0.1:8092/received"),
    ("cash system", "http://127.0.0.1:8093/received"),
    ("portal", "http://127.0.0.1:8091/received"),
    ("Breitenburg", "http://127.0.0.1:8094/received"),
]


def simulator_line(name: str, url: str) -> str:
    try:
        received = json.loads(urllib.request.urlopen(url, timeout=5).read())
    except OSError as error:
        return f"  {name:14} not reachable ({error})"
    keys = [key for key in ("count", "unique", "duplicates", "invalid", "valid", "acks-sent", "confirmations-sent",
                            "statuses", "payments") if key in received]
    parts = [f"{key} {len(received[key]) if isinstance(received[key], list) else received[key]}" for key in keys]
    return f"  {name:14} " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--metrics", default="http://127.0.0.1:8080/metrics")
    args = parser.parse_args()
    password = pathlib.Path(args.password_file).read_text().strip()

    metrics = urllib.request.urlopen(args.metrics, timeout=5).read().decode()
    counts: dict[str, dict[str, int]] = {}
    for match in re.finditer(r'^stadtbus_messages_(\w+)_total\{route="([^"]+)"\} (\d+)', metrics, re.M):
        outcome, route, value = match.group(1), match.group(2), int(match.group(3))
        counts.setdefault(route, {})[outcome] = value
    columns = ["received", "delivered", "duplicate", "filtered", "retried", "dead_lettered"]
    print("\nPer route (from /metrics):")
    print(f"  {'route':28} " + " ".join(f"{c:>13}" for c in columns))
    for route in sorted(counts):
        print(f"  {route:28} " + " ".join(f"{counts[route].get(c, 0):>13}" for c in columns))

    print("\nWhat the simulated systems received:")
    for name, url in SIMULATORS:
        print(simulator_line(name, url))

    connection = pika.BlockingConnection(
        pika.ConnectionParameters(host="127.0.0.1", credentials=pika.PlainCredentials("stadtbus", password))
    )
    channel = connection.channel()
    print("\nQueues:")
    for queue, label in QUEUES:
        depth = channel.queue_declare(queue=queue, passive=True).method.message_count
        print(f"  {queue:28} {depth:>5}  {label}")
    print("\nDead letters and why (headers x-stadtbus-error-*):")
    seen = 0
    while True:
        method, properties, _ = channel.basic_get("itzehoe.dlq", auto_ack=False)
        if method is None:
            break
        headers = properties.headers or {}
        print(f"  step {headers.get('x-stadtbus-error-step', '?')}: {str(headers.get('x-stadtbus-error-reason', '?'))[:150]}")
        seen += 1
    if seen:
        channel.basic_nack(delivery_tag=0, multiple=True, requeue=True)
    connection.close()

    failed = sorted(pathlib.Path("run/inbox/rechnungen/failed").glob("*.reason.txt"))
    if failed:
        print("\nInvoices set aside in run/inbox/rechnungen/failed/ (file adapter) and why:")
        for note in failed[-5:]:
            reason = next((line for line in note.read_text().splitlines() if line.startswith("reason:")), "reason: ?")
            print(f"  {note.name.removesuffix('.reason.txt')}: {reason[len('reason: '):][:150]}")

    last = pathlib.Path("run/demo-last-application")
    if last.exists():
        uuid = last.read_text().strip()
        print(f"\nThe audit trail of application {uuid} (stadtbus trace):")
        subprocess.run([args.bin, "trace", "--store", "run/stadtbus.sqlite", uuid], check=False)
    print("\nWhere to look next: http://127.0.0.1:8080/metrics, /ready, run/stadtbus.log,")
    print("  stadtbus trace UUID --store run/stadtbus.sqlite, stadtbus dry-run --config config/itzehoe.yaml ...")


if __name__ == "__main__":
    main()
