"""SeeNet: a backbone followed by the self-erasing head.

See :ref:`How SeeNet works, section 3 <seenet-branches>`.
"""

from __future__ import annotations

from torch import Tensor, nn

from .._validation import backbone_input, check_images
from ..layers import SeeNetOutput, SelfErasingHead

__all__ = ["SeeNet"]


def _last_conv(branch: nn.Module) -> nn.Conv2d:
    convs = [m for m in branch.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise TypeError(f"branch {type(branch).__name__} has no Conv2d classifier")
    return convs[-1]


class SeeNet(nn.Module):
    """Backbone + :class:`wsss.SelfErasingHead`: images and labels to a :class:`wsss.SeeNetOutput`.

    Parameters
    ----------
    backbone
        Any module mapping images ``(N, 3, H, W)`` to features ``F`` ``(N, K, h, w)``, with an
        ``out_channels`` attribute (``K``); the head only sees ``F``.
    num_classes
        Foreground classes ``C``.
    **head_kwargs
        Passed to :class:`wsss.SelfErasingHead` (``hidden_channels``, ``delta_h``, ``delta_l``,
        ``dropout``, ``share_weights``, ``init_std``, and the ablation switches
        ``background_branch`` and ``reverse_background``).

    Examples
    --------
    >>> import torch
    >>> from wsss.models import VGG16
    >>> _ = torch.manual_seed(0)
    >>> model = SeeNet(VGG16(width=0.125), num_classes=3, hidden_channels=8)
    >>> out = model(torch.rand(2, 3, 32, 32), torch.tensor([[1, 0, 0], [0, 1, 1]]))
    >>> out.logits_c.shape, out.maps_a.shape
    (torch.Size([2, 3]), torch.Size([2, 3, 2, 2]))
    >>> {k: tuple(v.shape) for k, v in model.class_maps(torch.rand(1, 3, 32, 32)).items()}
    {'a': (1, 3, 2, 2), 'b': (1, 3, 2, 2)}

    The ablations are switches of the head, e.g. SeeNet without S_C:

    >>> plain = SeeNet(VGG16(width=0.125), 3, hidden_channels=8, background_branch=False)
    >>> out = plain(torch.rand(1, 3, 32, 32), torch.tensor([[1, 0, 0]]))
    >>> len(plain.classifiers()), out.logits_c
    (2, None)
    """

    def __init__(self, backbone: nn.Module, num_classes: int, **head_kwargs) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone: expected an nn.Module, got {type(backbone).__name__}")
        in_channels = getattr(backbone, "out_channels", None)
        if not isinstance(in_channels, int):
            raise TypeError("backbone: expected a module with an int attribute 'out_channels'")
        self.num_classes = num_classes
        self.backbone = backbone
        self.head = SelfErasingHead(in_channels, num_classes, **head_kwargs)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> SeeNetOutput:
        """Run the backbone and the three branches.

        Parameters
        ----------
        images
            ``(N, 3, H, W)``.
        labels
            Multi-hot ``(N, C)`` classes the ternary mask is built from (ground truth in
            training); ``None`` uses the classes S_A predicts.
        """
        self._check_images(images)
        return self.head(self.backbone(images), labels)

    def class_maps(
        self, images: Tensor, labels: Tensor | None = None, *, mask: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Raw class maps of S_A and S_B: ``{"a": (N, C, h, w), "b": (N, C, h, w)}``.

        ``labels`` are the classes S_B's erasing mask is built from (``None``: S_A's
        predictions); ``mask`` ``(N, h, w)`` at feature resolution replaces that mask (see
        :meth:`wsss.SelfErasingHead.class_maps`). No ReLU, no normalisation, feature
        resolution. Branch S_C, which only serves the training loss, is not run.
        """
        self._check_images(images)
        return self.head.class_maps(self.backbone(images), labels, mask=mask)

    def _check_images(self, images: Tensor) -> None:
        channels, min_size = backbone_input(self.backbone)
        # the head refuses non-finite features (its ternary mask needs finite maps): say so here
        check_images("images", images, self, channels=channels, min_size=min_size, finite=True)

    def classifiers(self) -> list[nn.Conv2d]:
        """The final 1x1 convolution of each distinct branch (S_C's is S_B's when shared)."""
        found: dict[int, nn.Conv2d] = {}
        for branch in (self.head.branch_a, self.head.branch_b, self.head.branch_c):
            if branch is None:  # no S_C (background_branch=False)
                continue
            conv = _last_conv(branch)
            found.setdefault(id(conv), conv)
        return list(found.values())

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by role: ``backbone``, ``new`` (head 3x3 convs), ``classifier`` (1x1s)."""
        classifier = [p for conv in self.classifiers() for p in conv.parameters()]
        chosen = {id(p) for p in classifier}
        return {
            "backbone": list(self.backbone.parameters()),
            "new": [p for p in self.head.parameters() if id(p) not in chosen],
            "classifier": classifier,
        }
