"""Small real parts for tests and benchmarks, built without a download: tiny random-weight
rerankers (:mod:`rag.testing.tiny_rerankers`) and llama-cpp-python's OpenAI-compatible server on
loopback (:mod:`rag.testing.llama_cpp_server`). Nothing in mmrag's own code paths uses them."""
