"""GIS-ready outputs: .qml / .sld styles beside the rasters, the samples' style, and the susmap.qgs project."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from conftest import write_raster
from susmap.mapping import class_names
from susmap.mapping.palette import class_colors, probability_ramp
from susmap.report.qgis import classes_sld, paletted_qml, pseudocolor_qml, ramp_sld, write_xml
from susmap.runners import run_study
from susmap.stages.gis import EVENT_COLOR, GIS_FILES, NON_EVENT_COLOR, fold_colors
from susmap.study import study_from_dict

SLD = "{http://www.opengis.net/sld}"


@pytest.fixture
def gis_run(make_study, synthetic) -> Path:
    h, w = synthetic["shape"]
    rng = np.random.default_rng(3)
    dem = (np.cumsum(rng.normal(size=(h, w)), axis=1) * 3 + 500).astype(np.float32)
    p_dem = write_raster(synthetic["dir"] / "dem.tif", dem)
    layers = [*make_study()["layers"], {"name": "dem", "path": str(p_dem), "role": "auxiliary"}]
    models = [{"name": "logistic_regression"}, {"name": "decision_tree"}]
    mapping = {"chunk_size": 32, "class_sample": 2000, "models": "all"}
    return run_study(study_from_dict(make_study(layers=layers, models=models, mapping=mapping))).out_dir


def _palette(path: Path) -> list[tuple[str, str, str]]:
    root = ET.parse(path).getroot()
    return [(e.get("value"), e.get("label"), e.get("color")) for e in root.iter("paletteEntry")]


def test_class_styles_hold_one_entry_per_class_with_the_png_colours(tmp_path):
    k = 4
    names, colors = class_names(k), class_colors(k)
    write_xml(paletted_qml(range(1, k + 1), names, colors), tmp_path / "c.qml")
    assert _palette(tmp_path / "c.qml") == [(str(i), n, c) for i, n, c in zip(range(1, 5), names, colors, strict=True)]
    write_xml(classes_sld("classes", range(1, k + 1), names, colors), tmp_path / "c.sld", qgis=False)
    entries = ET.parse(tmp_path / "c.sld").getroot().iter(f"{SLD}ColorMapEntry")
    rows = [(e.get("quantity"), e.get("label"), e.get("color")) for e in entries if e.get("quantity") != "0"]
    assert rows == [(str(i), n, c) for i, n, c in zip(range(1, 5), names, colors, strict=True)]


def test_probability_styles_are_a_ramp_over_0_1():
    ramp = [c for _, c in probability_ramp()]
    root = pseudocolor_qml(ramp)
    items = list(root.iter("item"))
    assert [float(i.get("value")) for i in items] == pytest.approx(np.linspace(0, 1, len(ramp)))
    assert [i.get("color") for i in items] == ramp
    assert next(root.iter("colorrampshader")).get("colorRampType") == "INTERPOLATED"
    entries = list(ramp_sld("probability", ramp).iter(f"{SLD}ColorMapEntry"))
    assert [e.get("color") for e in entries] == ramp
    assert float(entries[0].get("quantity")) == 0 and float(entries[-1].get("quantity")) == 1


def test_run_writes_styles_and_a_project_naming_existing_files(gis_run):
    out = gis_run
    for name in (*GIS_FILES, "hillshade.tif"):
        assert (out / name).is_file(), name
    with rasterio.open(out / "classes.tif") as src:
        k = len([t for t in src.tags().get("classes", "").split(",") if t.strip()]) or 5
    palette = _palette(out / "classes.qml")
    assert palette == [(str(i), n, c) for i, n, c in zip(range(1, k + 1), class_names(k), class_colors(k), strict=True)]
    sld = ET.parse(out / "classes.sld").getroot()
    assert len([e for e in sld.iter(f"{SLD}ColorMapEntry") if e.get("quantity") != "0"]) == k
    ET.parse(out / "probability.qml")
    ET.parse(out / "probability.sld")
    cats = {c.get("value"): c.get("label") for c in ET.parse(out / "samples.qml").getroot().iter("category")}
    assert cats == {"1": "event", "0": "non-event"}
    colors = [
        o.get("value") for o in ET.parse(out / "samples.qml").getroot().iter("Option") if o.get("name") == "color"
    ]
    assert colors == ["215,25,28,255", "158,158,158,255"] and EVENT_COLOR == "#d7191c" and NON_EVENT_COLOR == "#9e9e9e"
    with sqlite3.connect(out / "samples.gpkg") as con:
        styles = con.execute("SELECT f_table_name, useAsDefault, styleQML FROM layer_styles").fetchall()
    assert styles[0][0] == "samples" and styles[0][1] and "categorizedSymbol" in styles[0][2]
    with rasterio.open(out / "hillshade.tif") as src, rasterio.open(out / "classes.tif") as cls:
        assert src.crs == cls.crs and src.transform == cls.transform and src.nodata == 0

    project = ET.parse(out / "susmap.qgs").getroot()
    assert project.tag == "qgis" and project.find("properties/Paths/Absolute").text == "false"
    sources = [d.text for d in project.iter("datasource")]
    assert sources
    for source in sources:
        path = source.split("|")[0]
        assert path.startswith("./") and not Path(path).is_absolute()
        assert (out / path).is_file(), source
    tree = [n.get("name") for n in project.find("layer-tree-group").iter("layer-tree-layer")]
    assert tree[0] == "samples (events, non-events)"
    assert {"susceptibility classes", "probability", "hillshade"} <= set(tree)
    samples = pd.read_csv(out / "samples.csv")
    folds = [c for c in samples.columns if c.startswith("fold_")]
    assert folds and {f"folds: {c.removeprefix('fold_')}" for c in folds} <= set(tree)
    fold_layer = next(m for m in project.iter("maplayer") if m.findtext("id").startswith(f"{folds[0]}_"))
    renderer = fold_layer.find("renderer-v2")
    assert renderer.get("attr") == folds[0]
    n = int(samples[folds[0]].max()) + 1
    assert [c.get("value") for c in renderer.iter("category")][:n] == [str(i) for i in range(n)]
    assert len(fold_colors(n)) == n
    layer_ids = {m.findtext("id") for m in project.iter("maplayer")}
    assert layer_ids == {n.get("id") for n in project.iter("layer-tree-layer")}
    wkt = project.find("projectCrs/spatialrefsys/wkt").text
    with rasterio.open(out / "classes.tif") as src:
        assert rasterio.crs.CRS.from_wkt(wkt) == src.crs
        ext = project.find("mapcanvas/extent")
        got = [float(ext.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")]
        assert got == pytest.approx(list(src.bounds))
    classes_layer = next(
        m
        for m in project.iter("maplayer")
        if m.findtext("id").startswith("classes_") and m.findtext("layername") == "susceptibility classes"
    )
    per_model = sorted(p.parent.name for p in out.glob("maps/*/classes.tif"))
    assert len(per_model) == 2
    for label in per_model:
        assert _palette(out / "maps" / label / "classes.qml") == palette
        for name in ("probability.qml", "classes.sld", "probability.sld"):
            assert (out / "maps" / label / name).is_file()
    assert {f"./maps/{label}/classes.tif" for label in per_model} <= set(sources)
    assert len(list(classes_layer.iter("paletteEntry"))) == k


_QGIS_SCRIPT = r"""
import json, sys
from qgis.core import (QgsApplication, QgsMapRendererParallelJob, QgsMapSettings, QgsProject, QgsRasterLayer,
                       QgsVectorLayer)
