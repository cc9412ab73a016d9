"""The visibility layer: detects when teams' customer-facing decisions contradict each other or the inventory truth.

It consumes the retail events on the bus, raises conflicts by the rules of a YAML
file, drives each conflict through its lifecycle (acknowledge, fix, accept, dispute,
escalate), alerts, and measures itself against the OKRs of the proposal.
"""
