"""Enhancement (endpoints 70-71): audio denoising and video enhancement through engines.

Engines are plugins (hook `register_enhancement_engines`; `avfilters` offers FFmpeg's own
filters); their work runs as kernel jobs in worker processes. Results of stored inputs are
new media files of the caller; inline audio comes back inline. No engine: 503 (4001).
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl
from plugins.enhancement import hookspecs  # noqa: F401  (the kernel adds these hook specs)

requires = ("media",)


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.enhancement.routes import bp

    register(bp)
