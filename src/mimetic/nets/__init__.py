"""Network builders shared by policies and algorithms, one module per family (``mlp`` now; image
encoders next). Builders only make modules; what a network means (a policy head, a critic, a
discriminator) stays with its user."""

from mimetic.nets.mlp import ACTIVATIONS, StackedMLP, mlp

__all__ = ["ACTIVATIONS", "StackedMLP", "mlp"]
