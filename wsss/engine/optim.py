"""SGD with per-role learning-rate multipliers and the poly schedule (DeepLab's recipe).

A model sorts its parameters into roles with ``parameter_groups()``: ``"backbone"``
(pretrained layers), ``"new"`` (new layers other than the classifiers) and ``"classifier"``
(the final 1x1 convolutions). :func:`build_sgd` makes one optimizer group per role and kind:

====================  =================================  ==============
group                 learning rate                      weight decay
====================  =================================  ==============
``<role>.weight``     ``lr * multipliers.<role>_weight``  ``weight_decay``
``<role>.bias``       ``lr * multipliers.<role>_bias``    0
====================  =================================  ==============

"Bias" means every 1-D parameter (convolution biases and, with a trainable batch norm, its scale
and shift); "weight" every tensor of two or more dimensions. The defaults follow DeepLab v1's
prototxt: pretrained weights x1, their biases x2, classifier weights x10, biases x20; new layers
take the classifier's x10/x20 (:ref:`How SeeNet works, section 7 <seenet-deeplab>`).

Weight decay and momentum are always passed to :class:`torch.optim.SGD` by keyword, so one
cannot land in the other's slot (a known bug of poly optimizers in this field).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import LambdaLR

from .._validation import check_int, check_real, check_reals

__all__ = [
    "PARAMETER_ROLES",
    "LRMultipliers",
    "PolyDecay",
    "build_adamw",
    "build_sgd",
    "check_parameter_groups",
    "poly_lr_scheduler",
    "role_param_groups",
]

#: The roles a model's ``parameter_groups()`` may use, in optimizer-group order.
PARAMETER_ROLES = ("backbone", "new", "classifier")


@dataclass(frozen=True)
class LRMultipliers:
    """Learning-rate multipliers per role and kind (DeepLab v1 prototxt defaults).

    Examples
    --------
    >>> LRMultipliers().of("classifier", "bias")
    20.0
    """

    backbone_weight: float = 1.0
    backbone_bias: float = 2.0
    new_weight: float = 10.0
    new_bias: float = 20.0
    classifier_weight: float = 10.0
    classifier_bias: float = 20.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{field.name}: expected a float, got {type(value).__name__}")
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{field.name}: expected a finite number >= 0, got {value}")

    def of(self, role: str, kind: str) -> float:
        """The multiplier of ``role`` (see :data:`PARAMETER_ROLES`) and ``kind`` (weight/bias)."""
        if role not in PARAMETER_ROLES:
            raise ValueError(f"role: expected one of {PARAMETER_ROLES}, got {role!r}")
        if kind not in ("weight", "bias"):
            raise ValueError(f"kind: expected 'weight' or 'bias', got {kind!r}")
        return float(getattr(self, f"{role}_{kind}"))

    @classmethod
    def uniform(cls) -> LRMultipliers:
        """Every multiplier 1: one learning rate for all (networks trained from scratch).

        Examples
        --------
        >>> LRMultipliers.uniform().of("classifier", "bias")
        1.0
        """
        return cls(1.0, 1.0, 1.0, 1.0, 1.0, 1.0)


def check_parameter_groups(
    model: nn.Module, groups: dict[str, list[nn.Parameter]]
) -> dict[str, list[nn.Parameter]]:
    """Check that ``groups`` assigns every parameter of ``model`` to exactly one known role.

    Raises
    ------
    ValueError
        Naming the unknown role, or the parameters (by name) that appear in no role, in two
        roles, or that do not belong to ``model``.

    Examples
    --------
    >>> net = nn.Linear(2, 1)
    >>> sorted(check_parameter_groups(net, {"backbone": [net.weight], "classifier": [net.bias]}))
    ['backbone', 'classifier']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(groups, dict):
        raise TypeError(f"groups: expected a dict of role -> parameters, got "
                        f"{type(groups).__name__}")
    for role, params in groups.items():
        if not isinstance(params, (list, tuple)) or not all(
            isinstance(p, torch.Tensor) for p in params
        ):
            raise TypeError(f"groups: role {role!r} must hold a list of parameters")
    unknown = sorted(set(map(str, groups)) - set(PARAMETER_ROLES))
    if unknown:
        raise ValueError(f"groups: unknown role(s) {unknown}; valid: {PARAMETER_ROLES}")
    names = {id(p): name for name, p in model.named_parameters()}
    seen: dict[int, str] = {}
    for role, params in groups.items():
        for p in params:
            if id(p) not in names:
                raise ValueError(f"groups: role {role!r} holds a parameter that is not the model's")
            if id(p) in seen:
                raise ValueError(
                    f"groups: parameter {names[id(p)]!r} is in roles {seen[id(p)]!r} and {role!r}"
                )
            seen[id(p)] = role
    absent = [name for pid, name in names.items() if pid not in seen]
    if absent:
        raise ValueError(f"groups: parameters in no role: {absent[:10]}")
    return groups


