"""The conflict model, pure: no database, no I/O, so the store and everything above can build on it.

The detection engine (:mod:`~visibility.domain.observations`, :mod:`~visibility.domain.state`,
:mod:`~visibility.domain.detection`) turns retail events into findings; a conflict's
:mod:`~visibility.domain.status`, its :mod:`~visibility.domain.transitions` and
:mod:`~visibility.domain.escalation` make its lifecycle; :mod:`~visibility.domain.records`
are the values the store hands back, :mod:`~visibility.domain.publications` the events it
publishes about them, and :mod:`~visibility.domain.okr` the figures they add up to.
"""
