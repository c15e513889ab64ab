"""The staff web dashboard, served by ``smelend serve`` under ``/dashboard`` beside the API.

Staff sign in with a name and password (``smelend admin create-user ... --password``); pages are
server-side Jinja2 templates with plotly charts (plotly.js served from the installed package, no CDN).
:func:`smelend.web.routes.install` adds it to the API's app; :mod:`smelend.web.access` says which role
sees which page.
"""