def role_param_groups(
    model: nn.Module,
    lr: float,
    *,
    weight_decay: float,
    multipliers: LRMultipliers | None = None,
) -> list[dict]:
    """Optimizer groups, one per (role, weight/bias), as :func:`build_sgd` and
    :func:`build_adamw` use them: each has ``params``, ``name``, ``lr_mult``, ``lr`` and
    ``weight_decay`` (0 for biases).

    Parameters
    ----------
    model
        A module with ``parameter_groups() -> dict[str, list[Parameter]]``.
    lr
        Base learning rate; group ``g`` gets ``lr * multipliers.of(role, kind)``.
    weight_decay
        Weight decay of the weight groups.
    multipliers
        Per-role multipliers; :class:`LRMultipliers` defaults when ``None``.

    Returns
    -------
    list of dict
        The non-empty groups, in :data:`PARAMETER_ROLES` order, weights before biases;
        parameters with ``requires_grad=False`` are left out.

    Examples
    --------
    >>> from wsss.models import create_model
    >>> net = create_model("cam_classifier", backbone="resnet_tiny")  # frozen batch norm
    >>> groups = role_param_groups(net, 1e-3, weight_decay=1e-4)
    >>> [(g["name"], g["lr"], g["weight_decay"]) for g in groups]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('backbone.weight', 0.001, 0.0001), ('new.weight', 0.01, 0.0001), ('new.bias', 0.02, 0.0),
     ('classifier.weight', 0.01, 0.0001), ('classifier.bias', 0.02, 0.0)]
    """
    if not isinstance(model, nn.Module) or not callable(getattr(model, "parameter_groups", None)):
        raise TypeError(f"model: {type(model).__name__} has no parameter_groups() method")
    lr = check_real("lr", lr, minimum=0.0, exclusive_minimum=True)
    weight_decay = check_real("weight_decay", weight_decay, minimum=0.0)
    multipliers = LRMultipliers() if multipliers is None else multipliers
    if not isinstance(multipliers, LRMultipliers):
        raise TypeError(f"multipliers: expected LRMultipliers, got {type(multipliers).__name__}")
    groups = check_parameter_groups(model, model.parameter_groups())  # type: ignore[operator]
    param_groups = []
    for role in PARAMETER_ROLES:
        params = [p for p in groups.get(role, []) if p.requires_grad]
        for kind in ("weight", "bias"):
            chosen = [p for p in params if (p.ndim <= 1) == (kind == "bias")]
            if not chosen:
                continue
            mult = multipliers.of(role, kind)
            param_groups.append(
                {
                    "params": chosen,
                    "name": f"{role}.{kind}",
                    "lr_mult": mult,
                    "lr": lr * mult,
                    "weight_decay": weight_decay if kind == "weight" else 0.0,
                }
            )
    if not param_groups:
        raise ValueError("model: has no trainable parameters")
    return param_groups


def build_sgd(
    model: nn.Module,
    lr: float,
    *,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    multipliers: LRMultipliers | None = None,
) -> SGD:
    """SGD over ``model.parameter_groups()`` with one group per (role, weight/bias).

    Each group carries ``name`` (``"classifier.bias"``), ``lr_mult`` and its own ``lr`` and
    ``weight_decay`` (0 for biases); empty groups are left out. Parameters with
    ``requires_grad=False`` are left out too.

    Parameters
    ----------
    model
        A module with ``parameter_groups() -> dict[str, list[Parameter]]``.
    lr
        Base learning rate (1e-3 for DeepLab-LargeFOV).
    momentum, weight_decay
        Passed to :class:`torch.optim.SGD` by keyword.
    multipliers
        Per-role multipliers; :class:`LRMultipliers` defaults when ``None``.

    Examples
    --------
    >>> from wsss.models import create_model
    >>> opt = build_sgd(create_model("deeplab_largefov", backbone="vgg16_narrow"), 1e-3)
    >>> [(g["name"], g["lr"], g["weight_decay"], g["momentum"]) for g in opt.param_groups]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('backbone.weight', 0.001, 0.0005, 0.9), ('backbone.bias', 0.002, 0.0, 0.9),
     ('classifier.weight', 0.01, 0.0005, 0.9), ('classifier.bias', 0.02, 0.0, 0.9)]
    """
    lr = check_real("lr", lr, minimum=0.0, exclusive_minimum=True)
    momentum = check_real("momentum", momentum, minimum=0.0, maximum=1.0, exclusive_maximum=True)
    weight_decay = check_real("weight_decay", weight_decay, minimum=0.0)
    param_groups = role_param_groups(model, lr, weight_decay=weight_decay, multipliers=multipliers)
    return SGD(param_groups, lr=lr, momentum=momentum, weight_decay=weight_decay)


