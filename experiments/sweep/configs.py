"""Writes the sweep experiment's config: the triggering experiment's Fashion-MNIST pipeline
(CNN, 3 epochs per trigger) with eight of its trigger policies as `[[variant]]` tables.

Usage: configs.py DATA_DIR FORMAT > sweep.toml
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "triggering"))
import configs as triggering  # noqa: E402

# The triggering experiment's policies but the dynamic drift one (eight variants).
SKIP = {"drift-mmd-dynamic"}


def main():
    data, fmt = sys.argv[1], sys.argv[2]
    d = dict(triggering.DATASETS["fashion-mnist"], ext=fmt)
    policies = [(n, t) for n, t in triggering.policies(d) if n not in SKIP]
    assert len(policies) == 8, [n for n, _ in policies]
    first = policies[0][1]
    base = triggering.config("fashion-mnist", d, "sweep", first, 1, data)
    # The data lives in DATA_DIR itself (no seed subdirectory).
    base = base.replace(f"{data}/fashion-mnist/", f"{data}/")
    base = base.replace('name = "sweep"', 'name = "fashion-sweep"')
    out = [base]
    for name, trigger in policies:
        # A [trigger] body becomes the variant's [variant.trigger] (its sub-tables too).
        body = trigger.replace("[trigger.", "[variant.trigger.")
        out.append(f'\n[[variant]]\nname = "{name}"\n\n[variant.trigger]\n{body}\n')
    print("".join(out))


if __name__ == "__main__":
    main()
