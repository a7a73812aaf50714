"""Recorded drives in bulk: resumable file-to-file jobs with a manifest and a report.

``job`` holds one job and the types both back ends share (discovery, output plan, manifest,
``process_job``, reports); ``local`` runs jobs in this process, ``ray_backend`` on a Ray
cluster; both import ``job`` and nothing else here. Entry point: ``tools/batch.py`` →
:func:`pipeline.batch.cli.main` (console script ``nocturne-batch``).
"""
