"""The ingest worker: reads folders, manifests and uploads, embeds them and writes points.

Entry points: ``mmrag ingest PATH...`` (:mod:`mmrag_cli.ingest_cmd`), ``python -m ingest`` (the
standalone job worker), and for the API :mod:`ingest.jobs`, :mod:`ingest.worker` and
:mod:`ingest.uploads`. See ``docs/ingest.md``.
"""
