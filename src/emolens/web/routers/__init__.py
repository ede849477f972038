"""The web app's routers, one per resource; :func:`emolens.web.app.create_app` assembles them.

``pages`` (the page, ``/docs``), and under ``/api/v1`` behind the token: ``health``, ``images``
(``/analyze``), ``videos`` (background jobs), ``samples`` and ``live`` (the WebSocket ``/stream``).
"""
