"""TorchScript modules for Sluice's `[model] id = "torchscript"` tests, made with a full PyTorch.
Writes beside this file, for the 8-feature hyperplane stream and 2 classes:

- `mlp_bn.pt`: Linear, BatchNorm1d, ReLU, Dropout, Linear; with `embed` and `classify`;
- `residual.pt`: a block the model zoo does not have (LayerNorm, GELU, a residual connection),
  scripted, with no `embed`;
- `cnn.pt`: a small 1-D CNN over the features (Conv1d, BatchNorm1d, ReLU, pooling), traced;
- `wrong_width.pt`: expects 5 features (validate must refuse it for 8);
- `wrong_outputs.pt`: returns 3 outputs (validate must refuse it for 2 classes);
- `golden.json`: each module's output, in evaluation mode, on fixed inputs (tch must reproduce
  them when it loads the file).

A full PyTorch on the development machine (BUILD-NOTES.md, "Full PyTorch in Python"; the
cuda-toolkit extras must be installed *with* their dependencies, or `import torch` misses
libcufile/libcusparse):

    python3 -m venv /tmp/torch
    /tmp/torch/bin/pip install --no-deps torch==2.11.0 nvidia-cuda-runtime==13.0.96 \
        nvidia-cuda-cupti==13.0.85 nvidia-cudnn-cu13==9.19.0.56 nvidia-cusparselt-cu13==0.8.0 \
        nvidia-nccl-cu13==2.28.9 nvidia-nvshmem-cu13==3.4.5
    /tmp/torch/bin/pip install "cuda-toolkit[cublas,cufft,cufile,curand,cusolver,cusparse,nvjitlink]==13.0.2" \
        typing_extensions sympy networkx jinja2 fsspec filelock numpy safetensors
    /tmp/torch/bin/python tests/golden/torchscript/make_modules.py

Generated with torch 2.11.0 (recorded in golden.json).
"""

import json
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).parent
FEATURES, CLASSES = 8, 2


class MlpBn(nn.Module):
    def __init__(self, d_in: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1)
        )
        self.head = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.jit.export
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    @torch.jit.export
    def classify(self, e: torch.Tensor) -> torch.Tensor:
        return self.head(e)


class Residual(nn.Module):
    def __init__(self, d_in: int, classes: int, width: int = 16):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        h = h + self.mid(nn.functional.gelu(self.norm(h)))
        return self.out(h)


class SmallCnn(nn.Module):
    def __init__(self, d_in: int, classes: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(1, 4, kernel_size=3, padding=1), nn.BatchNorm1d(4), nn.ReLU(),
            nn.MaxPool1d(2),
        )
        self.head = nn.Linear(4 * (d_in // 2), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x.unsqueeze(1)).flatten(1))


def main():
    torch.manual_seed(7)
    modules = {
        "mlp_bn": MlpBn(FEATURES, CLASSES),
        "residual": Residual(FEATURES, CLASSES),
        "wrong_width": Residual(5, CLASSES),
        "wrong_outputs": Residual(FEATURES, 3),
    }
    x = torch.linspace(-1.0, 1.0, 4 * FEATURES, dtype=torch.float32).reshape(4, FEATURES)
    golden = {"torch": torch.__version__, "input": x.flatten().tolist(), "outputs": {}}
    modules["cnn"] = SmallCnn(FEATURES, CLASSES)
    for name, m in modules.items():
        m.eval()
        # The CNN is traced (the other way to make TorchScript), on a batch of 3.
        scripted = torch.jit.trace(m, x[:3]) if name == "cnn" else torch.jit.script(m)
        scripted.save(str(OUT / f"{name}.pt"))
        if name in ("mlp_bn", "residual", "cnn"):
            with torch.no_grad():
                golden["outputs"][name] = scripted(x).flatten().tolist()
    (OUT / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")


if __name__ == "__main__":
    main()
