"""mimetic: imitation learning from expert demonstrations, fast on a laptop CPU."""

from mimetic import threads
from mimetic.errors import MimeticError

__version__ = "0.1.0"
__all__ = ["MimeticError", "__version__", "threads"]

# one torch thread unless the user chose (mimetic.threads); this does not import torch
threads.apply_default()
