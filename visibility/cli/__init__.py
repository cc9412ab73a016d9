"""``visibility``: run the detector and its API, simulate a labelled stream, score detections, analyse history."""

from visibility.cli.app import app

__all__ = ["app"]
