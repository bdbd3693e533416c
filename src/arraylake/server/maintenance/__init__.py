"""Scheduled repo maintenance: policies (``policy``), runs and their leases (``runs``), what a run does
(``runner``, ``preview``), the scheduler every worker runs (``scheduler``) and the endpoints (``router``)."""
