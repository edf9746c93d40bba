"""The throughput baseline: a plain Python consumer (confluent-kafka) feeding a PyTorch training
loop, reading the same topic as a Sluice run and training the same model with the same batch
size, optimizer and number of epochs (one pass: every sample trained once).

Usage: kafka_torch.py --brokers B --topic T [--batch-size 64] [--hidden 32] [--lr 0.01]
                      [--features x0,...,x7] [--threads 1]
Prints one JSON line: samples, seconds, samples_per_s, final_loss.

The consumer is written the way the confluent-kafka documentation recommends for throughput:
manual assignment of every partition from its first offset, `consume(num_messages=...)` in
batches, auto-commit off; values are JSON objects decoded with `json.loads`; a batch becomes
one `torch.tensor` and one optimizer step.
"""

import argparse
import json
import sys
import time

import torch
from confluent_kafka import Consumer, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--features", default=",".join(f"x{i}" for i in range(8)))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    names = a.features.split(",")
    model = torch.nn.Sequential(
        torch.nn.Linear(len(names), a.hidden), torch.nn.ReLU(), torch.nn.Linear(a.hidden, 2))
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    start = time.perf_counter()
    c = Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": "sluice-baseline",
        "enable.auto.commit": False,
        "fetch.queue.backoff.ms": 10,
    })
    meta = c.list_topics(a.topic, timeout=10).topics[a.topic]
    if meta.error is not None:
        sys.exit(f"{a.topic}: {meta.error}")
    parts, remaining = [], 0
    for p in meta.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(a.topic, p), timeout=10)
        if hi > lo:
            parts.append(TopicPartition(a.topic, p, lo))
            remaining += hi - lo
    c.assign(parts)
    xs, ys = [], []
    samples, loss = 0, float("nan")

    def step():
        nonlocal loss
        x = torch.tensor(xs, dtype=torch.float32)
        y = torch.tensor(ys, dtype=torch.int64)
        opt.zero_grad()
        out = loss_fn(model(x), y)
        out.backward()
        opt.step()
        loss = out.item()
        xs.clear()
        ys.clear()

    while remaining > 0:
        for m in c.consume(num_messages=1000, timeout=1.0):
            if m.error():
                sys.exit(f"{a.topic}: {m.error()}")
            remaining -= 1
            v = json.loads(m.value())
            xs.append([float(v[n]) for n in names])
            ys.append(int(v["label"]))
            samples += 1
            if len(xs) == a.batch_size:
                step()
    if xs:
        step()
    c.close()
    seconds = time.perf_counter() - start
    print(json.dumps({"samples": samples, "seconds": seconds,
                      "samples_per_s": samples / seconds, "final_loss": loss}))


if __name__ == "__main__":
    main()
