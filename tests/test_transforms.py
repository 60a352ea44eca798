"""Layer and factor ``transform:`` steps: values on the stack, provenance, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from conftest import write_raster
from susmap import stack as stack_module
from susmap.errors import StudyConfigError
from susmap.factors.derive import DerivedFactor
from susmap.stack import apply_transform, describe_transform, open_stack
from susmap.study import AlignmentConfig, FactorConfig, GridConfig, LayerConfig, study_from_dict


def _stack(path, **layer):
    layer = LayerConfig(name="v", path=path, **layer)
    return open_stack(GridConfig(template=path), [layer], AlignmentConfig(), chunks=7)


def _values(stack):
    return np.asarray(stack.data.data[0].compute())


@pytest.fixture
def catchment(tmp_path):
    rng = np.random.default_rng(4)
    data = (10 ** rng.uniform(0, 6, size=(20, 30))).astype(np.float32)  # areas over six decades
    return write_raster(tmp_path / "catchment.tif", data), data


def test_log10_of_catchment_area_equals_numpys(catchment):
    path, data = catchment
    stack = _stack(path, transform=["log10"])
    np.testing.assert_allclose(_values(stack), np.log10(data.astype(np.float64)), rtol=1e-6)
    assert stack.transforms == {"v": "log10(v)"}
    np.testing.assert_allclose(_values(_stack(path, transform="log1p")), np.log1p(data.astype(np.float64)), rtol=1e-6)


def test_degrees_clip_and_scale_offset_in_order(tmp_path):
    rng = np.random.default_rng(5)
    radians = rng.uniform(0, np.pi / 2, size=(12, 9)).astype(np.float32)
    path = write_raster(tmp_path / "slope_rad.tif", radians)
    np.testing.assert_allclose(_values(_stack(path, transform=["degrees"])), np.degrees(radians), rtol=1e-6)
    clipped = _values(_stack(path, transform=[{"clip": [0.2, 1.0]}]))
    np.testing.assert_array_equal(clipped, np.clip(radians, np.float32(0.2), np.float32(1.0)))
    # steps apply in order: (v * 10) + 1 differs from (v + 1) * 10
    scaled = _values(_stack(path, transform=[{"scale": 10}, {"offset": 1}]))
    np.testing.assert_allclose(scaled, radians * 10.0 + 1.0, rtol=1e-6)
    shifted = _values(_stack(path, transform=[{"offset": 1}, {"scale": 10}]))
    np.testing.assert_allclose(shifted, (radians + 1.0) * 10.0, rtol=1e-6)
    assert describe_transform("d", [{"clip": (0.0, 300.0)}, "log1p"]) == "log1p(clip(d, 0, 300))"
    assert describe_transform("s", [{"scale": 2.0}, {"offset": -1.0}]) == "(s * 2) - 1"


def test_transform_comes_before_the_outlier_bound_and_clip(tmp_path, caplog):
    rng = np.random.default_rng(7)
    data = rng.normal(50, 5, size=(20, 30)).astype(np.float32)
    data[3, 4] = 1e6  # a distance far beyond the others
    path = write_raster(tmp_path / "distance.tif", data)
    assert _stack(path).outliers["v"]["cells"] == 1
    capped = _stack(path, transform=[{"clip": [0, 300]}])
    assert capped.outliers["v"]["most_extreme"] == 300.0  # checked after the transform
    assert "layer 'v' (clip(v, 0, 300)): 1 cell beyond the robust bound" in caplog.text
    assert _values(capped)[3, 4] == 300.0
    logged = _stack(path, transform=["log10"], clip=[1.0, 1.7])  # clip: acts on the transformed values
    values = _values(logged)
    assert values.min() >= 1.0 and values.max() == pytest.approx(1.7)


def test_log_of_zeros_is_refused_naming_the_layer_and_the_count(tmp_path, catchment):
    _, data = catchment
    data = data.copy()
    data[2:4, 5:9] = 0.0
    data[10, 10] = -3.0
    path = write_raster(tmp_path / "zeros.tif", data)
    with pytest.raises(StudyConfigError, match=r"layer 'v'.*log10 needs values > 0.* 9 of its 600 valid cells"):
        _stack(path, transform="log10")
    # an offset first makes them valid
    assert np.isfinite(_values(_stack(path, transform=[{"offset": 4}, "log10"]))).all()


def test_log_of_zeros_the_sample_missed_is_counted_exactly(tmp_path, monkeypatch, catchment):
    _, data = catchment
    data = data.copy()
    data[4, 2] = data[9, 4] = data[18, 6] = 0.0  # rows and columns the sample skips
    path = write_raster(tmp_path / "zeros.tif", data)
    monkeypatch.setattr(stack_module, "SAMPLE_CELLS", 64)  # a sample of 16 x 16 single cells, none of the zeros
    with pytest.raises(StudyConfigError, match=r"layer 'v'.*log10 needs values > 0.* 3 of its 600 valid cells"):
        _stack(path, transform="log10")


def test_apply_transform_masks_no_value_and_keeps_nodata():
    out = apply_transform(np.array([np.nan, 0.0, -1.0, 100.0]), ["log10"])
    assert out.dtype == np.float32
    assert np.isnan(out[:3]).all() and out[3] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "transform,key,words",
    [
        (["ln"], "layers.0.transform.0", "unknown transform step 'ln'"),
        ([{"clip": [300, 0]}], "layers.0.transform.0", "low < high"),
        (["log10", {"scale": "x"}], "layers.0.transform.1", "scale needs one finite number"),
        (["offset"], "layers.0.transform.0", "needs an argument"),
        ([{"log10": 2}], "layers.0.transform.0", "takes no argument"),
    ],
)
def test_bad_transform_is_refused_at_load_with_the_key(make_study, transform, key, words):
    study = make_study()
    study["layers"][0]["transform"] = transform
    with pytest.raises(StudyConfigError, match=r"^study: " + key.replace(".", r"\.") + ": .*" + words) as err:
        study_from_dict(study)
    assert "\n" not in str(err.value)


def test_categorical_and_mask_layers_refuse_transforms(make_study):
    study = make_study()
    study["layers"][1].update(kind="categorical", transform="log10")
    with pytest.raises(StudyConfigError, match=r"layers\.1: layer 'b' is categorical.*cannot be transformed"):
        study_from_dict(study)
    study = make_study(factors=[{"name": "geo", "factor": "slope", "kind": "categorical", "transform": "degrees"}])
    with pytest.raises(StudyConfigError, match=r"factors\.0: factor 'geo' is categorical.*cannot be transformed"):
        study_from_dict(study)
    study = make_study()
    study["layers"][1].update(role="mask", transform=[{"scale": 2}])
    with pytest.raises(StudyConfigError, match=r"layer 'b' is a mask.*remove transform"):
        study_from_dict(study)


def test_derived_factor_carries_its_transform_to_the_stack(tmp_path):
    rng = np.random.default_rng(6)
    data = rng.uniform(0, 1.2, size=(15, 15)).astype(np.float32)
    path = write_raster(tmp_path / "aspect_rad.tif", data)
    steps = FactorConfig(name="slope", transform=[{"scale": 2}, "degrees"]).transform
    derived = DerivedFactor("slope", "slope", path, "continuous", "degrees", "", transform=tuple(steps))
    layer = derived.as_layer()
    assert layer.transform == [{"scale": 2.0}, "degrees"]
    stack = open_stack(GridConfig(template=path), [layer], AlignmentConfig(), chunks=8)
    np.testing.assert_allclose(_values(stack), np.degrees(data * 2.0), rtol=1e-6)
    assert stack.transforms == {"slope": "degrees(slope * 2)"}


def test_transforms_in_provenance_and_unchanged_maps_without_them(make_study, synthetic, caplog):
    from susmap.runners import run_study

    def run(name, factors=(), **layer_a):
        study = make_study(outputs={"directory": str(synthetic["dir"] / name)}, factors=list(factors))
        study["layers"][0].update(layer_a)
        return run_study(study_from_dict(study)).out_dir

    plain = run("plain")
    empty = run("empty", transform=[])
    identity = run("identity", transform=[{"scale": 1}])
    reference = (plain / "probability.tif").read_bytes()
    assert (empty / "probability.tif").read_bytes() == reference
    assert (identity / "probability.tif").read_bytes() == reference
    with caplog.at_level("INFO", logger="susmap"):
        slope = {"name": "slope", "transform": [{"scale": 2}, "log1p"]}
        logged = run("logged", factors=[slope], transform=[{"offset": 1}, "log10"])
    assert "enters the stack as log10(a + 1)" in caplog.text
    resolved = yaml.safe_load((logged / "study.yaml").read_text())
    assert resolved["layers"][0]["transform"] == [{"offset": 1.0}, "log10"]
    provenance = json.loads((logged / "provenance.json").read_text())
    assert provenance["study"]["layers"][0]["transform"] == [{"offset": 1.0}, "log10"]
    assert provenance["study"]["layers"][1]["transform"] == []
    assert provenance["study"]["factors"][0]["transform"] == [{"scale": 2.0}, "log1p"]
    assert "enters the stack as log1p(slope * 2)" in caplog.text


@pytest.mark.parametrize(
    "transform,needles",
    [
        (
            "log10",
            ["layer 'a'", "log10 needs values > 0", "57 of its"],
        ),  # a rises from 0: its first column (less 3 nodata cells)
        (["sqrt"], ["layers.0.transform.0", "unknown transform step 'sqrt'"]),
    ],
)
def test_cli_refuses_an_impossible_transform_with_one_line_and_writes_nothing(
    make_study, synthetic, transform, needles
):
    from typer.testing import CliRunner

    from cli_checks import assert_error, assert_one_line, assert_untouched, existing_out, invoke, write_study

    study = make_study()
    study["layers"][0]["transform"] = transform
    study_file = write_study(synthetic["dir"] / "study.yaml", study)
    out = existing_out(synthetic["dir"])
    result = invoke(CliRunner(), "run", study_file, "--out", out)
    assert_error(result.exit_code, result.stderr, needles, result.exception)
    assert_untouched(out)
    assert_one_line(result.stderr)
