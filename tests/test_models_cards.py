"""Model contracts are read from source without importing torch, and always equal what the modules build."""
from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

from rppgbench.models import MODEL_MODULES, ModelCfg, create_model, list_models, model_cfg
from rppgbench.models._cards import CardError, read_cards
from rppgbench.models._factory import split_overrides


def test_every_card_equals_the_contract_its_module_builds():
    seen = set()
    for mod in MODEL_MODULES:
        cards = read_cards(mod, ModelCfg)
        assert cards, f"{mod} registers no model"
        module = importlib.import_module(mod)
        for card in cards:
            runtime = getattr(module, card.function).cfg
            assert runtime == card.cfg, card.target
            assert model_cfg(card.cfg.name) == runtime
            seen.add(card.cfg.name)
    assert seen == set(list_models())


def test_listing_and_reading_contracts_never_imports_torch():
    code = textwrap.dedent("""
        import sys
        from rppgbench.models import list_models, model_cfg
        names = list_models()
        assert "factorizephys" in names and "pos" in names
        assert model_cfg("phasenet").frame_size == 128
        assert "torch" not in sys.modules, "torch was imported"
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_contract_that_cannot_be_read_statically_is_named_with_file_and_line(tmp_path, monkeypatch):
    pkg = tmp_path / "cardpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bad.py").write_text(textwrap.dedent("""
        import os
        from rppgbench.models import ModelCfg, register_model

        @register_model(ModelCfg(name="bad", arch="bad", clip_len=int(os.environ.get("N", 3))))
        def bad(cfg, **kwargs):
            return None
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CardError, match=r"bad\.py:5: .*int\(os\.environ"):
        read_cards("cardpkg.bad", ModelCfg)


def test_entrypoint_receives_the_effective_contract_and_unknown_options_are_named():
    m = create_model("pos")
    assert m.cfg is model_cfg("pos")
    tiny = create_model("physfsunet.tiny", clip_len=32)
    assert tiny.cfg.clip_len == 32 and model_cfg("physfsunet.tiny").clip_len == 64
    with pytest.raises(ValueError, match="unknown option.*no_such_option"):
        create_model("physfsunet.tiny", no_such_option=1)
    with pytest.raises(ValueError, match="'name' cannot be overridden"):
        split_overrides(model_cfg("pos"), {"name": "chrom"})
