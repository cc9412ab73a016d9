"""What works on the visibility layer from outside the service: ``visibility simulate / evaluate / patterns``.

A labelled synthetic stream published on the bus (:mod:`~visibility.tools.simulator`, planned by
:mod:`~visibility.tools.retail_stream` and labelled by :mod:`~visibility.tools.reference`), the
detector's score against those labels (:mod:`~visibility.tools.evaluation`), and what the stored
history says (:mod:`~visibility.tools.patterns`). They reach the running service over the bus and the
HTTP APIs.
"""
