"""Gumdrop: what every service of the platform shares, written once (ADR 0014).

The bottom of the import graph: every component (and Candybar) may import it, and it
imports none of them. A store's engine, migrations, errors, keyset pages and settings; an
API's app factory, error shape, request limits and deadlines, strict JSON and health
routes; a service's periodic work, backoff, start-up and serving; the commands' console.
"""
