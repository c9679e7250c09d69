"""Build BEIR-format test sets from real text that this machine installs and that no one on the
team wrote, for ``mmrag eval FOLDER``. Nothing is copied into the repository: each run reads the
sources anew, in a fixed order, so the same machine image gives the same sets.

* ``pydoc``: the sections of Python's own reference topics (``pydoc_data.topics``, shipped with
  CPython); the query is a section's heading, the answer its text (the heading left out).
* ``debian``: the descriptions of the Debian packages installed here (``/var/lib/dpkg/status``);
  the query is a package's one-line summary, the answer its long description.
* ``docstrings``: docstrings of the Python standard library's public functions and classes (read
  with ``ast``, nothing imported); the query is the summary line, the answer the rest.

Queries whose heading or summary is not unique, and answers that repeat or are too short to tell
apart, are left out. Each set holds at most ``--max`` documents (a fixed, hash-ordered sample).

    python -m bench.beir_sets /tmp/mmrag-sets            # writes pydoc/, debian/, docstrings/
    mmrag eval /tmp/mmrag-sets/pydoc --signals passage,lexical --no-rerank
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

MIN_ANSWER_CHARS = 120
MAX_ANSWER_CHARS = 4000
DPKG_STATUS = Path("/var/lib/dpkg/status")
_UNDERLINE = re.compile(r"^([*=\-~^\"'+#])\1{2,}$")
Pair = tuple[str, str, str]
"""(document id, query, answer text)."""


def pydoc_pairs() -> Iterator[Pair]:
    """Each section of each ``pydoc_data.topics`` entry: (id, heading, section text)."""
    from pydoc_data.topics import topics

    for topic in sorted(topics):
        lines = topics[topic].splitlines()
        heads = [
            i
            for i in range(len(lines) - 1)
            if lines[i].strip()
            and _UNDERLINE.match(lines[i + 1].strip())
            and len(lines[i + 1].strip()) == len(lines[i].strip())
        ]
        for n, start in enumerate(heads):
            end = heads[n + 1] if n + 1 < len(heads) else len(lines)
            body = "\n".join(lines[start + 2 : end]).strip()
            yield f"{topic}#{n}", lines[start].strip(), body


def debian_pairs(status: Path = DPKG_STATUS) -> Iterator[Pair]:
    """Each installed package of dpkg's status file: (package, summary, long description)."""
    if not status.is_file():
        return
    for stanza in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        package, summary, body = "", "", []
        in_description = False
        for line in stanza.splitlines():
            if line.startswith("Package:"):
                package = line.split(":", 1)[1].strip()
            elif line.startswith("Description:"):
                summary, in_description = line.split(":", 1)[1].strip(), True
            elif in_description and line.startswith(" "):
                body.append("" if line.strip() == "." else line.strip())
            else:
                in_description = False
        if package and summary:
            yield package, summary, "\n".join(body).strip()


def docstring_pairs(stdlib: Path | None = None) -> Iterator[Pair]:
    """Public functions and classes of the standard library with a docstring of a summary line
    and more: (module.qualname, summary, the rest)."""
    root = Path(stdlib or sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "turtledemo"}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if skip & set(parts) or any(p.startswith("_") for p in parts):
            continue
        module = ".".join(parts)[: -len(".py")]
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        yield from _docstrings(tree.body, module)


def _docstrings(body: Iterable[ast.stmt], prefix: str) -> Iterator[Pair]:
    for node in body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if node.name.startswith("_"):
            continue
        name = f"{prefix}.{node.name}"
        doc = ast.get_docstring(node)
        if doc:
            summary, _, rest = doc.strip().partition("\n\n")
            if "\n" not in summary:
                yield name, summary.strip(), rest.strip()
        if isinstance(node, ast.ClassDef):
            yield from _docstrings(node.body, name)


def select(pairs: Iterable[Pair], limit: int) -> list[Pair]:
    """Pairs whose query and answer are unique and whose answer says enough, a fixed sample of at
    most ``limit`` (ordered by a hash of the id, so the sample does not follow file order)."""
    rows = [
        (key, " ".join(query.split()), answer[:MAX_ANSWER_CHARS].strip())
        for key, query, answer in pairs
    ]
    rows = [r for r in rows if len(r[2]) >= MIN_ANSWER_CHARS and len(r[1].split()) >= 2]
    queries = Counter(query.casefold() for _, query, _ in rows)
    answers = Counter(answer for _, _, answer in rows)
    ids = Counter(key for key, _, _ in rows)
    unique = [
        r for r in rows if queries[r[1].casefold()] == 1 and answers[r[2]] == 1 and ids[r[0]] == 1
    ]
    unique.sort(key=lambda r: hashlib.blake2b(r[0].encode(), digest_size=8).digest())
    return sorted(unique[:limit])


def write_set(folder: Path, pairs: list[Pair], source: dict[str, object]) -> None:
    """One BEIR folder: document ``d<i>`` answers query ``q<i>``."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (
        (folder / "corpus.jsonl").open("w", encoding="utf-8") as corpus,
        (folder / "queries.jsonl").open("w", encoding="utf-8") as queries,
    ):
        for i, (key, query, answer) in enumerate(pairs):
            row = {"_id": f"d{i}", "title": "", "text": answer, "source": key}
            corpus.write(json.dumps(row, ensure_ascii=False) + "\n")
            queries.write(json.dumps({"_id": f"q{i}", "text": query}, ensure_ascii=False) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(len(pairs))]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "source.json").write_text(json.dumps({**source, "pairs": len(pairs)}, indent=2))


SETS = {
    "pydoc": (pydoc_pairs, "CPython's pydoc_data.topics, section heading -> section text"),
    "debian": (debian_pairs, f"{DPKG_STATUS}: package summary -> long description"),
    "docstrings": (docstring_pairs, "the standard library's docstrings: summary -> the rest"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write one sub-folder per set into")
    parser.add_argument("--max", type=int, default=300, help="documents per set at most")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    args = parser.parse_args(argv)
    for name in [n.strip() for n in args.sets.split(",") if n.strip()]:
        if name not in SETS:
            parser.error(f"unknown set {name!r}: use {', '.join(SETS)}")
        make, what = SETS[name]
        pairs = select(make(), args.max)
        source = {"source": what, "python": sys.version.split()[0], "max": args.max}
        write_set(args.out / name, pairs, source)
        print(f"{name}: {len(pairs)} queries and documents -> {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
