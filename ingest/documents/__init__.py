"""Documents (PDF, DOCX, PPTX, HTML, Markdown) as pages, figures and passages.

One module per format returns a :class:`~ingest.documents.model.ParsedDocument`;
:class:`~ingest.documents.reader.DocumentReader` turns it into ordinary pipeline items.
"""

from ingest.documents.reader import DOCUMENT_SUFFIXES, DocumentReader, is_document

__all__ = ["DOCUMENT_SUFFIXES", "DocumentReader", "is_document"]
