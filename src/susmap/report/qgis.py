"""QGIS and SLD styles and a QGIS project, written as plain XML (no QGIS needed).

* :func:`paletted_qml` / :func:`pseudocolor_qml`: QGIS layer styles (``.qml``)
  for the class raster (one palette entry per class) and the probability
  raster (a continuous ramp over [0, 1]); QGIS applies ``classes.qml`` to
  ``classes.tif`` by itself when they sit side by side.
* :func:`classes_sld` / :func:`ramp_sld`: the same as OGC SLD 1.0
  ``RasterSymbolizer`` colour maps, for other GIS.
* :func:`categorized_qml`: a point layer coloured by the values of one field
  (events and non-events, fold ids).
* :func:`write_qgs`: a QGIS 3 project (``.qgs``) of :class:`ProjectLayer`,
  with paths relative to the project file.

Colours are ``#rrggbb`` strings; the callers pass the colours of the PNG.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ProjectLayer",
    "categorized_qml",
    "classes_sld",
    "gray_qml",
    "paletted_qml",
    "pseudocolor_qml",
    "ramp_sld",
    "write_qgs",
    "write_xml",
]

QGIS_VERSION = "3.22.0-Białowieża"  # the oldest QGIS tested (Debian 12); newer ones read it
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
_SLD = "http://www.opengis.net/sld"


def _rgba(color: str, alpha: int = 255) -> str:
    c = color.lstrip("#")
    return f"{int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},{alpha}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        el.text = text
    return el


def _options(parent: ET.Element, values: dict[str, str]) -> None:
    """QGIS ≥ 3.26 ``<Option>`` map and the older ``<prop>`` list, so every QGIS 3 reads it."""
    opt = _sub(parent, "Option", type="Map")
    for k, v in values.items():
        _sub(opt, "Option", name=k, value=v, type="QString")
    for k, v in values.items():
        _sub(parent, "prop", k=k, v=v)


def _pipe_tail(pipe: ET.Element) -> None:
    _sub(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    _sub(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0", invertColors="0")
    _sub(pipe, "rasterresampler", maxOversampling="2")


def _qgis_root() -> ET.Element:
    return ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories")


def _paletted_pipe(values: Sequence[int], names: Sequence[str], colors: Sequence[str], opacity: float) -> ET.Element:
    pipe = ET.Element("pipe")
    r = _sub(pipe, "rasterrenderer", type="paletted", band="1", opacity=f"{opacity:g}", alphaBand="-1", nodataColor="")
    _sub(r, "rasterTransparency")
    pal = _sub(r, "colorPalette")
    for v, n, c in zip(values, names, colors, strict=True):
        _sub(pal, "paletteEntry", value=str(int(v)), color=c, alpha="255", label=n)
    _pipe_tail(pipe)
    return pipe


def _pseudocolor_pipe(colors: Sequence[str], vmin: float, vmax: float, opacity: float) -> ET.Element:
    pipe = ET.Element("pipe")
    r = _sub(
        pipe,
        "rasterrenderer",
        type="singlebandpseudocolor",
        band="1",
        opacity=f"{opacity:g}",
        alphaBand="-1",
        classificationMin=f"{vmin:g}",
        classificationMax=f"{vmax:g}",
        nodataColor="",
    )
    _sub(r, "rasterTransparency")
    shader = _sub(r, "rastershader")
    crs = _sub(
        shader,
        "colorrampshader",
        colorRampType="INTERPOLATED",
        classificationMode="1",
        clip="0",
        minimumValue=f"{vmin:g}",
        maximumValue=f"{vmax:g}",
        labelPrecision="2",
    )
    n = len(colors)
    stops = [(i / (n - 1), c) for i, c in enumerate(colors)] if n > 1 else [(0.0, colors[0])]
    ramp = _sub(crs, "colorramp", type="gradient", name="[source]")
    _options(
        ramp,
        {
            "color1": _rgba(colors[0]),
            "color2": _rgba(colors[-1]),
            "discrete": "0",
            "rampType": "gradient",
            "stops": ":".join(f"{f:g};{_rgba(c)}" for f, c in stops[1:-1]),
        },
    )
    for f, c in stops:
        value = vmin + f * (vmax - vmin)
        _sub(crs, "item", alpha="255", value=f"{value:g}", label=f"{value:.2f}", color=c)
    _pipe_tail(pipe)
    return pipe


def _gray_pipe(vmin: float, vmax: float, opacity: float) -> ET.Element:
    pipe = ET.Element("pipe")
    r = _sub(
        pipe,
        "rasterrenderer",
        type="singlebandgray",
        grayBand="1",
        gradient="BlackToWhite",
        opacity=f"{opacity:g}",
        alphaBand="-1",
        nodataColor="",
    )
    _sub(r, "rasterTransparency")
    ce = _sub(r, "contrastEnhancement")
    _sub(ce, "minValue", f"{vmin:g}")
    _sub(ce, "maxValue", f"{vmax:g}")
    _sub(ce, "algorithm", "StretchToMinimumMaximum")
    _pipe_tail(pipe)
    return pipe


def _categorized_renderer(field_name: str, categories: Sequence[tuple[object, str, str]], size: float) -> ET.Element:
    renderer = ET.Element(
        "renderer-v2", type="categorizedSymbol", attr=field_name, symbollevels="0", enableorderby="0", forceraster="0"
    )
    cats = _sub(renderer, "categories")
    symbols = _sub(renderer, "symbols")
    for i, (value, label, color) in enumerate(categories):
        _sub(cats, "category", value=str(value), symbol=str(i), label=label, render="true")
        sym = _sub(symbols, "symbol", type="marker", name=str(i), alpha="1", clip_to_extent="1", force_rhr="0")
        layer = _sub(sym, "layer", **{"class": "SimpleMarker", "enabled": "1", "pass": "0", "locked": "0"})
        _options(
            layer,
            {
                "color": _rgba(color),
                "name": "circle",
                "outline_color": "35,35,35,255",
                "outline_style": "no",
                "outline_width": "0",
                "size": f"{size:g}",
                "size_unit": "MM",
            },
        )
    return renderer


def _raster_style(pipe: ET.Element) -> ET.Element:
    root = _qgis_root()
    root.append(pipe)
    _sub(root, "blendMode", "0")
    return root


def paletted_qml(
    values: Sequence[int], names: Sequence[str], colors: Sequence[str], opacity: float = 1.0
) -> ET.Element:
    """QGIS style of a class raster: one palette entry (value, colour, label) per class."""
    return _raster_style(_paletted_pipe(values, names, colors, opacity))


def pseudocolor_qml(colors: Sequence[str], vmin: float = 0.0, vmax: float = 1.0, opacity: float = 1.0) -> ET.Element:
    """QGIS style of a continuous raster: ``colors`` evenly spaced over [vmin, vmax], interpolated."""
    return _raster_style(_pseudocolor_pipe(colors, vmin, vmax, opacity))


def gray_qml(vmin: float, vmax: float, opacity: float = 1.0) -> ET.Element:
    """QGIS style of a grey raster (a hillshade) stretched over [vmin, vmax]."""
    return _raster_style(_gray_pipe(vmin, vmax, opacity))


def categorized_qml(field_name: str, categories: Sequence[tuple[object, str, str]], size: float = 1.6) -> ET.Element:
    """QGIS style of a point layer coloured by ``field_name``: ``(value, label, colour)`` per category."""
    root = _qgis_root()
    root.append(_categorized_renderer(field_name, categories, size))
    _sub(root, "layerGeometryType", "0")
    return root


def _sld_root(name: str, title: str) -> tuple[ET.Element, ET.Element]:
    ET.register_namespace("", _SLD)
    ET.register_namespace("ogc", "http://www.opengis.net/ogc")
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    ET.register_namespace("xsi", "http://www.w3.org/2001/XMLSchema-instance")
    root = ET.Element(
        f"{{{_SLD}}}StyledLayerDescriptor",
        {
            "version": "1.0.0",
            "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation": (
                "http://www.opengis.net/sld http://schemas.opengis.net/sld/1.0.0/StyledLayerDescriptor.xsd"
            ),
        },
    )
    layer = _sub(root, f"{{{_SLD}}}NamedLayer")
    _sub(layer, f"{{{_SLD}}}Name", name)
    style = _sub(layer, f"{{{_SLD}}}UserStyle")
    _sub(style, f"{{{_SLD}}}Title", title)
    rule = _sub(_sub(style, f"{{{_SLD}}}FeatureTypeStyle"), f"{{{_SLD}}}Rule")
    sym = _sub(rule, f"{{{_SLD}}}RasterSymbolizer")
    _sub(sym, f"{{{_SLD}}}Opacity", "1.0")
    return root, sym


def classes_sld(name: str, values: Sequence[int], names: Sequence[str], colors: Sequence[str]) -> ET.Element:
    """SLD 1.0 style of a class raster: a ``values`` colour map, one entry per class (0 = transparent)."""
    root, sym = _sld_root(name, f"{name}: susceptibility classes")
    cmap = _sub(sym, f"{{{_SLD}}}ColorMap", type="values")
    _sub(cmap, f"{{{_SLD}}}ColorMapEntry", color="#000000", quantity="0", label="no data", opacity="0")
    for v, n, c in zip(values, names, colors, strict=True):
        _sub(cmap, f"{{{_SLD}}}ColorMapEntry", color=c, quantity=str(int(v)), label=n, opacity="1")
    return root


def ramp_sld(name: str, colors: Sequence[str], vmin: float = 0.0, vmax: float = 1.0) -> ET.Element:
    """SLD 1.0 style of a continuous raster: ``colors`` evenly spaced over [vmin, vmax] (a ramp)."""
    root, sym = _sld_root(name, f"{name}: probability of an event")
    cmap = _sub(sym, f"{{{_SLD}}}ColorMap", type="ramp")
    n = len(colors)
    for i, c in enumerate(colors):
        value = vmin + (i / (n - 1) if n > 1 else 0.0) * (vmax - vmin)
        _sub(cmap, f"{{{_SLD}}}ColorMapEntry", color=c, quantity=f"{value:g}", label=f"{value:.2f}", opacity="1")
    return root


def write_xml(root: ET.Element, path: Path, *, qgis: bool = True) -> Path:
    """Write ``root`` indented, with QGIS's doctype when ``qgis``; returns ``path``."""
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    head = _DOCTYPE if qgis else '<?xml version="1.0" encoding="UTF-8"?>\n'
    Path(path).write_text(head + text + "\n", encoding="utf-8")
    return Path(path)


