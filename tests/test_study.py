"""Study config: validation messages name the file and key; init writes a valid example."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from susmap.errors import InputFileError, StudyConfigError
from susmap.study import example_study_yaml, load_study, study_from_dict


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_defaults_and_path_resolution(make_study, tmp_path):
    data = make_study()
    data["grid"]["template"] = "a.tif"  # relative: resolved against the YAML's folder
    data["outputs"] = {"directory": "results"}
    sub = tmp_path / "cfg"
    sub.mkdir()
    study = load_study(_write(sub, data))
    assert study.grid.template == (sub / "a.tif").resolve()
    assert study.outputs.directory == (sub / "results").resolve()
    assert study.validation.schemes == ["spatial", "random"]  # spatial first by default
    assert study.mapping.n_classes == 5
    assert study.layers[0].resampling_method == "bilinear"


def test_unknown_key_names_file_and_key(make_study, tmp_path):
    data = make_study(validation={"foldz": 3})
    path = _write(tmp_path, data)
    with pytest.raises(StudyConfigError, match=r"study.yaml: validation.foldz: unknown key"):
        load_study(path)


def test_wrong_type_names_file_and_key(make_study, tmp_path):
    path = _write(tmp_path, make_study(validation={"folds": "five"}))
    with pytest.raises(StudyConfigError, match=r"study.yaml: validation.folds: Input should be a valid integer"):
        load_study(path)


def test_nested_list_key_is_named(make_study, tmp_path):
    data = make_study()
    data["layers"][1]["kind"] = "ordinal"
    with pytest.raises(StudyConfigError, match=r"layers.1.kind: Input should be 'continuous' or 'categorical'"):
        load_study(_write(tmp_path, data))


def test_categorical_layer_cannot_be_bilinear(make_study, tmp_path):
    data = make_study()
    data["layers"][1].update(kind="categorical", resampling="bilinear")
    with pytest.raises(StudyConfigError, match=r"layer 'b' is categorical: resampling must be 'nearest' or 'mode'"):
        load_study(_write(tmp_path, data))


def test_duplicate_layer_names_and_bad_references(make_study, tmp_path):
    data = make_study()
    data["layers"][1]["name"] = "a"
    with pytest.raises(StudyConfigError, match=r"layer and factor names must be unique; repeated: a"):
        load_study(_write(tmp_path, data))
    with pytest.raises(StudyConfigError, match=r"mapping.model 'svm' is not one of the models"):
        study_from_dict(make_study(mapping={"model": "svm"}))


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = _write(tmp_path, "name: x\ngrid:\n  template: [a.tif\nlayers: []\n")
    with pytest.raises(StudyConfigError, match=r"study.yaml:\d+: malformed YAML"):
        load_study(path)


def test_not_a_mapping_and_missing_file(tmp_path):
    with pytest.raises(StudyConfigError, match=r"a study must be a mapping"):
        load_study(_write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(InputFileError, match=r"nothere.yaml: study file not found"):
        load_study(tmp_path / "nothere.yaml")


def test_example_yaml_is_valid_and_commented():
    text = example_study_yaml()
    assert text.count("#") > 20
    study = study_from_dict(yaml.safe_load(text), base=Path("/data"))
    assert study.grid.template == Path("/data/dem.tif")
    assert [m.name for m in study.models] == ["logistic_regression", "random_forest"]


def test_messages_are_plain_sentences_naming_file_and_key(make_study):
    """No pydantic internals in a message: no '(top level)', no 'Value error,', no union branch tags."""
    data = make_study(models=[{"name": "logistic_regression"}, {"name": "logistic_regression"}])
    with pytest.raises(StudyConfigError) as info:
        study_from_dict(data, where="s.yaml")
    assert str(info.value) == "s.yaml: model labels must be unique (set 'label'); repeated: logistic_regression"
    data = make_study(validation={"schemes": [{"name": "blocks", "block_size_m": 500, "label": "b/1"}]})
    with pytest.raises(StudyConfigError) as info:
        study_from_dict(data, where="s.yaml")
    msg = str(info.value)
    assert msg.startswith("s.yaml: validation.schemes.0.label: 'b/1' is not a name")
    assert "Value error" not in msg and "literal[" not in msg and "function-after" not in msg and ";" not in msg


def test_repeated_key_and_encoding_of_the_study_file(make_study, tmp_path):
    text = yaml.safe_dump(make_study(), sort_keys=False) + "seed: 3\nseed: 4\n"
    with pytest.raises(StudyConfigError, match=r"study.yaml:\d+: key 'seed' given twice \(lines \d+ and \d+\)"):
        load_study(_write(tmp_path, text))
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: Peñas\n".encode("latin-1"))
    with pytest.raises(StudyConfigError, match=r"latin1.yaml: not UTF-8 \(byte 0xf1 at line 1"):
        load_study(path)
    with pytest.raises(StudyConfigError, match=r"is a directory"):
        load_study(tmp_path)
