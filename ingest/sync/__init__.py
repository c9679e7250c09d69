"""Sources that stay in sync: watched folders, S3 buckets and web sites, each a configured
source whose syncs are jobs on the ingest queue.

(``ingest.sources`` is another thing: which reader opens one path of a job.)
"""
