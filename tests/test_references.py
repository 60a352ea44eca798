"""References: formatting on hand-written expectations, every cited key resolves, `susmap cite`, CITATION.cff."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import yaml
from typer.testing import CliRunner

from susmap.cli import app
from susmap.encoding import ENCODING_METHODS, ENCODING_REFERENCES
from susmap.errors import SusmapError
from susmap.factors import available_factors
from susmap.mapping.breaks import CLASSIFICATION_REFERENCES
from susmap.models import available_models
from susmap.references import (
    BLOCKWISE_REFERENCES,
    PAPER_KEYS,
    Reference,
    UnknownReferenceError,
    all_references,
    bibtex,
    reference,
)
from susmap.stages import study_references
from susmap.study import SchemeName, load_study
from susmap.validation.splitters import SCHEME_REFERENCES

ROOT = Path(__file__).resolve().parents[1]
#: Fields BibTeX's standard styles require, by entry type.
REQUIRED = {
    "article": {"author", "title", "journal", "year"},
    "book": {"author", "title", "publisher", "year"},
    "inproceedings": {"author", "title", "booktitle", "year"},
    "techreport": {"author", "title", "institution", "year"},
    "manual": {"title"},
    "misc": {"title"},
}


def parse_bibtex(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """``(type, key, fields)`` of each entry; asserts balanced braces and one ``@type{key,`` per entry."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "{" and text[i - 1 : i] != "\\":
            depth += 1
        elif ch == "}" and text[i - 1 : i] != "\\":
            depth -= 1
        assert depth >= 0, f"unbalanced '}}' at {i}: {text[max(0, i - 40) : i + 1]!r}"
    assert depth == 0, "unbalanced braces"
    entries = []
    for chunk in re.split(r"\n(?=@)", text.strip()):
        head = re.match(r"@(\w+)\{([a-z][a-z0-9_]*),\n", chunk)
        assert head, f"entry does not start with @type{{key,: {chunk[:60]!r}"
        assert chunk.count("\n@") == 0 and chunk.rstrip().endswith("}")
        fields = dict(re.findall(r"^  (\w+) = \{(.*)\},?$", chunk, flags=re.M))
        entries.append((head.group(1), head.group(2), fields))
    return entries


def test_short_forms_one_two_and_more_authors():
    assert reference("freeman1991").short == "Freeman (1991)"
    assert reference("beven1979").short == "Beven & Kirkby (1979)"
    assert reference("nikoobakht2022").short == "Nikoobakht et al. (2022)"
    assert reference("ploton2020").short == "Ploton et al. (2020)"  # a list cut short with "others"
    assert reference("susmap").short == "the susmap developers (2026)"


def test_full_article_in_apa_style_with_doi_link():
    assert reference("beven1979").full() == (
        "Beven, K. J., & Kirkby, M. J. (1979). A physically based, variable contributing area model of basin "
        "hydrology. Hydrological Sciences Bulletin, 24(1), 43-69. https://doi.org/10.1080/02626667909491834"
    )
    assert reference("nikoobakht2022").full() == (
        "Nikoobakht, S., Azarafza, M., Akgün, H., & Derakhshani, R. (2022). Landslide Susceptibility Assessment by "
        "Using Convolutional Neural Network. Applied Sciences, 12(12), 5992. https://doi.org/10.3390/app12125992"
    )


def test_full_of_book_proceedings_and_report_without_doi():
    assert reference("wilson2000").full() == (
        "Wilson, J. P., & Gallant, J. C. (2000). Terrain Analysis: Principles and Applications. Wiley, New York."
    )
    assert reference("finn2017").full().startswith("Finn, C., Abbeel, P., & Levine, S. (2017). Model-agnostic")
    assert reference("finn2017").full().endswith("(pp. 1126-1135).")
    assert (
        reference("ng2011").full() == "Ng, A. (2011). Sparse autoencoder (CS294A lecture notes). Stanford University."
    )
    assert "Cheng, M.-Y., & Prayogo, D. (2014)" in reference("cheng2014").full()  # hyphenated first name


def test_bibtex_entry_by_hand():
    assert reference("freeman1991").bibtex() == (
        "@article{freeman1991,\n"
        "  author = {Freeman, T. G.},\n"
        "  title = {{Calculating catchment area with divergent flow based on a regular grid}},\n"
        "  journal = {Computers \\& Geosciences},\n"
        "  year = {1991},\n"
        "  volume = {17},\n"
        "  number = {3},\n"
        "  pages = {413--422},\n"
        "  doi = {10.1016/0098-3004(91)90048-I}\n"
        "}\n"
    )


def test_bibtex_escapes_special_characters_and_braces():
    ref = Reference("x2000", "book", ("Org & Co",), "100% {odd} #1 title_x", 2000, "A & B")
    text = ref.bibtex()
    assert "author = {{Org \\& Co}}" in text  # an organisation stays one name
    assert "title = {{100\\% \\{odd\\} \\#1 title\\_x}}" in text
    assert "publisher = {A \\& B}" in text
    parse_bibtex(text)


def test_bibtex_of_keys_is_deduplicated_in_the_given_order():
    text = bibtex(["band2020", "nikoobakht2022", "band2020"])
    assert [key for _, key, _ in parse_bibtex(text)] == ["band2020", "nikoobakht2022"]


def test_the_five_papers_parse_with_their_required_fields_and_dois():
    entries = parse_bibtex(bibtex(PAPER_KEYS))
    assert [key for _, key, _ in entries] == list(PAPER_KEYS)
    for kind, key, fields in entries:
        assert REQUIRED[kind] <= set(fields), f"{key}: missing {REQUIRED[kind] - set(fields)}"
        assert fields["doi"].startswith("10."), key
    dois = {key: fields["doi"] for _, key, fields in entries}
    assert dois["nikoobakht2022"] == "10.3390/app12125992"  # printed in paper 000
    assert dois["band2020"] == "10.3390/s20195609"  # printed in paper 003


def test_every_entry_makes_valid_bibtex_and_one_line_text():
    refs = all_references()
    assert len({r.key for r in refs}) == len(refs)
    for kind, key, fields in parse_bibtex(bibtex(r.key for r in refs)):
        assert REQUIRED[kind] <= set(fields), f"{key}: missing {REQUIRED[kind] - set(fields)}"
    for ref in refs:
        assert "\n" not in ref.full()
        assert not ref.doi or ref.full().endswith(f"https://doi.org/{ref.doi}")
        pages = re.search(r"pages = \{(.*)\}", ref.bibtex())
        assert pages is None or not re.search(r"\d-\d", pages.group(1)), ref.key  # ranges as 1015--1031


def test_unknown_key_is_a_susmap_error_naming_close_matches():
    with pytest.raises(UnknownReferenceError, match="nikoobakht2022") as info:
        reference("nikobakht2022")
    assert isinstance(info.value, SusmapError)
    with pytest.raises(UnknownReferenceError, match="unknown reference key 'zzz'"):
        bibtex(["zzz"])


def test_every_model_factor_scheme_classification_and_encoding_cites_resolvable_keys():
    cited = {f"model {n}": s.references for n, s in available_models().items()}
    cited |= {f"factor {n}": s.references for n, s in available_factors().items()}
    cited |= {f"scheme {n}": SCHEME_REFERENCES.get(n, ()) for n in get_args(SchemeName)}
    cited |= {f"encoding {n}": ENCODING_REFERENCES.get(n, ()) for n in ENCODING_METHODS}
    cited["meta-blockwise"] = BLOCKWISE_REFERENCES
    for what, keys in cited.items():
        assert keys, f"{what} cites nothing"
        for key in keys:
            reference(key)
    assert CLASSIFICATION_REFERENCES["natural_breaks"] == ("jenks1967",)
    for keys in CLASSIFICATION_REFERENCES.values():
        for key in keys:
            reference(key)


def test_every_paper_is_cited_by_some_model():
    cited = {key for spec in available_models().values() for key in spec.references} | set(BLOCKWISE_REFERENCES)
    assert set(PAPER_KEYS) <= cited


def test_study_references_susmap_first_then_preset_paper_models_and_schemes():
    study = load_study(ROOT / "examples" / "ecuador_lsl.yaml")
    keys = [r.key for r in study_references(study)]
    assert keys[0] == "susmap"
    assert len(keys) == len(set(keys))
    assert {"li2021", "breiman2001", "brenning2012"} <= set(keys)
    models = [m.name for m in study.models]
    assert "random_forest" in models


def test_cite_prints_the_bibtex_of_the_papers_a_study_uses():
    study_file = ROOT / "examples" / "ecuador_swarm.yaml"
    result = CliRunner().invoke(app, ["cite", str(study_file)])
    assert result.exit_code == 0, result.output
    keys = [key for _, key, _ in parse_bibtex(result.output)]
    assert keys[0] == "susmap"
    assert {"li2021", "xu2024", "band2020"} <= set(keys)  # presets paper001, paper002 and paper003
    assert "nikoobakht2022" not in keys


def test_cite_as_text_to_a_file(tmp_path):
    out = tmp_path / "refs.txt"
    study_file = ROOT / "examples" / "ecuador_lsl.yaml"
    result = CliRunner().invoke(app, ["cite", "--format", "text", "--output", str(out), str(study_file)])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("the susmap developers (2026). susmap")
    assert any(line.startswith("Li, Y., Cui, P.") and "10.3390/rs13173436" in line for line in lines)


def test_cite_on_a_missing_file_or_bad_format_fails_with_one_line(tmp_path):
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(app, ["cite", str(missing)])
    assert result.exit_code == 2
    assert "nope.yaml: study file not found" in result.output
    result = CliRunner().invoke(app, ["cite", "--format", "ris", str(ROOT / "examples" / "ecuador_lsl.yaml")])
    assert result.exit_code == 2
    assert "--format must be 'bibtex' or 'text'" in result.output


def test_models_listing_shows_each_models_references():
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "cites Nikoobakht et al. (2022) https://doi.org/10.3390/app12125992" in result.output
    assert "cites Band et al. (2020) https://doi.org/10.3390/s20195609" in result.output
    markdown = CliRunner().invoke(app, ["models", "--markdown"]).output
    assert '<a id="references"></a>' in markdown
    for name in available_models():
        assert f"- `{name}`:" in markdown


def test_citation_cff_has_the_required_keys_and_the_five_papers():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "version", "authors", "license", "date-released"):
        assert cff[key], key
    assert cff["license"] == "MIT"
    assert cff["authors"] == [{"name": "the susmap developers"}]
    dois = {ref.get("doi") for ref in cff["references"]}
    assert {reference(key).doi for key in PAPER_KEYS} <= dois


def test_readme_names_the_five_papers_with_their_dois():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# susmap\n")
    for key in PAPER_KEYS:
        ref = reference(key)
        assert ref.title in readme, key
        assert ref.doi in readme, key
