"""mimetic: imitation learning from expert demonstrations, fast on a laptop CPU."""

from mimetic.errors import MimeticError

__version__ = "0.1.0"
__all__ = ["MimeticError", "__version__"]