from qgis.PyQt.QtCore import QSize
app = QgsApplication([], False)
app.setPrefixPath("/usr", True)
app.initQgis()
folder, png = sys.argv[1], sys.argv[2]
project = QgsProject.instance()
res = {"read": project.read(folder + "/susmap.qgs"), "crs": project.crs().authid(), "layers": {}}
for layer in project.mapLayers().values():
    r = layer.renderer()
    res["layers"][layer.name()] = {"valid": layer.isValid(), "renderer": r.type() if r else None}
raster = QgsRasterLayer(folder + "/classes.tif", "c")
res["classes_default"] = raster.renderer().type()
points = QgsVectorLayer(folder + "/samples.gpkg|layername=samples", "s", "ogr")
res["samples_default"] = points.renderer().type()
settings = QgsMapSettings()
root = project.layerTreeRoot()
settings.setLayers([n.layer() for n in root.findLayers() if n.isVisible()])
res["tree"] = [(n.name(), n.layer() is not None) for n in root.findLayers()]
res["drawn"] = len(settings.layers())
settings.setDestinationCrs(project.crs())
settings.setExtent(project.mapLayersByName("susceptibility classes")[0].extent())
settings.setOutputSize(QSize(400, 300))
job = QgsMapRendererParallelJob(settings)
job.start()
job.waitForFinished()
image = job.renderedImage()
res["rendered"] = image.save(png, "png")
res["colours"] = len({image.pixel(x, y) for x in range(0, 400, 7) for y in range(0, 300, 7)})
print("RESULT" + json.dumps(res), flush=True)
import os
os._exit(0)  # exitQgis() may crash at teardown in a bare interpreter
"""


def _system_qgis() -> bool:
    import subprocess

    try:
        return subprocess.run(["/usr/bin/python3", "-c", "import qgis.core"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.slow
def test_headless_qgis_opens_the_project_styled(gis_run, tmp_path):
    """Debian's python3-qgis (when installed) reads susmap.qgs: every layer valid and styled, as the files say."""
    import json
    import os
    import subprocess

    if not _system_qgis():
        pytest.skip("no headless QGIS (Debian package python3-qgis)")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    png = tmp_path / "qgis.png"
    run = subprocess.run(
        ["/usr/bin/python3", "-c", _QGIS_SCRIPT, str(gis_run), str(png)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line, run.stdout + run.stderr
    res = json.loads(line.removeprefix("RESULT"))
    assert res["read"] and res["crs"] == "EPSG:32717"
    layers = res["layers"]
    assert all(v["valid"] for v in layers.values()), layers
    assert layers["susceptibility classes"]["renderer"] == "paletted"
    assert layers["probability"]["renderer"] == "singlebandpseudocolor"
    assert layers["hillshade"]["renderer"] == "singlebandgray"
    assert layers["samples (events, non-events)"]["renderer"] == "categorizedSymbol"
    assert res["classes_default"] == "paletted"  # classes.qml beside classes.tif
    assert res["samples_default"] == "categorizedSymbol"  # the style stored in samples.gpkg
    assert len(res["tree"]) == len(layers) and all(ok for _, ok in res["tree"]), res["tree"]
    assert res["drawn"] == 3  # events, classes, hillshade checked; folds, probability, per-model maps hidden
    assert res["rendered"] and res["colours"] > 10  # a styled map, not a blank canvas


def test_hillshade_from_a_mapping_hillshade_file(make_study, synthetic):
    """``mapping.hillshade`` naming a raster file (not a layer) gives hillshade.tif and its project layer."""
    h, w = synthetic["shape"]
    dem = (np.add.outer(np.arange(h), np.arange(w)) * 2.0 + 100).astype(np.float32)
    write_raster(synthetic["dir"] / "relief.tif", dem)
    mapping = {"chunk_size": 32, "class_sample": 2000, "hillshade": "relief.tif"}
    study = study_from_dict(make_study(mapping=mapping), base=synthetic["dir"])
    out = run_study(study).out_dir
    with rasterio.open(out / "hillshade.tif") as src:
        shade = src.read(1)
    assert shade.shape == (h, w) and (shade[1:-1, 1:-1] > 0).all()
    tree = [n.get("name") for n in ET.parse(out / "susmap.qgs").getroot().iter("layer-tree-layer")]
    assert tree[-1] == "hillshade"
