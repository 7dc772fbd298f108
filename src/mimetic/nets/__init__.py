"""Network builders shared by policies and algorithms, one module per family (``mlp``: MLPs and
stacked ensembles; ``vision``: image encoders). Builders only make modules; what a network means
(a policy head, a critic, a discriminator) stays with its user. ``vision`` is imported on use
(``from mimetic.nets.vision import ImageEncoder``)."""

from mimetic.nets.mlp import ACTIVATIONS, StackedMLP, mlp

__all__ = ["ACTIVATIONS", "StackedMLP", "mlp"]
