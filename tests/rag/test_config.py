"""Settings: names users script against, env parsing, and errors that name the variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.config import ADVANCED_SETTINGS, env_example, env_name, env_reference, load_settings
from rag.errors import ConfigError

STABLE_NAMES = [
    "MMRAG_DATA_DIR",
    "MMRAG_CLIP__MODEL",
    "MMRAG_CLIP__PRETRAINED",
    "MMRAG_CLIP__THREADS",
    "MMRAG_STORE__URL",
    "MMRAG_STORE__COLLECTION",
    "MMRAG_LLM__BACKEND",
    "MMRAG_LLM__MODEL",
    "MMRAG_LLM__OLLAMA_HOST",
    "MMRAG_RERANK__MODEL",
    "MMRAG_RERANK__TOP_N",
    "MMRAG_API_KEYS",
]
REPO = Path(__file__).resolve().parents[2]


def test_stable_variable_names_exist() -> None:
    names = {name for name, _, _ in env_reference()}
    assert set(STABLE_NAMES) <= names


def test_defaults() -> None:
    settings = load_settings()
    assert settings.clip.model == "ViT-B-32"
    assert settings.clip.pretrained == "openai"
    assert settings.store.url == ""
    assert settings.llm.backend == "auto"
    assert settings.api_keys == []


def test_environment_nested_and_lists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MMRAG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MMRAG_CLIP__THREADS", "3")
    monkeypatch.setenv("MMRAG_STORE__URL", "http://qdrant:6333")
    monkeypatch.setenv("MMRAG_API_KEYS", "k1, k2,")
    monkeypatch.setenv("MMRAG_RERANK__TOP_N", "4")
    settings = load_settings()
    assert settings.data_dir == tmp_path
    assert settings.clip.threads == 3
    assert settings.store.url == "http://qdrant:6333"
    assert settings.api_keys == ["k1", "k2"]
    assert settings.rerank.top_n == 4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MMRAG_CLIP__THREADS", "many"),
        ("MMRAG_LLM__BACKEND", "gpt"),
        ("MMRAG_STORE__COLLECTION", "bad name!"),
        ("MMRAG_STORE__QUANTIZATION", "int4"),
        ("MMRAG_CLIP__TYPO", "1"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MMRAG_STORE__COLLECTION=from_dotenv\n")
    assert load_settings().store.collection == "from_dotenv"


def test_env_example_lists_every_variable_with_its_default() -> None:
    committed = (REPO / ".env.example").read_text()
    assert committed == env_example(), "regenerate with: mmrag config --env-example > .env.example"


def test_every_advanced_setting_exists() -> None:
    names = {name for name, _, _ in env_reference()}
    missing = {path for path in ADVANCED_SETTINGS if env_name(tuple(path.split("."))) not in names}
    assert missing == set()


def test_env_example_puts_the_advanced_settings_after_the_others() -> None:
    lines = [line.split("=")[0] for line in env_example().splitlines() if line.startswith("MMRAG")]
    advanced = {env_name(tuple(path.split("."))) for path in ADVANCED_SETTINGS}
    first_advanced = next(i for i, name in enumerate(lines) if name in advanced)
    assert set(lines[first_advanced:]) == advanced
    assert set(lines) == {name for name, _, _ in env_reference()}
    assert {"MMRAG_STORE__URL", "MMRAG_LLM__BACKEND", "MMRAG_API_KEYS"} <= set(
        lines[:first_advanced]
    )


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("MMRAG_INGEST__ROOTS", '["/srv/a", "/srv/b"]', ("ingest", "roots")),
        ("MMRAG_API__CORS_ORIGINS", '["http://a.example"]', ("api", "cors_origins")),
        ("MMRAG_API__ALLOWED_HOSTS", '[ "rag.example" ]', ("api", "allowed_hosts")),
        ("MMRAG_API_KEYS", '["k1", "k2:acme:read"]', ("api_keys",)),
        ("MMRAG_CLASSIFY__TEMPLATES", '["a {}, b", "c {}"]', ("classify", "templates")),
        ("MMRAG_MODERATION__UNSAFE", "[]", ("moderation", "unsafe")),
    ],
)
def test_list_settings_accept_json_lists(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: tuple[str, ...]
) -> None:
    monkeypatch.setenv(name, value)
    found: object = load_settings()
    for part in field:
        found = getattr(found, part)
    expected = json.loads(value)
    assert found == ([Path(p) for p in expected] if field[-1] == "roots" else expected)


@pytest.mark.parametrize("value", ['["/srv/a"', "['/srv/a']", "[1, 2]", '["a", ]'])
def test_a_broken_json_list_setting_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MMRAG_INGEST__ROOTS", value)
    with pytest.raises(ConfigError, match=r"MMRAG_INGEST__ROOTS.*JSON list"):
        load_settings()


def test_a_bracketed_address_is_still_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMRAG_API__ALLOWED_HOSTS", "[::1],rag.example")
    assert load_settings().api.allowed_hosts == ["[::1]", "rag.example"]
