"""A model server that follows a Sluice run over Kafka alone: it reads `<prefix>.models`,
fetches each new model's TorchScript file from `<prefix>.model-artifacts` (a run with
`[output] publish_artifacts = true`), checks it against the digest in its model event, swaps
the model it serves, and prints that model's accuracy on a held-out CSV. No Sluice code and no
run directory: PyTorch and confluent-kafka only.

    pip install confluent-kafka   # and a full PyTorch (tests/golden/torchscript/make_modules.py)
    python experiments/serving/follow_models.py --brokers 127.0.0.1:9092 --prefix quickstart \\
        --held-out data/hyperplane_test.csv [--models 8] [--idle 120]

The features are the held-out file's columns other than `key`, `time` and `label` (or
`--features x0,x1,...`), in the order of the model event's run (the models' `feature_names`).
It stops after `--models` models, or when nothing arrives for `--idle` seconds, and prints a
one-line summary.
"""

import argparse
import csv
import hashlib
import io
import json
import sys
import time

import torch
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING


def consumer(brokers: str, topic: str) -> Consumer:
    c = Consumer({
        "bootstrap.servers": brokers,
        "group.id": "sluice-follow-models",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    return c


class Chunks:
    """The artifacts topic as read so far: chunk payloads by key (the latest copy wins)."""

    def __init__(self, brokers: str, topic: str):
        self.consumer = consumer(brokers, topic)
        self.parts = {}

    def poll(self, timeout: float) -> None:
        for m in self.consumer.consume(num_messages=500, timeout=timeout):
            if m.error() is None and m.key() is not None:
                self.parts[m.key().decode()] = m.value()

    def file(self, key: str, event: dict, wait: float) -> bytes:
        """The model's file, once every chunk has arrived (they are delivered before its
        event, so this waits only for our own consumer to catch up)."""
        n = event["artifact_chunks"]
        deadline = time.monotonic() + wait
        while any(f"{key}/{i}" not in self.parts for i in range(n)):
            if time.monotonic() > deadline:
                missing = [i for i in range(n) if f"{key}/{i}" not in self.parts]
                raise RuntimeError(f"{key}: chunks {missing} of {n} never arrived")
            self.poll(0.2)
        data = b"".join(self.parts.pop(f"{key}/{i}") for i in range(n))
        if len(data) != event["artifact_bytes"]:
            raise RuntimeError(f"{key}: {len(data)} bytes, the event says {event['artifact_bytes']}")
        digest = hashlib.sha256(data).hexdigest()
        if digest != event["artifact_sha256"]:
            raise RuntimeError(f"{key}: SHA-256 {digest}, the event says {event['artifact_sha256']}")
        return data


def held_out(path: str, features):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    names = features or [c for c in rows[0] if c not in ("key", "time", "label")]
    x = torch.tensor([[float(r[n]) for n in names] for r in rows], dtype=torch.float32)
    y = torch.tensor([int(float(r["label"])) for r in rows])
    return x, y


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--brokers", default="127.0.0.1:9092")
    p.add_argument("--prefix", required=True, help="the run's [output] topic_prefix")
    p.add_argument("--held-out", required=True, help="CSV with a label column and the features")
    p.add_argument("--features", help="comma-separated feature columns, in the model's order")
    p.add_argument("--variant", help="a sweep's variant to follow")
    p.add_argument("--models", type=int, help="stop after this many models")
    p.add_argument("--idle", type=float, default=120.0, help="stop after this many idle seconds")
    a = p.parse_args()
    x, y = held_out(a.held_out, a.features.split(",") if a.features else None)
    models = consumer(a.brokers, f"{a.prefix}.models")
    chunks = Chunks(a.brokers, f"{a.prefix}.model-artifacts")
    serving, served, last = None, 0, time.monotonic()
    started = time.monotonic()
    while (a.models is None or served < a.models) and time.monotonic() - last < a.idle:
        chunks.poll(0)
        m = models.poll(0.5)
        if m is None or m.error() is not None:
            continue
        last = time.monotonic()
        event = json.loads(m.value())
        if event.get("variant") != a.variant:
            continue
        if "artifact_sha256" not in event:
            print(f"{event['model_id']}: published without its file "
                  "(the run needs [output] publish_artifacts = true)", file=sys.stderr)
            return 1
        key = event["model_id"] if a.variant is None else f"{a.variant}/{event['model_id']}"
        model = torch.jit.load(io.BytesIO(chunks.file(key, event, wait=60.0)))
        model.eval()
        serving = event["model_id"]  # the swap: requests from now on go to this model
        with torch.no_grad():
            accuracy = (model(x).argmax(1) == y).float().mean().item()
        served += 1
        print(f"serving {serving} (trigger {event['trigger_id']}, {event['artifact_bytes']} bytes "
              f"in {event['artifact_chunks']} chunks): accuracy {accuracy:.4f} on "
              f"{len(y)} held-out samples", flush=True)
    print(f"followed {served} models in {time.monotonic() - started:.1f} s; serving {serving}")
    return 0 if served else 1


if __name__ == "__main__":
    sys.exit(main())
