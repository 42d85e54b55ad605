"""config_value: what a recipe asks of its configs, defaults applied; a missing key is named."""
from __future__ import annotations

from pathlib import Path

from xmodal.bin import config_value

CONF = Path(__file__).resolve().parents[2] / "egs" / "mini_voxceleb" / "v1" / "conf"


def test_values_with_defaults_applied(tmp_path, capsys):
    bare = tmp_path / "bare.yaml"
    bare.write_text("method: reconstruction\nloss: {classify_weight: 0.0}\n")
    assert config_value.main(["--key", "data.content", str(CONF / "recon_units.yaml"),
                              str(CONF / "recon_content_embedding.yaml"), str(bare)]) == 0
    assert capsys.readouterr().out.split() == ["units", "content_embedding", "phones"]


def test_a_key_the_method_lacks_is_an_error(capsys):
    assert config_value.main(["--key", "data.content", str(CONF / "ssl_content.yaml")]) == 1
    err = capsys.readouterr().err
    assert "ssl_content.yaml: no key 'data.content' (method cross_modal)" in err
