"""The SeeNet building blocks in one short, runnable script (CPU, seconds).

A toy backbone feeds the self-erasing head; one training step shows the three loss terms;
then the attention of the trained-for-one-step model is fused with a saliency map into a proxy
label map. Run: ``python examples/quickstart.py``.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import wsss


class ToySeeNet(nn.Module):
    """A two-layer backbone (stride 4) under a SelfErasingHead."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.head = wsss.SelfErasingHead(32, num_classes, hidden_channels=32)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        return self.head(self.backbone(images), labels)

    def class_maps(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        out = self(images, labels)
        return {"a": out.maps_a, "b": out.maps_b}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    images = torch.rand(4, 3, 64, 64)
    labels = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]], dtype=torch.float32)
    model = ToySeeNet(num_classes=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step in range(args.steps):
        terms = wsss.seenet_loss(model(images, labels), labels)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        if step in (0, args.steps - 1):
            print(f"step {step:3d}: L = {terms.total.item():.4f} "
                  f"(S_A {terms.a.item():.4f}, S_B {terms.b.item():.4f}, S_C {terms.c.item():.4f})")

    out = model(images, labels)
    zones = {name: float((out.mask == v).float().mean()) for name, v in
             (("attention", 0), ("potential", 1), ("background", -1))}
    print("ternary mask zones:", {k: f"{v:.0%}" for k, v in zones.items()})

    extractor = wsss.CAMExtractor(model, scales=(1.0, 0.5), flip=True)
    attention = extractor(images, labels).fused  # (N, C, H, W) in [0, 1]
    saliency = torch.rand(4, 64, 64)
    proxy = wsss.fuse_saliency(attention, saliency, labels)
    values, counts = proxy.unique(return_counts=True)
    print("proxy label histogram:", dict(zip(values.tolist(), counts.tolist())))


if __name__ == "__main__":
    main()