@dataclass
class ProjectLayer:
    """One layer of a QGIS project.

    ``source`` is the file relative to the project (``samples.gpkg``);
    ``style`` is a QGIS style root (from the functions above) whose renderer
    is embedded; ``visible`` is the layer's check box.
    """

    id: str
    name: str
    source: str
    style: ET.Element
    kind: str = "raster"  # or "vector"
    table: str | None = None  # a GeoPackage layer name
    visible: bool = True
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def layer_id(self) -> str:
        """``<id>_<32 hex digits>`` like QGIS's own ids (QGIS may replace a bare one), the same on every run."""
        return f"{self.id}_{hashlib.md5(f'{self.id}|{self.source}'.encode()).hexdigest()}"

    @property
    def datasource(self) -> str:
        path = f"./{self.source}"
        return f"{path}|layername={self.table}" if self.table else path


def _srs(parent: ET.Element, wkt: str, authid: str | None) -> None:
    srs = _sub(parent, "spatialrefsys", nativeFormat="Wkt")
    _sub(srs, "wkt", wkt)
    _sub(srs, "proj4", "")
    _sub(srs, "srsid", "0")
    _sub(srs, "srid", authid.split(":")[-1] if authid else "0")
    _sub(srs, "authid", authid or "")
    _sub(srs, "description", "")
    _sub(srs, "projectionacronym", "")
    _sub(srs, "ellipsoidacronym", "")
    _sub(srs, "geographicflag", "false")


