"""Registry functions against a real SQLite MLflow store (no training needed)."""

from __future__ import annotations

import shutil

import pytest

from configs.errors import RegistryError
from tasks.registry.versions import (client_for, describe_model, get_alias_version, list_models, promote, register_adapter,
                            resolve_model, set_alias)


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    client = client_for(uri)
    exp = client.create_experiment("t", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(exp).info.run_id
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    base = tmp_path / "base"
    base.mkdir()
    return uri, run_id, adapter, base


def _register(store, run_id=None, **tags):
    uri, first_run, adapter, base = store
    tags = {"base_model": str(base), "lora_rank": 8, **tags}
    return register_adapter(uri, "m", run_id or first_run, str(adapter), tags)


def _new_run(uri):
    client = client_for(uri)
    return client.create_run(client.get_experiment_by_name("t").experiment_id).info.run_id


def test_new_versions_get_candidate_and_promote_moves_champion(store):
    uri = store[0]
    assert _register(store) == "1" and _register(store, run_id=_new_run(uri)) == "2"
    assert get_alias_version(uri, "m", "candidate") == "2"
    assert get_alias_version(uri, "m", "champion") is None and get_alias_version(uri, "nope", "champion") is None
    promote(uri, "m", "1")
    promote(uri, "m", 2)
    assert get_alias_version(uri, "m", "champion") == "2"
    set_alias(uri, "m", "1", "stable")
    info = describe_model(uri, "m")
    assert [v["aliases"] for v in info["versions"]] == [["stable"], ["candidate", "champion"]]
    assert list_models(uri) == [{"name": "m", "aliases": {"candidate": "2", "champion": "2", "stable": "1"},
                                 "latest_version": 2, "versions": 2}]
    with pytest.raises(RegistryError, match="version=7"):
        promote(uri, "m", "7")


def test_resolve_gives_local_folders_and_tags(store):
    uri, run_id, adapter, base = store
    _register(store, dataset_sha256="abc")
    m = resolve_model(uri, "models:/m@candidate")
    assert (m.name, m.version, m.adapter_dir, m.base_model, m.lora_rank) == ("m", "1", adapter, str(base), 8)
    assert m.run_id == run_id and m.tags["dataset_sha256"] == "abc" and m.merged_dir is None
    assert resolve_model(uri, "models:/m/1").adapter_dir == adapter


def test_resolve_names_what_is_missing(store):
    uri, _, adapter, _ = store
    _register(store)
    with pytest.raises(RegistryError, match="resolving models:/m@champion"):
        resolve_model(uri, "models:/m@champion")
    shutil.rmtree(adapter)
    with pytest.raises(RegistryError, match=r"adapter folder .* does not exist"):
        resolve_model(uri, "models:/m/1")


def test_registering_a_run_again_reuses_its_version(store, monkeypatch):
    """A retry after a fault that came after the version was created (here: setting the alias)
    finishes that version instead of creating a second one."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = store[0]
    real = MlflowClient.set_registered_model_alias
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise MlflowException("database is locked")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", flaky)
    with pytest.raises(RegistryError, match="database is locked"):
        _register(store, dataset_sha256="abc")
    assert _register(store, dataset_sha256="abc", retry="yes") == "1"
    info = describe_model(uri, "m")
    assert [v["version"] for v in info["versions"]] == ["1"] and info["versions"][0]["aliases"] == ["candidate"]
    assert info["versions"][0]["tags"]["retry"] == "yes"
