"""Reference simulators: identity provider, population database, portal and agencies.

Each simulator is a Starlette ASGI app with its own store. They never import the harness:
the harness reaches them over HTTP, exactly as it would reach a shared remote sandbox.
"""
