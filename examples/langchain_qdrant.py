"""Another app's ``langchain_qdrant.QdrantVectorStore`` reading mmrag's collection.

mmrag runs on Qdrant through qdrant-client (here its in-memory local mode; on a server, give both
the same URL). The vector store reads mmrag's points with mmrag's payload keys. From the
repository root::

    python -m examples.langchain_qdrant
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from langchain_qdrant import QdrantVectorStore
from PIL import Image
from qdrant_client import models

from examples.demo import COLOURS, caption, demo_services
from rag.integrations.langchain import QDRANT_PAYLOAD_KEYS, ClipEmbeddings
from rag.store.client import QdrantClientStore

HAS_TEXT = models.Filter(
    must=[models.FieldCondition(key="has_text", match=models.MatchValue(value=True))]
)
"""Leaves out image-only items (their text is null, which a LangChain Document cannot hold)."""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = demo_services(Path(tmp), store={"url": ":memory:"})
        store = services.store
        assert isinstance(store, QdrantClientStore)
        embeddings = ClipEmbeddings(services.embedder)
        for vector_name in ("text", "image"):
            vector_store = QdrantVectorStore(
                client=store.client,  # on a server: QdrantClient(url="http://qdrant:6333")
                collection_name=store.collection,
                embedding=embeddings,
                vector_name=vector_name,
                **QDRANT_PAYLOAD_KEYS,
            )
            query = caption("red") if vector_name == "text" else "a square"
            found = vector_store.similarity_search_with_score(query, k=2, filter=HAS_TEXT)
            print(f"vector_name={vector_name!r}:")
            for doc, score in found:
                print(f"  {doc.metadata['colour']:<7} {score:.3f}  {doc.page_content}")
        picture = embeddings.embed_image(Image.new("RGB", (48, 48), COLOURS["blue"]))
        best = vector_store.similarity_search_by_vector(picture, k=1, filter=HAS_TEXT)[0]
        print(f"by picture: {best.metadata['colour']}  (point {best.metadata['_id']})")
        services.close()


if __name__ == "__main__":
    main()
