"""Every setting is checked when the study is loaded, before any data is read (issue 13, part 4).

Seeds, process and thread counts, scheduler addresses, the size of the
cross-validation, prediction blocks, the class sample, model and scheme labels
(names, never paths), model parameters (the estimators' own scikit-learn
constraints), repeated YAML keys and the file's encoding: each bad value is a
one-line :class:`StudyConfigError` naming the file and the key, and through the
command line exit status 2 with an output folder left as it was.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.model_selection import KFold
from typer.testing import CliRunner

from susmap.cli import app
from susmap.errors import InputFileError, StudyConfigError, SusmapWarning
from susmap.models import make_estimator
from susmap.models.registry import MAX_SVM_C, check_models, check_neighbours, check_tuning
from susmap.runners.sweep import run_sweep
from susmap.study import (
    MAX_FITS,
    MIN_CHUNK_SIZE,
    SEED_MAX,
    cpu_count,
    load_study,
    parse_study_yaml,
    study_from_dict,
)

CORES = cpu_count()
KEEP = b"an earlier run \x00\xff\n"
PREFIX = "susmap: error:"


def _base(**sections) -> dict:
    """A study dict with every required section (no file is read while validating it)."""
    study = {
        "grid": {"template": "dem.tif"},
        "layers": [{"name": "a", "path": "a.tif"}],
        "inventory": {"path": "events.csv", "x": "x", "y": "y", "crs": "EPSG:32717", "label": "event"},
    }
    study.update(sections)
    return study


def _refused(data: dict, *needles: str) -> str:
    with pytest.raises(StudyConfigError) as info:
        study_from_dict(data, where="study.yaml")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("study.yaml: ")
    for needle in needles:
        assert needle in msg, f"{needle!r} not in: {msg}"
    return msg


# --------------------------------------------------------------------------- settings refused at load

BAD_SETTINGS = {
    "seed-negative": ({"seed": -1}, ["seed: -1 is not a seed", f"0 to {SEED_MAX}"]),
    "seed-2**70": ({"seed": 2**70}, ["seed:", str(2**70), "2**32 - 1"]),
    "seed-2**32": ({"seed": 2**32}, ["seed:", f"0 to {SEED_MAX}"]),
    "meta-seeds-beyond-2**32": (
        {"seed": SEED_MAX, "method": "meta-blockwise", "meta_blockwise": {"experiment": {"repeats": 3}}},
        ["seed: the experiment's repeats use seeds", "give a smaller seed"],
    ),
    "meta-repeats-1e9": (
        {"method": "meta-blockwise", "meta_blockwise": {"experiment": {"repeats": 10**9}}},
        ["meta_blockwise.experiment: 1,000,000,000 repeats", "trainings"],
    ),
    "n_jobs-0": ({"validation": {"n_jobs": 0}}, ["validation.n_jobs: 0 processes", "-1 for all"]),
    "n_jobs-text": ({"validation": {"n_jobs": "all"}}, ["validation.n_jobs"]),
    "num_workers-minus-2": ({"compute": {"num_workers": -2}}, ["compute.num_workers: -2 threads", "give 1 or more"]),
    "num_workers-0": ({"compute": {"num_workers": 0}}, ["compute.num_workers: 0 threads"]),
    "num_workers-with-synchronous": (
        {"compute": {"scheduler": "synchronous", "num_workers": 1}},
        ["compute: num_workers sets the threads of scheduler: threads", "ignored"],
    ),
    "scheduler-typo": ({"compute": {"scheduler": "thread"}}, ["compute.scheduler: 'thread' is not a scheduler"]),
    "scheduler-processes": ({"compute": {"scheduler": "processes"}}, ["compute.scheduler", "tcp://host:8786"]),
    "scheduler-no-port": ({"compute": {"scheduler": "tcp://10.0.0.5"}}, ["compute.scheduler", "host:8786"]),
    "scheduler-port-too-large": ({"compute": {"scheduler": "tcp://node1:99999"}}, ["compute.scheduler"]),
    "scheduler-no-host": ({"compute": {"scheduler": "tcp://:8786"}}, ["compute.scheduler"]),
    "scheduler-spaces": ({"compute": {"scheduler": "my cluster"}}, ["compute.scheduler", "synchronous"]),
    "repeats-1e9": (
        {"validation": {"repeats": 10**9}},
        ["validation:", "1,000,000,000 repeats", "model fits", f"more than {MAX_FITS:,}", "lower validation.repeats"],
    ),
    "repeats-1e9-yaml-text": (
        {"validation": {"repeats": "1e9"}},
        ["validation.repeats: '1e9' is text to YAML", "write 1000000000"],
    ),
    "repeats-1e9-float": ({"validation": {"repeats": 1e9}}, ["validation:", "model fits"]),
    "folds-1e6": ({"validation": {"folds": 10**6, "repeats": 1}}, ["validation:", "1,000,000 folds"]),
    "tuning-grid-too-large": (
        {
            "models": [{"name": "random_forest", "label": "rf"}],
            "validation": {
                "tuning": {
                    "rf": {"param_grid": {"n_estimators": list(range(1, 201)), "max_depth": list(range(1, 201))}}
                }
            },
        },
        ["with their tuning fits", "model fits"],
    ),
    "chunk_size-1": ({"mapping": {"chunk_size": 1}}, ["mapping.chunk_size: 1 x 1 cells", "overhead", "at least 16"]),
    "chunk_size-below-minimum": ({"mapping": {"chunk_size": MIN_CHUNK_SIZE - 1}}, ["mapping.chunk_size"]),
    "chunk_size-0": ({"mapping": {"chunk_size": 0}}, ["mapping.chunk_size"]),
    "chunk_size-too-large": (
        {"mapping": {"chunk_size": 40000}},
        ["mapping.chunk_size: 40000 x 40000 cells x 1 factors", "GiB per block", "give at most"],
    ),
    "class_sample-1": (
        {"mapping": {"class_sample": 1}},
        ["mapping: class_sample: 1 cells cannot place 5 classes", "at least 500"],
    ),
    "class_sample-below-100-per-class": (
        {"mapping": {"class_sample": 999, "n_classes": 10}},
        ["class_sample: 999", "at least 1000"],
    ),
    "class_sample-natural-breaks-too-large": (
        {"mapping": {"class_sample": 10**6}},
        ["class_sample: 1000000 cells is too many", "natural breaks", "at most 100,000"],
    ),
    "class_sample-quantile-too-large": (
        {"mapping": {"class_sample": 10**9, "classification": "quantile"}},
        ["class_sample", "at most 10,000,000"],
    ),
    "label-parent-path": (
        {"models": [{"name": "random_forest", "label": "../../x"}]},
        ["models.0.label: '../../x' is not a name", "output files"],
    ),
    "label-absolute-path": ({"models": [{"name": "random_forest", "label": "/tmp/x"}]}, ["models.0.label"]),
    "label-subfolder": ({"models": [{"name": "random_forest", "label": "rf/v2"}]}, ["models.0.label"]),
    "label-backslash": ({"models": [{"name": "random_forest", "label": "..\\x"}]}, ["models.0.label"]),
    "label-dot": ({"models": [{"name": "random_forest", "label": "."}]}, ["models.0.label: '.'"]),
    "label-dotdot": ({"models": [{"name": "random_forest", "label": ".."}]}, ["models.0.label: '..'"]),
    "label-hidden": ({"models": [{"name": "random_forest", "label": ".rf"}]}, ["models.0.label"]),
    "label-space": ({"models": [{"name": "random_forest", "label": "random forest"}]}, ["models.0.label"]),
    "label-empty": ({"models": [{"name": "random_forest", "label": ""}]}, ["models.0.label"]),
    "label-too-long": ({"models": [{"name": "random_forest", "label": "r" * 65}]}, ["models.0.label"]),
    "model-name-path": ({"models": [{"name": "../random_forest"}]}, ["models.0.name"]),
    "seed-true": ({"seed": True}, ["seed: true is not a number"]),
    "repeats-true": ({"validation": {"repeats": True}}, ["validation.repeats: true is not a number"]),
    "n_jobs-true": ({"validation": {"n_jobs": True}}, ["validation.n_jobs: true is not a number"]),
    "chunk_size-yes": ({"mapping": {"chunk_size": True}}, ["mapping.chunk_size: true is not a number"]),
    "num_workers-true": ({"compute": {"num_workers": True}}, ["compute.num_workers: true is not a number"]),
    "meta-n_jobs-0": (
        {"meta_blockwise": {"experiment": {"n_jobs": 0}}},
        ["meta_blockwise.experiment.n_jobs: 0 processes"],
    ),
    "scheme-label-path": (
        {"validation": {"schemes": [{"name": "random", "label": "../folds"}]}},
        ["validation.schemes.0.label: '../folds' is not a name"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_setting_is_refused_at_load_naming_the_key(case):
    sections, needles = BAD_SETTINGS[case]
    _refused(_base(**sections), *needles)


GOOD_SETTINGS = {
    "seed-0": {"seed": 0},
    "seed-max": {"seed": SEED_MAX},
    "n_jobs-all": {"validation": {"n_jobs": -1}},
    "n_jobs-all-cores-explicit": {"validation": {"n_jobs": CORES}},
    "n_jobs-minus-cores": {"validation": {"n_jobs": -CORES}},
    "num_workers-1": {"compute": {"num_workers": 1}},
    "scheduler-synchronous": {"compute": {"scheduler": "synchronous"}},
    "scheduler-tcp": {"compute": {"scheduler": "tcp://10.0.0.5:8786"}},
    "scheduler-tls-host": {"compute": {"scheduler": "tls://scheduler.example.org:8786"}},
    "scheduler-host-port": {"compute": {"scheduler": "localhost:8786"}},
    "scheduler-inproc": {"compute": {"scheduler": "inproc://192.168.1.2/1234/1"}},
    "scheduler-ipv6": {"compute": {"scheduler": "tcp://[::1]:8786"}},
    "chunk_size-minimum": {"mapping": {"chunk_size": MIN_CHUNK_SIZE}},
    "class_sample-100-per-class": {"mapping": {"class_sample": 500}},
    "labels-with-dash-dot-plus": {
        "models": [
            {"name": "random_forest", "label": "EFO-MLP"},
            {"name": "decision_tree", "label": "dt.v2"},
            {"name": "logistic_regression", "label": "lr+l2"},
        ]
    },
    "big-but-sane-validation": {"validation": {"repeats": 100, "folds": 10}},
}


@pytest.mark.parametrize("case", list(GOOD_SETTINGS))
def test_sane_settings_are_accepted(case):
    study_from_dict(_base(**GOOD_SETTINGS[case]))


#: Written for a larger machine: they run here, with a warning naming the key and this machine's cores.
FOREIGN_MACHINE = {
    "n_jobs-above-cores": ({"validation": {"n_jobs": CORES + 1}}, f"n_jobs: {CORES + 1} processes"),
    "n_jobs-below-minus-cores": ({"validation": {"n_jobs": -CORES - 1}}, "one process runs"),
    "num_workers-above-cores": ({"compute": {"num_workers": CORES + 1}}, "compute.num_workers"),
}


@pytest.mark.parametrize("case", list(FOREIGN_MACHINE))
def test_counts_beyond_this_machine_run_with_a_warning(case):
    sections, needle = FOREIGN_MACHINE[case]
    with pytest.warns(SusmapWarning, match=re.escape(needle)):
        study_from_dict(_base(**sections))


def test_example_and_shipped_studies_still_load():
    """The examples keep loading: the new bounds refuse no study that ran before."""
    root = Path(__file__).resolve().parents[1] / "examples"
    for path in sorted(root.glob("*.yaml")):
        load_study(path)


# --------------------------------------------------------------------------- model parameters


BAD_PARAMS = {
    "n_estimators-text": ("random_forest", {"n_estimators": "many"}, ["params.n_estimators", "int in the range [1"]),
    "n_estimators-0": ("random_forest", {"n_estimators": 0}, ["params.n_estimators", "got 0"]),
    "svm-C-negative": ("support_vector_machine", {"C": -1}, ["params.C", "(0.0, inf]", "SVC"]),
    "svm-C-1e30-yaml-text": ("support_vector_machine", {"C": "1e30"}, ["params.C", "YAML reads 1e30 as text"]),
    "svm-C-1e30": ("support_vector_machine", {"C": 1e30}, ["params.C", "libsvm does not converge", "C <= 1e+06"]),
    "max_depth-negative": ("decision_tree", {"max_depth": -1}, ["params.max_depth", "or None", "got -1"]),
    "rf-max_depth-negative": ("random_forest", {"max_depth": -1}, ["params.max_depth"]),
    "knn-n_neighbors-0": ("k_nearest_neighbors", {"n_neighbors": 0}, ["params.n_neighbors"]),
    "knn-weights": ("k_nearest_neighbors", {"weights": "closest"}, ["params.weights", "'uniform'"]),
    "lr-C-0": ("logistic_regression", {"C": 0}, ["params.C"]),
    "hgb-learning_rate-0": ("gradient_boosting", {"learning_rate": 0}, ["params.learning_rate"]),
    "tree-criterion": ("decision_tree", {"criterion": "purity"}, ["params.criterion", "'gini'"]),
    "ann-hidden_units-0": ("ann", {"hidden_units": 0}, ["params.hidden_units", "at least one unit"]),
    "ann-activation": ("ann", {"activation": "sigmoid"}, ["params.activation"]),
    "rf-min_samples_leaf-0": ("random_forest", {"min_samples_leaf": 0}, ["params.min_samples_leaf"]),
}


@pytest.mark.parametrize("case", list(BAD_PARAMS))
def test_model_parameters_checked_from_the_estimators_constraints(case):
    name, params, needles = BAD_PARAMS[case]
    with pytest.raises(StudyConfigError) as info:
        make_estimator(name, params, where="study.yaml: models.1")
    msg = str(info.value)
    assert msg.startswith("study.yaml: models.1.params.")
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in: {msg}"


def test_check_models_names_the_index_and_default_prefix():
    study = study_from_dict(
        _base(models=[{"name": "logistic_regression"}, {"name": "random_forest", "params": {"n_estimators": 0}}])
    )
    with pytest.raises(StudyConfigError, match=r"^s\.yaml: models\.1\.params\.n_estimators: must be an int"):
        check_models(study.models, seed=study.seed, source="s.yaml")
    # without a study key the model's name is the prefix, as before
    with pytest.raises(StudyConfigError, match=r"^models: random_forest\.params\.n_estimators"):
        make_estimator("random_forest", {"n_estimators": 0})


def test_valid_parameters_presets_and_wrapped_estimators_build():
    assert make_estimator("support_vector_machine", {"C": MAX_SVM_C}).estimator.C == MAX_SVM_C
    assert make_estimator("support_vector_machine", {"preset": "paper001"}) is not None
    assert make_estimator("random_forest", {"preset": "paper001"}).n_estimators == 62
    assert make_estimator("decision_tree", {"max_depth": None}).max_depth is None
    assert make_estimator("ann", {"hidden_units": 3}).hidden_layer_sizes == (3,)


TUNING = {
    "grid-value": ({"rf": {"param_grid": {"n_estimators": [100, 0]}}}, "validation.tuning.rf.param_grid.n_estimators"),
    "prefixed-name": ({"rf": {"param_grid": {"model__max_depth": [-1]}}}, "param_grid.model__max_depth: must be"),
    "list-of-grids": (
        {"rf": {"param_grid": [{"max_depth": [3]}, {"min_samples_leaf": [0]}]}},
        "param_grid.min_samples_leaf",
    ),
    "distribution-list": (
        {"rf": {"param_distributions": {"max_features": ["sqrt", "most"]}, "n_iter": 2}},
        "param_distributions.max_features",
    ),
    "svm-inner-C": ({"svm": {"param_grid": {"estimator__C": [1.0, 1e30]}}}, "param_grid.estimator__C: C = 1e+30"),
}


@pytest.mark.parametrize("case", list(TUNING))
def test_tuning_values_are_checked_before_any_data(case):
    tuning, needle = TUNING[case]
    models = [{"name": "random_forest", "label": "rf"}, {"name": "support_vector_machine", "label": "svm"}]
    study = study_from_dict(_base(models=models, validation={"tuning": tuning}))
    with pytest.raises(StudyConfigError) as info:
        check_tuning(study.models, study.validation.tuning, seed=0, source="s.yaml")
    assert str(info.value).startswith("s.yaml: validation.tuning.")
    assert needle in str(info.value)


def test_sane_tuning_passes():
    models = [{"name": "random_forest", "label": "rf"}]
    tuning = {"rf": {"param_grid": {"max_depth": [3, None], "model__n_estimators": [10, 50]}}}
    study = study_from_dict(_base(models=models, validation={"tuning": tuning}))
    check_tuning(study.models, study.validation.tuning, seed=0, source="s.yaml")


def test_neighbours_above_the_smallest_training_part_are_refused():
    knn = make_estimator("k_nearest_neighbors", {"n_neighbors": 90})
    X, y = np.zeros((100, 2)), np.tile([0, 1], 50)  # noqa: N806
    splits = [("random", KFold(5).split(X, y))]  # training parts of 80
    with pytest.raises(StudyConfigError, match=r"s\.yaml: models\.0\.params\.n_neighbors: 90 neighbours.*holds 80"):
        check_neighbours([("s.yaml: models.0", knn)], splits)
    check_neighbours([("s.yaml: models.0", make_estimator("k_nearest_neighbors", {"n_neighbors": 80}))], splits[:0])
    check_neighbours([("m", make_estimator("k_nearest_neighbors", {"n_neighbors": 80}))], [("r", KFold(5).split(X))])


def test_tuned_neighbours_are_checked_against_the_inner_training_part():
    knn = make_estimator("k_nearest_neighbors", {"n_neighbors": 5})
    X, y = np.zeros((100, 2)), np.tile([0, 1], 50)  # noqa: N806
    tuning = {"s.yaml: models.0": {"param_grid": {"n_neighbors": [5, 70]}, "inner_folds": 3}}
    with pytest.raises(StudyConfigError, match=r"models\.0: n_neighbors up to 70 .* at most 53 of the 80 samples"):
        check_neighbours([("s.yaml: models.0", knn)], [("random", KFold(5).split(X, y))], tuning)
    tuning = {"s.yaml: models.0": {"param_grid": {"model__n_neighbors": [5, 53]}, "inner_folds": 3}}
    check_neighbours([("s.yaml: models.0", knn)], [("random", KFold(5).split(X, y))], tuning)


def test_no_neighbour_model_draws_no_split():
    def boom():
        raise AssertionError("splits drawn without a neighbour model")
        yield

    check_neighbours([("m", make_estimator("random_forest"))], [("r", boom())])


def test_sweep_refuses_seeds_beyond_2_32_before_reading_data(tmp_path):
    study = study_from_dict(_base(seed=SEED_MAX - 1, models=[{"name": "decision_tree", "label": "dt"}]), base=tmp_path)
    with pytest.raises(StudyConfigError, match=r"sweep: the 5 repeats use seeds"):
        run_sweep(study, "dt", {"max_depth": [2, 3]}, repeats=5, out_dir=tmp_path / "out")
    with pytest.raises(StudyConfigError, match=r"--vary max_depth=-1: models\.0\.params\.max_depth"):
        run_sweep(study, "dt", {"max_depth": [2, -1]}, repeats=1, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sweep_refuses_neighbours_above_its_training_part(synthetic, make_study, tmp_path):
    study = study_from_dict(make_study(models=[{"name": "k_nearest_neighbors", "label": "knn"}]))
    with pytest.raises(StudyConfigError, match=r"--vary n_neighbors=90: models\.0\.params\.n_neighbors: 90 .* holds"):
        run_sweep(study, "knn", {"n_neighbors": [5, 90]}, repeats=1, out_dir=tmp_path / "sweep")
    assert not (tmp_path / "sweep").exists()


# --------------------------------------------------------------------------- the YAML file itself


def _yaml(tmp_path: Path, text: str | bytes, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


VALID_YAML = yaml.safe_dump(_base(), sort_keys=False)

DUPLICATES = {
    "top-level-section": (
        "grid: {template: dem.tif}\nlayers:\n  - {name: a, path: a.tif}\n"
        "inventory: {path: e.csv}\nlayers:\n  - {name: b, path: b.tif}\n",
        "study.yaml:5: key 'layers' given twice (lines 2 and 5)",
    ),
    "nested-key": (
        VALID_YAML + "validation:\n  folds: 3\n  repeats: 2\n  folds: 10\n",
        "key 'folds' given twice",
    ),
    "flow-mapping": (VALID_YAML + "mapping: {n_classes: 5, n_classes: 3}\n", "key 'n_classes' given twice"),
    "in-a-list-item": (
        VALID_YAML.replace("- name: a\n", "- name: a\n  name: b\n", 1),
        "key 'name' given twice",
    ),
}


@pytest.mark.parametrize("case", list(DUPLICATES))
def test_duplicate_yaml_keys_are_refused_with_both_lines(case, tmp_path):
    text, needle = DUPLICATES[case]
    with pytest.raises(StudyConfigError) as info:
        load_study(_yaml(tmp_path, text))
    msg = str(info.value)
    assert needle in msg and "merge them into one" in msg, msg
    assert str(tmp_path / "study.yaml") in msg


def test_yaml_merge_keys_may_override_and_duplicate_lines_are_exact():
    data = parse_study_yaml("base: &b {folds: 3, repeats: 2}\nvalidation:\n  <<: *b\n  folds: 5\n", "s.yaml")
    assert data["validation"] == {"folds": 5, "repeats": 2}
    with pytest.raises(StudyConfigError, match=r"^s\.yaml:4: key 'a' given twice \(lines 2 and 4\)"):
        parse_study_yaml("x: 1\na: 1\nb: 2\na: 3\n", "s.yaml")


ENCODINGS = {
    "latin-1": ("name: Ladera de Peñas\n".encode("latin-1"), ["not UTF-8", "byte 0xf1 at line 1", "save it as UTF-8"]),
    "latin-1-second-line": (
        "seed: 1\nname: caf\u00e9\n".encode("latin-1"),
        ["not UTF-8", "byte 0xe9 at line 2, column 10", "offset 17"],
    ),
    "utf-16": ("name: x\n".encode("utf-16"), ["not UTF-8 (it is UTF-16)", "save it as UTF-8"]),
    "binary": (b"II*\x00\x08\x00\x00\x00" + bytes(range(256)), ["not a text file", "binary"]),
}


@pytest.mark.parametrize("case", list(ENCODINGS))
def test_encoding_errors_are_named_as_such(case, tmp_path):
    raw, needles = ENCODINGS[case]
    with pytest.raises(StudyConfigError) as info:
        load_study(_yaml(tmp_path, raw))
    msg = str(info.value)
    assert msg.startswith(str(tmp_path / "study.yaml") + ": ")
    for needle in needles:
        assert needle in msg, f"{needle!r} not in: {msg}"


def test_utf8_with_byte_order_mark_is_read(tmp_path):
    study = load_study(_yaml(tmp_path, "\ufeff".encode() + "name: Peñas\n".encode() + VALID_YAML.encode()))
    assert study.name == "Peñas"


def test_directory_is_called_a_directory_and_missing_file_not_found(tmp_path):
    with pytest.raises(StudyConfigError, match=r"is a directory, not a study file"):
        load_study(tmp_path)
    with pytest.raises(InputFileError, match=r"study file not found"):
        load_study(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- through the command line


def _assert_exit_2(code: int, stderr: str, needles: list[str]) -> None:
    assert code == 2, f"exit {code}; stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in: {lines[0]}"


def _out_folder(parent: Path) -> Path:
    out = parent / "results"
    out.mkdir()
    (out / "keep.txt").write_bytes(KEEP)
    return out


def _untouched(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_bytes() == KEEP
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".results.")]


CLI_CASES = {
    "seed": (lambda m: m(seed=-1), ["study.yaml", "seed: -1"]),
    "n_jobs": (lambda m: m(validation={"folds": 3, "repeats": 1, "n_jobs": 0}), ["study.yaml", "validation.n_jobs"]),
    "num_workers": (lambda m: m(compute={"num_workers": -2}), ["study.yaml", "compute.num_workers"]),
    "scheduler": (lambda m: m(compute={"scheduler": "thread"}), ["study.yaml", "compute.scheduler"]),
    "repeats": (lambda m: m(validation={"folds": 5, "repeats": 10**9}), ["study.yaml", "model fits"]),
    "chunk_size": (lambda m: m(mapping={"chunk_size": 1}), ["study.yaml", "mapping.chunk_size"]),
    "class_sample": (lambda m: m(mapping={"class_sample": 1}), ["study.yaml", "class_sample"]),
    "label": (
        lambda m: m(models=[{"name": "logistic_regression", "label": "../../x"}]),
        ["study.yaml", "models.0.label"],
    ),
    "n_estimators": (
        lambda m: m(models=[{"name": "logistic_regression"}, {"name": "random_forest", "params": {"n_estimators": 0}}]),
        ["study.yaml", "models.1.params.n_estimators"],
    ),
    "svm-C": (
        lambda m: m(models=[{"name": "support_vector_machine", "params": {"C": 1e30}}]),
        ["study.yaml", "models.0.params.C", "libsvm"],
    ),
    "knn-neighbours-above-fold": (
        lambda m: m(models=[{"name": "k_nearest_neighbors", "params": {"n_neighbors": 100}}]),
        ["study.yaml", "models.0.params.n_neighbors: 100 neighbours", "smallest training part"],
    ),
    "tuning-value": (
        lambda m: m(
            models=[{"name": "random_forest", "label": "rf"}],
            validation={"folds": 3, "repeats": 1, "tuning": {"rf": {"param_grid": {"n_estimators": [0]}}}},
        ),
        ["study.yaml", "validation.tuning.rf.param_grid.n_estimators"],
    ),
    "knn-tuned-neighbours-above-inner-fold": (
        lambda m: m(
            models=[{"name": "k_nearest_neighbors", "label": "knn"}],
            validation={
                "folds": 3,
                "repeats": 1,
                "schemes": ["random"],
                "tuning": {"knn": {"param_grid": {"n_neighbors": [5, 79]}, "inner_folds": 3}},
            },
        ),
        ["study.yaml", "models.0: n_neighbors up to 79", "inner folds"],
    ),
    "duplicate-key": (
        lambda m: yaml.safe_dump(m(), sort_keys=False) + "layers: []\n",
        ["study.yaml:", "key 'layers' given twice"],
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_exits_2_with_one_line_and_keeps_outputs(case, synthetic, make_study):
    build, needles = CLI_CASES[case]
    study = build(make_study)
    text = study if isinstance(study, str) else yaml.safe_dump(study, sort_keys=False)
    path = synthetic["dir"] / "study.yaml"
    path.write_text(text, encoding="utf-8")
    out = _out_folder(synthetic["dir"])
    before = sorted(p.name for p in synthetic["dir"].parent.iterdir())
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    _assert_exit_2(result.exit_code, result.stderr, needles)
    _untouched(out)
    assert sorted(p.name for p in synthetic["dir"].parent.iterdir()) == before  # nothing written beside


def _susmap() -> list[str]:
    script = Path(sys.executable).with_name("susmap")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "susmap.cli"]


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("latin-1", ["study.yaml: not UTF-8 (byte 0xf1", "save it as UTF-8"]),
        ("directory", ["is a directory"]),
        ("n_estimators", ["study.yaml: models.0.params.n_estimators", "'many'"]),
    ],
)
def test_real_process_one_line_no_traceback(case, needles, synthetic, make_study):
    path = synthetic["dir"] / "study.yaml"
    if case == "latin-1":
        path.write_bytes(yaml.safe_dump(make_study(name="Peñas"), allow_unicode=True).encode("latin-1"))
    elif case == "directory":
        path.mkdir()
    else:
        study = make_study(models=[{"name": "random_forest", "params": {"n_estimators": "many"}}])
        path.write_text(yaml.safe_dump(study), encoding="utf-8")
    out = _out_folder(synthetic["dir"])
    proc = subprocess.run(
        [*_susmap(), "run", "study.yaml", "--out", "results"],
        cwd=synthetic["dir"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _assert_exit_2(proc.returncode, proc.stderr, needles)
    _untouched(out)
