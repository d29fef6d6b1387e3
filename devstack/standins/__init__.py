"""Local HTTP stand-ins for services we cannot run here (Shopify Admin API, ...).

Each answers the way the real service documents, so the project's own client code runs
unchanged against it in tests and in the dev stack.
"""
