"""Models are named by content (sha256 of weights, config, tokenizer) and by origin, not by a local path."""

from __future__ import annotations

import json
import shutil

from openenvs.models import content_sha256, model_identity, model_origin, tiny_model_dir


def test_content_hash_follows_the_bytes_not_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENENVS_CACHE", str(tmp_path / "cache"))
    source = tiny_model_dir()
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(source, a)
    shutil.copytree(source, b)
    assert content_sha256(a) == content_sha256(b)  # same files in another folder: same model
    assert list((tmp_path / "cache" / "identity").glob("*.json"))  # computed once, then cached
    config = json.loads((b / "config.json").read_text())
    config["rms_norm_eps"] = 1e-3
    (b / "config.json").write_text(json.dumps(config))
    assert content_sha256(a) != content_sha256(b)


def test_origin_names_the_hub_revision_or_the_package():
    hub = model_origin("/c/hub/models--org--name/snapshots/0123abcd")
    assert hub == {"kind": "hub", "hub_id": "org/name", "revision": "0123abcd"}
    assert model_identity(tiny_model_dir())["origin"]["kind"] == "generated"


def test_an_adapter_names_its_base_model(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model_dir())}))
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    identity = model_identity(adapter)
    assert identity["adapter"] is True and identity["base"]["sha256"] == content_sha256(tiny_model_dir())
