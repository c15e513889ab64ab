"""The API's routers, one module per resource; :func:`smelend.api.app.create_app` mounts them all."""
