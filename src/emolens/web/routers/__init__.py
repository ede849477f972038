"""The web app's routers, one per resource; :func:`emolens.web.app.create_app` assembles them.

``pages`` (the page, ``/docs``), and under ``/api/v1`` behind the token: ``health``, ``images``
(``/analyze``), ``videos`` (background jobs), ``samples``, ``live`` (the WebSocket ``/stream``) and
``relax`` (the relaxation operator panel: its page ``/relax`` and its API ``/api/v1/relax``).
"""
