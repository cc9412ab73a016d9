"""Picking up a changed rules file without a restart: polled, validated, applied only when valid.

The file named by ``VISIBILITY_RULES`` is read every ``VISIBILITY_RULES_CHECK_INTERVAL``
seconds (the service's background work); when its text
changed, it is validated as at start. A valid file is handed to ``apply`` (the detector,
the escalation and the alerts switch to it); an invalid one is logged with every problem
and its path, and the rules in force stay. ``visibility_rules_reloads_total{outcome}``
counts both (``applied``, ``refused``).

Polling, not file-system notifications: it works the same on every platform and through
the bind mounts and ConfigMaps a rules file is usually delivered by, at the cost of up to
that interval before a change applies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import structlog
from prometheus_client import Counter

from visibility.rules import RulesError, RuleSet, load_rules

__all__ = ["RulesWatcher"]

log = structlog.get_logger(__name__)


class RulesWatcher:
    """Looks at a rules file and applies each valid change; the service calls :meth:`check` periodically."""

    def __init__(self, path: Path, apply: Callable[[RuleSet], None], *, reloads: Counter) -> None:
        self.path = path
        self.apply = apply
        self._reloads = reloads
        self._digest = self._read_digest()

    def check(self) -> bool | None:
        """Look at the file once: True when a change was applied, False when refused, None when unchanged."""
        digest = self._read_digest()
        if digest is None or digest == self._digest:
            return None
        self._digest = digest
        try:
            rules = load_rules(self.path)
        except RulesError as exc:
            problems = [str(issue) for issue in exc.issues]
        else:
            self.apply(rules)
            self._reloads.labels("applied").inc()
            log.info("rules file reloaded", file=str(self.path), rules={rule.id: rule.version for rule in rules.rules})
            return True
        self._reloads.labels("refused").inc()
        log.error("the changed rules file is invalid; the rules in force stay", file=str(self.path), problems=problems)
        return False

    def _read_digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None  # being replaced (an editor's rename) or gone: looked at again next time