def _extent(parent: ET.Element, tag: str, extent: Sequence[float]) -> None:
    el = _sub(parent, tag)
    for name, value in zip(("xmin", "ymin", "xmax", "ymax"), extent, strict=True):
        _sub(el, name, repr(float(value)))


def write_qgs(
    path: Path,
    layers: Sequence[ProjectLayer],
    *,
    title: str,
    crs_wkt: str,
    authid: str | None,
    extent: Sequence[float],
) -> Path:
    """Write a QGIS 3 project of ``layers`` (first = top of the legend) with relative paths.

    The project CRS is ``crs_wkt`` (``authid`` such as ``EPSG:32617`` when
    known) and the map opens on ``extent`` (xmin, ymin, xmax, ymax).
    """
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION, saveUser="", saveUserFull="")
    _sub(root, "homePath", path="")
    _sub(root, "title", title)
    _srs(_sub(root, "projectCrs"), crs_wkt, authid)
    tree = _sub(root, "layer-tree-group", name="", checked="Qt::Checked", expanded="1")
    _sub(tree, "customproperties")
    for lyr in layers:
        node = _sub(
            tree,
            "layer-tree-layer",
            id=lyr.layer_id,
            name=lyr.name,
            source=lyr.datasource,
            providerKey="gdal" if lyr.kind == "raster" else "ogr",
            checked="Qt::Checked" if lyr.visible else "Qt::Unchecked",
            expanded="1" if lyr.visible else "0",
        )
        _sub(node, "customproperties")
    canvas = _sub(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    _sub(canvas, "units", "meters")
    _extent(canvas, "extent", extent)
    _sub(canvas, "rotation", "0")
    _srs(_sub(canvas, "destinationsrs"), crs_wkt, authid)
    _sub(canvas, "rendermaptile", "0")
    maplayers = _sub(root, "projectlayers")
    for lyr in layers:
        attrs = {"type": lyr.kind, "hasScaleBasedVisibilityFlag": "0", "autoRefreshEnabled": "0"}
        if lyr.kind == "vector":
            attrs |= {"geometry": "Point", "wkbType": "Point", "simplifyDrawingHints": "0"}
        ml = _sub(maplayers, "maplayer", **attrs)
        _extent(ml, "extent", extent)
        _sub(ml, "id", lyr.layer_id)
        _sub(ml, "datasource", lyr.datasource)
        _sub(ml, "layername", lyr.name)
        _srs(_sub(ml, "srs"), crs_wkt, authid)
        if lyr.kind == "raster":
            _sub(ml, "provider", "gdal")
        else:
            _sub(ml, "provider", "ogr", encoding="UTF-8")
        for child in lyr.style:
            if child.tag in ("pipe", "renderer-v2", "blendMode"):
                ml.append(child)
        if lyr.kind == "vector":
            _sub(ml, "layerOpacity", "1")
    order = _sub(root, "layerorder")
    for lyr in layers:
        _sub(order, "layer", id=lyr.layer_id)
    props = _sub(root, "properties")
    paths = _sub(props, "Paths")
    _sub(paths, "Absolute", "false", type="bool")
    srs = _sub(props, "SpatialRefSys")  # QGIS reads projectCrs only with projections enabled
    _sub(srs, "ProjectionsEnabled", "1", type="int")
    return write_xml(root, path)
