"""Gumdrop: what every service of the platform shares, written once.

The bottom of the import graph: every component (and Candybar) may import it, and it
imports none of them: the HTTP error shape and its handlers, request limits and
deadlines, strict JSON, the server runner, console output, and what a store needs to tell a
database's errors apart.
"""
