"""meeting-platform kernel: what a plugin imports lives in `kernel.api`."""

from kernel.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
