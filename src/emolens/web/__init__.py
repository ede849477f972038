"""The emolens web app: live camera recognition in the browser, and image and video analysis.

``emolens serve`` calls :func:`serve`. The app itself is :func:`emolens.web.app.create_app`;
its settings are :class:`emolens.web.settings.ServeOptions`. Needs the ``web`` extra
(``pip install 'emolens[web]'``); importing this package alone imports none of it.
"""

from __future__ import annotations

from emolens.web.server import serve
from emolens.web.settings import ServeOptions

__all__ = ["ServeOptions", "serve"]
