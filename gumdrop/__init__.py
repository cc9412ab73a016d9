"""Gumdrop: what every service of the platform shares, written once.

The bottom of the import graph: every component (and Candybar) may import it, and it
imports none of them. Today it holds what a store needs to tell a database's errors apart
(:mod:`gumdrop.database_errors`).
"""
