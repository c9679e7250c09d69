"""The bias audit (``mmrag audit bias``, ``/v1/audit/bias``) and its scheduled monitoring.

* :mod:`rag.audit.labelled`: a labelled set (JSONL/CSV items with a label and a group);
* :mod:`rag.audit.groups`: per-group zero-shot accuracy, exposure, nDCG and the gaps;
* :mod:`rag.audit.weat`: WEAT associations of the text towers;
* :mod:`rag.audit.bias`: the report over every signal of the loaded models;
* :mod:`rag.audit.chart`: its PNG;
* :mod:`rag.audit.monitor`: the same over a sample of the live collection, stored, with alerts.
"""
