"""A user's method as a plug-in would be written: ``Config.method = "tests.methods.toy_method:ToyMethod"``.

Not a test module (no ``test_`` prefix): tests/methods/test_plugin.py imports it by its class path.
"""
import torch.nn.functional as F
from torch import Tensor

from sslre.methods import TwoViewMethod, step_dict


class ToyMethod(TwoViewMethod):
    """Invariance only: ``L = 1/B sum_b ||u_b - u'_b||^2`` of the unit-normalised ``(B, D)`` projections, in [0, 4]."""

    name = "toy"
    loss_terms = ("invariance",)

    def loss(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        inv = (F.normalize(z1.float(), dim=1) - F.normalize(z2.float(), dim=1)).pow(2).sum(dim=1).mean()
        return step_dict({"invariance": inv, "total": inv}, z1)


class NotAMethod:
    """A class that is not an SSLMethod (for the error test)."""


class BadTerms(ToyMethod):
    """Declares a term sslre does not know (for the error test)."""

    loss_terms = ("invariance", "uniformity")