def build_adamw(
    model: nn.Module,
    lr: float,
    *,
    weight_decay: float = 1e-4,
    betas: tuple[float, float] = (0.9, 0.999),
    multipliers: LRMultipliers | None = None,
) -> torch.optim.AdamW:
    """AdamW over the same role groups as :func:`build_sgd` (no decay on biases).

    Not part of any paper's recipe: it is the optimizer of the CPU demos, whose narrow networks
    train from scratch (no ImageNet weights), where SGD needs many more steps.

    Examples
    --------
    >>> from wsss.models import create_model
    >>> opt = build_adamw(create_model("cam_classifier", backbone="vgg16_narrow"), 1e-3,
    ...                   multipliers=LRMultipliers.uniform())
    >>> sorted({g["lr"] for g in opt.param_groups})
    [0.001]
    """
    lr = check_real("lr", lr, minimum=0.0, exclusive_minimum=True)
    weight_decay = check_real("weight_decay", weight_decay, minimum=0.0)
    betas = check_reals("betas", betas, length=2, minimum=0.0, maximum=1.0)  # type: ignore[assignment]
    if max(betas) >= 1:
        raise ValueError(f"betas: each must be < 1, got {betas}")
    groups = role_param_groups(model, lr, weight_decay=weight_decay, multipliers=multipliers)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, weight_decay=weight_decay)


@dataclass(frozen=True)
class PolyDecay:
    """The poly factor ``(1 - min(it, max_iters) / max_iters) ** power`` as a picklable callable.

    Being a callable object (not a lambda), :class:`~torch.optim.lr_scheduler.LambdaLR` saves
    its fields in ``state_dict()`` and restores them on ``load_state_dict()``.

    Examples
    --------
    >>> PolyDecay(max_iters=10, power=1.0)(5)
    0.5
    """

    max_iters: int
    power: float = 0.9

    def __post_init__(self) -> None:
        if isinstance(self.max_iters, bool) or not isinstance(self.max_iters, int):
            raise TypeError(f"max_iters: expected an int, got {type(self.max_iters).__name__}")
        if self.max_iters < 1:
            raise ValueError(f"max_iters: expected a positive int, got {self.max_iters}")
        if isinstance(self.power, bool) or not isinstance(self.power, (int, float)):
            raise TypeError(f"power: expected a float, got {type(self.power).__name__}")
        if not (math.isfinite(self.power) and self.power > 0):
            raise ValueError(f"power: expected a finite number > 0, got {self.power}")

    def __call__(self, iteration: int) -> float:
        iteration = check_int("iteration", iteration)
        progress = min(max(iteration, 0), self.max_iters) / self.max_iters
        return (1.0 - progress) ** self.power


def poly_lr_scheduler(
    optimizer: torch.optim.Optimizer, max_iters: int, power: float = 0.9
) -> LambdaLR:
    """Poly schedule: group ``g`` gets ``initial_lr_g * (1 - it / max_iters) ** power``.

    Call ``scheduler.step()`` once per iteration (after ``optimizer.step()``); the learning rate
    reaches 0 at ``max_iters`` and stays there. Every group keeps its multiplier because the
    factor multiplies each group's own initial rate. Its ``state_dict()`` checkpoints the
    iteration count and the schedule.

    Examples
    --------
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    >>> sched = poly_lr_scheduler(opt, max_iters=4, power=1.0)
    >>> for _ in range(2):
    ...     opt.step(); sched.step()
    >>> opt.param_groups[0]["lr"]
    0.05
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    return LambdaLR(optimizer, PolyDecay(max_iters, power))
