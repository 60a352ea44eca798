"""One registry of the references susmap cites: the five papers it implements and every borrowed method.

A :class:`Reference` is one bibliographic entry under a short key
(``"nikoobakht2022"``). Models (``ModelSpec.references``), factors
(``FactorSpec.references``), validation schemes
(:data:`susmap.validation.splitters.SCHEME_REFERENCES`), map classifications
(:data:`susmap.mapping.breaks.CLASSIFICATION_REFERENCES`) and categorical
encodings (:data:`susmap.encoding.ENCODING_REFERENCES`) name their sources by
these keys; ``susmap cite STUDY.yaml`` prints the BibTeX of all the entries a
study uses, ``susmap models`` the references of each model.

Each entry gives what its source itself prints: authors, title, year, journal
or publisher, volume, issue, pages and DOI. A DOI is given only where it was
read from the paper or from its publisher's record; pages only where known.

The five papers (keys):

- ``nikoobakht2022``: CNN on factor windows, SVM / kNN / DT baselines (paper 000);
- ``li2021``: stacked sparse autoencoder, earthquake-induced landslides (paper 001);
- ``xu2024``: MLP trained by EFO, SCE, SOS and ESDA (paper 002);
- ``band2020``: DLNN and PSO-DLNN, gully erosion (paper 003);
- ``chen2021``: block-wise meta-learning, few-shot adaptation (paper 004).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from susmap.errors import SusmapError

__all__ = [
    "BLOCKWISE_REFERENCES",
    "KINDS",
    "OTHERS",
    "PAPER_KEYS",
    "Reference",
    "UnknownReferenceError",
    "all_references",
    "bibtex",
    "reference",
]

#: The kinds of entry, as BibTeX names them (``software`` is written as ``@misc``).
KINDS = ("article", "book", "inproceedings", "software", "manual", "techreport")

#: The keys of the five papers susmap implements, in the order of their numbers (paper 000 to 004).
PAPER_KEYS = ("nikoobakht2022", "li2021", "xu2024", "band2020", "chen2021")

#: BibTeX container field of each kind (``container`` holds the journal, book, publisher or institution).
_CONTAINER_FIELD = {
    "article": "journal",
    "book": "publisher",
    "inproceedings": "booktitle",
    "software": "publisher",
    "manual": "organization",
    "techreport": "institution",
}
_BIBTEX_TYPE = {"software": "misc"}
#: Last entry of ``Reference.authors`` when the list is cut short ("et al."; BibTeX's ``and others``).
OTHERS = "others"
_SPECIAL = re.compile(r"([&%$#_{}])")


class UnknownReferenceError(SusmapError, LookupError):
    """A reference key that is not in the registry."""


@dataclass(frozen=True)
class Reference:
    """One bibliographic entry.

    Attributes
    ----------
    key : str
        Registry and BibTeX key: first author's surname and year, lower case (``"band2020"``).
    kind : str
        One of :data:`KINDS`.
    authors : tuple of str
        ``"Last, First"`` each; an organisation is one string without a comma;
        a last entry :data:`OTHERS` (``"others"``) stands for the authors not listed.
    title, year, container
        Title, year of publication, and the journal (article), book title
        (inproceedings), publisher (book, software), organisation (manual) or
        institution (techreport).
    volume, number, pages, doi, url, note : str
        Optional; ``pages`` as ``"1015-1031"`` or an article number, ``doi``
        without ``https://doi.org/``.
    """

    key: str
    kind: str
    authors: tuple[str, ...]
    title: str
    year: int
    container: str
    volume: str = ""
    number: str = ""
    pages: str = ""
    doi: str = ""
    url: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"reference {self.key!r}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.key):
            raise ValueError(f"reference key {self.key!r}: lower-case letters, digits and '_' only")
        if not self.authors or not self.title:
            raise ValueError(f"reference {self.key!r}: needs authors and a title")

    @property
    def short(self) -> str:
        """In-text form: ``"Freeman (1991)"``, ``"Beven & Kirkby (1979)"``, ``"Nikoobakht et al. (2022)"``."""
        names = [_surname(a) for a in self.authors]
        if names[-1] == OTHERS:
            who = f"{names[0]} et al."
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} & {names[1]}"
        else:
            who = f"{names[0]} et al."
        return f"{who} ({self.year})"

    @property
    def doi_url(self) -> str:
        """``https://doi.org/<doi>``, or ``""`` without a DOI."""
        return f"https://doi.org/{self.doi}" if self.doi else ""

    def full(self) -> str:
        """One line in APA style, ending with the DOI link (or the URL) where there is one."""
        authors = _apa_authors(self.authors)
        title = _sentence_end(self.title)
        if self.kind == "article":
            where = self.container
            if self.volume:
                where += f", {self.volume}" + (f"({self.number})" if self.number else "")
            if self.pages:
                where += f", {self.pages.replace('--', '-')}"
            body = f"{title} {where}."
        elif self.kind == "inproceedings":
            pages = f" (pp. {self.pages.replace('--', '-')})" if self.pages else ""
            body = f"{title} In {self.container}{pages}."
        elif self.kind == "software":
            version = f", {self.note}" if self.note else ""
            body = f"{title[:-1]} [Computer software]{version}." + (f" {self.container}." if self.container else "")
        elif self.kind == "techreport":
            number = f" ({self.number})" if self.number else ""
            body = f"{title[:-1]}{number}. {self.container}."
        else:  # book, manual
            body = f"{title} {self.container}."
        if self.note and self.kind != "software":
            body += f" {_sentence_end(self.note[0].upper() + self.note[1:])}"
        link = self.doi_url or self.url
        return f"{authors} ({self.year}). {body}" + (f" {link}" if link else "")

    def bibtex(self) -> str:
        """The entry in BibTeX, keyed by :attr:`key`; ``&``, ``%``, ``$``, ``#``, ``_`` and braces escaped."""
        fields: list[tuple[str, str]] = [
            ("author", " and ".join(_bib_author(a) for a in self.authors)),
            ("title", "{" + _escape(self.title) + "}"),
        ]
        if self.container:
            fields.append((_CONTAINER_FIELD[self.kind], _escape(self.container)))
        fields.append(("year", str(self.year)))
        if self.volume:
            fields.append(("volume", _escape(self.volume)))
        if self.number:
            fields.append(("number", _escape(self.number)))
        if self.pages:
            fields.append(("pages", _escape(re.sub(r"(?<=\d)-(?=\d)", "--", self.pages))))
        if self.doi:
            fields.append(("doi", _escape_url(self.doi)))
        if self.url:
            fields.append(("url", _escape_url(self.url)))
        if self.kind == "software":
            fields.append(("note", "Computer software" + (f", {_escape(self.note)}" if self.note else "")))
        elif self.note:
            fields.append(("note", _escape(self.note)))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        return f"@{_BIBTEX_TYPE.get(self.kind, self.kind)}{{{self.key},\n{body}\n}}\n"


def _surname(author: str) -> str:
    """``"Nikoobakht, Shahrzad"`` → ``"Nikoobakht"``; an organisation stays whole."""
    return author.split(",", 1)[0].strip()


def _initials(first: str) -> str:
    """``"Shahab S."`` → ``"S. S."``, ``"Jean-Luc"`` → ``"J.-L."``."""
    parts = []
    for word in first.split():
        parts.append("-".join(f"{piece[0]}." for piece in word.split("-") if piece))
    return " ".join(parts)


def _apa_author(author: str) -> str:
    if "," not in author:
        return author
    last, first = (s.strip() for s in author.split(",", 1))
    return f"{last}, {_initials(first)}" if first else last


def _apa_authors(authors: tuple[str, ...]) -> str:
    names = [_apa_author(a) for a in authors]
    if names[-1] == OTHERS:
        return ", ".join(names[:-1]) + ", et al."
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + f", & {names[-1]}"


def _sentence_end(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text)


def _escape_url(text: str) -> str:
    """DOIs and URLs keep ``_`` and ``#`` (read verbatim by ``doi``/``url`` fields) but not unbalanced braces."""
    return re.sub(r"([%{}])", r"\\\1", text)


def _bib_author(author: str) -> str:
    """``"Last, First"`` as BibTeX reads it; an organisation braced so it is not split into names."""
    if author == OTHERS:
        return OTHERS
    return _escape(author) if "," in author else "{" + _escape(author) + "}"


def _package_version() -> str:
    try:
        return metadata.version("susmap")
    except metadata.PackageNotFoundError:
        return "0.0.0"


_ENTRIES: tuple[Reference, ...] = (
    # ---- susmap itself ------------------------------------------------------------------------------------------
    Reference(
        "susmap",
        "software",
        ("the susmap developers",),
        "susmap: landslide susceptibility mapping you can defend",
        2026,
        "",
        note=f"version {_package_version()}",
    ),
    # ---- the five papers ----------------------------------------------------------------------------------------
    Reference(
        "nikoobakht2022",
        "article",
        ("Nikoobakht, Shahrzad", "Azarafza, Mohammad", "Akgün, Haluk", "Derakhshani, Reza"),
        "Landslide Susceptibility Assessment by Using Convolutional Neural Network",
        2022,
        "Applied Sciences",
        volume="12",
        number="12",
        pages="5992",
        doi="10.3390/app12125992",
    ),
    Reference(
        "li2021",
        "article",
        (
            "Li, Yao",
            "Cui, Peng",
            "Ye, Chengming",
            "Marcato Junior, José",
            "Zhang, Zhengtao",
            "Guo, Jian",
            "Li, Jonathan",
        ),
        "Accurate Prediction of Earthquake-Induced Landslides Based on Deep Learning Considering Landslide Source Area",
        2021,
        "Remote Sensing",
        volume="13",
        number="17",
        pages="3436",
        doi="10.3390/rs13173436",
    ),
    Reference(
        "xu2024",
        "article",
        ("Xu, Shangshang",),
        "Fast hybrid methods for modeling landslide susceptibility in Ardal County",
        2024,
        "Scientific Reports",
        volume="14",
        doi="10.1038/s41598-024-53120-1",
    ),
    Reference(
        "band2020",
        "article",
        (
            "Band, Shahab S.",
            "Janizadeh, Saeid",
            "Pal, Subodh Chandra",
            "Saha, Asish",
            "Chakrabortty, Rabin",
            "Shokri, Manouchehr",
            "Mosavi, Amirhosein",
        ),
        "Novel Ensemble Approach of Deep Learning Neural Network (DLNN) Model and Particle Swarm Optimization (PSO) "
        "Algorithm for Prediction of Gully Erosion Susceptibility",
        2020,
        "Sensors",
        volume="20",
        number="19",
        pages="5609",
        doi="10.3390/s20195609",
    ),
    Reference(
        "chen2021",
        "article",
        (
            "Chen, Li",
            "Ding, Yulin",
            "Pirasteh, Saeid",
            "Hu, Han",
            "Zhu, Qing",
            "Ge, Xuming",
            "Zeng, Haowei",
            "Yu, Haojia",
            "Shang, Qisen",
            "Song, Yongfei",
        ),
        "Meta-learning an Intermediate Representation for Few-shot Block-wise Prediction of Landslide Susceptibility",
        2021,
        "arXiv preprint arXiv:2110.04922",
        doi="10.48550/arXiv.2110.04922",
        note="published as 'Meta-learning an intermediate representation for few-shot prediction of landslide "
        "susceptibility in large areas', International Journal of Applied Earth Observation and Geoinformation (2022)",
    ),
    # ---- terrain ------------------------------------------------------------------------------------------------
    Reference(
        "horn1981",
        "article",
        ("Horn, Berthold K. P.",),
        "Hill shading and the reflectance map",
        1981,
        "Proceedings of the IEEE",
        volume="69",
        number="1",
        pages="14-47",
        doi="10.1109/PROC.1981.11918",
    ),
    Reference(
        "zevenbergen1987",
        "article",
        ("Zevenbergen, Lyle W.", "Thorne, Colin R."),
        "Quantitative analysis of land surface topography",
        1987,
        "Earth Surface Processes and Landforms",
        volume="12",
        number="1",
        pages="47-56",
        doi="10.1002/esp.3290120107",
    ),
    Reference(
        "conrad2015",
        "article",
        (
            "Conrad, Olaf",
            "Bechtel, Benjamin",
            "Bock, Michael",
            "Dietrich, Helge",
            "Fischer, Elke",
            "Gerlitz, Lars",
            "Wehberg, Jan",
            "Wichmann, Volker",
            "Böhner, Jürgen",
        ),
        "System for Automated Geoscientific Analyses (SAGA) v. 2.1.4",
        2015,
        "Geoscientific Model Development",
        volume="8",
        number="7",
        pages="1991-2007",
        doi="10.5194/gmd-8-1991-2015",
    ),
    Reference(
        "wilson2000",
        "book",
        ("Wilson, John P.", "Gallant, John C."),
        "Terrain Analysis: Principles and Applications",
        2000,
        "Wiley, New York",
    ),
    Reference(
        "weiss2001",
        "inproceedings",
        ("Weiss, A.",),
        "Topographic position and landforms analysis",
        2001,
        "ESRI User Conference, San Diego",
        note="poster",
    ),
    Reference(
        "riley1999",
        "article",
        ("Riley, Shawn J.", "DeGloria, Stephen D.", "Elliot, Robert"),
        "A terrain ruggedness index that quantifies topographic heterogeneity",
        1999,
        "Intermountain Journal of Sciences",
        volume="5",
        pages="23-27",
    ),
    Reference(
        "wilson2007",
        "article",
        ("Wilson, Margaret F. J.", "O'Connell, Brian", "Brown, Colin", "Guinan, Janine C.", "Grehan, Anthony J."),
        "Multiscale terrain analysis of multibeam bathymetry data for habitat mapping on the continental slope",
        2007,
        "Marine Geodesy",
        volume="30",
        number="1-2",
        pages="3-35",
    ),
    # ---- hydrology ----------------------------------------------------------------------------------------------
    Reference(
        "ocallaghan1984",
        "article",
        ("O'Callaghan, John F.", "Mark, David M."),
        "The extraction of drainage networks from digital elevation data",
        1984,
        "Computer Vision, Graphics, and Image Processing",
        volume="28",
        number="3",
        pages="323-344",
        doi="10.1016/S0734-189X(84)80011-0",
    ),
    Reference(
        "freeman1991",
        "article",
        ("Freeman, T. G.",),
        "Calculating catchment area with divergent flow based on a regular grid",
        1991,
        "Computers & Geosciences",
        volume="17",
        number="3",
        pages="413-422",
        doi="10.1016/0098-3004(91)90048-I",
    ),
    Reference(
        "quinn1991",
        "article",
        ("Quinn, Paul", "Beven, Keith", "Chevallier, Pierre", "Planchon, Olivier"),
        "The prediction of hillslope flow paths for distributed hydrological modelling using digital terrain models",
        1991,
        "Hydrological Processes",
        volume="5",
        number="1",
        pages="59-79",
        doi="10.1002/hyp.3360050106",
    ),
    Reference(
        "wang2006",
        "article",
        ("Wang, Lei", "Liu, Hongxing"),
        "An efficient method for identifying and filling surface depressions in digital elevation models for "
        "hydrologic analysis and modelling",
        2006,
        "International Journal of Geographical Information Science",
        volume="20",
        number="2",
        pages="193-213",
        doi="10.1080/13658810500433453",
    ),
    Reference(
        "garbrecht1997",
        "article",
        ("Garbrecht, Jurgen", "Martz, Lawrence W."),
        "The assignment of drainage direction over flat surfaces in raster digital elevation models",
        1997,
        "Journal of Hydrology",
        volume="193",
        pages="204-213",
    ),
    Reference(
        "beven1979",
        "article",
        ("Beven, Keith J.", "Kirkby, Michael J."),
        "A physically based, variable contributing area model of basin hydrology",
        1979,
        "Hydrological Sciences Bulletin",
        volume="24",
        number="1",
        pages="43-69",
        doi="10.1080/02626667909491834",
    ),
    Reference(
        "moore1991",
        "article",
        ("Moore, Ian D.", "Grayson, Rodger B.", "Ladson, Anthony R."),
        "Digital terrain modelling: a review of hydrological, geomorphological, and biological applications",
        1991,
        "Hydrological Processes",
        volume="5",
        number="1",
        pages="3-30",
        doi="10.1002/hyp.3360050103",
    ),
    Reference(
        "moore1986",
        "article",
        ("Moore, Ian D.", "Burch, Gerald J."),
        "Physical basis of the length-slope factor in the Universal Soil Loss Equation",
        1986,
        "Soil Science Society of America Journal",
        volume="50",
        number="5",
        pages="1294-1298",
    ),
    Reference(
        "horton1945",
        "article",
        ("Horton, Robert E.",),
        "Erosional development of streams and their drainage basins; hydrophysical approach to quantitative morphology",
        1945,
        "Geological Society of America Bulletin",
        volume="56",
        number="3",
        pages="275-370",
    ),
    Reference(
        "renno2008",
        "article",
        (
            "Rennó, C. D.",
            "Nobre, A. D.",
            "Cuartas, L. A.",
            "Soares, J. V.",
            "Hodnett, M. G.",
            "Tomasella, J.",
            "Waterloo, M. J.",
        ),
        "HAND, a new terrain descriptor using SRTM-DEM: Mapping terra-firme rainforest environments in Amazonia",
        2008,
        "Remote Sensing of Environment",
        volume="112",
        number="9",
        pages="3469-3481",
        doi="10.1016/j.rse.2008.03.018",
    ),
    Reference(
        "nobre2011",
        "article",
        (
            "Nobre, A. D.",
            "Cuartas, L. A.",
            "Hodnett, M.",
            "Rennó, C. D.",
            "Rodrigues, G.",
            "Silveira, A.",
            "Waterloo, M.",
            "Saleska, S.",
        ),
        "Height Above the Nearest Drainage - a hydrologically relevant new terrain model",
        2011,
        "Journal of Hydrology",
        volume="404",
        number="1-2",
        pages="13-29",
        doi="10.1016/j.jhydrol.2011.03.051",
    ),
    Reference(
        "eilander2021",
        "article",
        ("Eilander, Dirk", "others"),
        "A hydrography upscaling method for scale-invariant parametrization of distributed hydrological models",
        2021,
        "Hydrology and Earth System Sciences",
        volume="25",
        url="https://github.com/Deltares/pyflwdir",
        note="the method paper of pyflwdir, whose D8 routing and depression filling susmap uses",
    ),
    # ---- proximity, spectral ------------------------------------------------------------------------------------
    Reference(
        "maurer2003",
        "article",
        ("Maurer, Calvin R.", "Qi, Rensheng", "Raghavan, Vijay"),
        "A linear time algorithm for computing exact Euclidean distance transforms of binary images in arbitrary "
        "dimensions",
        2003,
        "IEEE Transactions on Pattern Analysis and Machine Intelligence",
        volume="25",
        number="2",
        pages="265-270",
    ),
    Reference(
        "silverman1986",
        "book",
        ("Silverman, Bernard W.",),
        "Density Estimation for Statistics and Data Analysis",
        1986,
        "Chapman and Hall, London",
    ),
    Reference(
        "rouse1974",
        "inproceedings",
        ("Rouse, J. W.", "Haas, R. H.", "Schell, J. A.", "Deering, D. W."),
        "Monitoring vegetation systems in the Great Plains with ERTS",
        1974,
        "Third Earth Resources Technology Satellite-1 Symposium, NASA SP-351",
        pages="309-317",
    ),
    # ---- validation, classification, encoding -------------------------------------------------------------------
    Reference(
        "kohavi1995",
        "inproceedings",
        ("Kohavi, Ron",),
        "A study of cross-validation and bootstrap for accuracy estimation and model selection",
        1995,
        "Proceedings of the 14th International Joint Conference on Artificial Intelligence (IJCAI)",
        pages="1137-1143",
    ),
    Reference(
        "brenning2012",
        "inproceedings",
        ("Brenning, Alexander",),
        "Spatial cross-validation and bootstrap for the assessment of prediction rules in remote sensing: The R "
        "package sperrorest",
        2012,
        "2012 IEEE International Geoscience and Remote Sensing Symposium (IGARSS)",
        pages="5372-5375",
        doi="10.1109/IGARSS.2012.6352393",
    ),
    Reference(
        "ploton2020",
        "article",
        ("Ploton, Pierre", "Mortier, Frédéric", "Réjou-Méchain, Maxime", "others"),
        "Spatial validation reveals poor predictive performance of large-scale ecological mapping models",
        2020,
        "Nature Communications",
        volume="11",
        pages="4540",
        doi="10.1038/s41467-020-18321-y",
    ),
    Reference(
        "roberts2017",
        "article",
        ("Roberts, David R.", "Bahn, Volker", "Ciuti, Simone", "others"),
        "Cross-validation strategies for data with temporal, spatial, hierarchical, or phylogenetic structure",
        2017,
        "Ecography",
        volume="40",
        number="8",
        pages="913-929",
        doi="10.1111/ecog.02881",
    ),
    Reference(
        "valavi2019",
        "article",
        ("Valavi, Roozbeh", "Elith, Jane", "Lahoz-Monfort, José J.", "Guillera-Arroita, Gurutzeta"),
        "blockCV: An R package for generating spatially or environmentally separated folds for k-fold "
        "cross-validation of species distribution models",
        2019,
        "Methods in Ecology and Evolution",
        volume="10",
        number="2",
        pages="225-232",
        doi="10.1111/2041-210X.13107",
    ),
    Reference(
        "jenks1967",
        "article",
        ("Jenks, George F.",),
        "The data model concept in statistical mapping",
        1967,
        "International Yearbook of Cartography",
        volume="7",
        pages="186-190",
    ),
    Reference(
        "bonhamcarter1994",
        "book",
        ("Bonham-Carter, Graeme F.",),
        "Geographic Information Systems for Geoscientists: Modelling with GIS",
        1994,
        "Pergamon, Oxford",
    ),
    Reference(
        "lee2007",
        "article",
        ("Lee, Saro", "Pradhan, Biswajeet"),
        "Landslide hazard mapping at Selangor, Malaysia using frequency ratio and logistic regression models",
        2007,
        "Landslides",
        volume="4",
        number="1",
        pages="33-41",
    ),
    Reference(
        "youden1950",
        "article",
        ("Youden, William J.",),
        "Index for rating diagnostic tests",
        1950,
        "Cancer",
        volume="3",
        number="1",
        pages="32-35",
    ),
    Reference(
        "quinlan1986",
        "article",
        ("Quinlan, J. Ross",),
        "Induction of decision trees",
        1986,
        "Machine Learning",
        volume="1",
        number="1",
        pages="81-106",
        doi="10.1007/BF00116251",
    ),
    Reference(
        "fox1992",
        "article",
        ("Fox, John", "Monette, Georges"),
        "Generalized collinearity diagnostics",
        1992,
        "Journal of the American Statistical Association",
        volume="87",
        number="417",
        pages="178-183",
    ),
    Reference(
        "chung2003",
        "article",
        ("Chung, Chang-Jo F.", "Fabbri, Andrea G."),
        "Validation of spatial prediction models for landslide hazard mapping",
        2003,
        "Natural Hazards",
        volume="30",
        number="3",
        pages="451-472",
    ),
    Reference(
        "cohen1960",
        "article",
        ("Cohen, Jacob",),
        "A coefficient of agreement for nominal scales",
        1960,
        "Educational and Psychological Measurement",
        volume="20",
        number="1",
        pages="37-46",
        doi="10.1177/001316446002000104",
    ),
    Reference(
        "strobl2007",
        "article",
        ("Strobl, Carolin", "Boulesteix, Anne-Laure", "Zeileis, Achim", "Hothorn, Torsten"),
        "Bias in random forest variable importance measures: Illustrations, sources and a solution",
        2007,
        "BMC Bioinformatics",
        volume="8",
        pages="25",
        doi="10.1186/1471-2105-8-25",
    ),
    Reference(
        "schratz2019",
        "article",
        ("Schratz, Patrick", "Muenchow, Jannes", "Iturritxa, Eugenia", "Richter, Jakob", "Brenning, Alexander"),
        "Hyperparameter tuning and performance assessment of statistical and machine-learning algorithms using "
        "spatial data",
        2019,
        "Ecological Modelling",
        volume="406",
        pages="109-120",
        doi="10.1016/j.ecolmodel.2019.06.002",
    ),
    Reference(
        "meyer2021",
        "article",
        ("Meyer, Hanna", "Pebesma, Edzer"),
        "Predicting into unknown space? Estimating the area of applicability of spatial prediction models",
        2021,
        "Methods in Ecology and Evolution",
        volume="12",
        number="9",
        pages="1620--1633",
        doi="10.1111/2041-210X.13650",
    ),
    Reference(
        "apley2020",
        "article",
        ("Apley, Daniel W.", "Zhu, Jingyu"),
        "Visualizing the effects of predictor variables in black box supervised learning models",
        2020,
        "Journal of the Royal Statistical Society: Series B (Statistical Methodology)",
        volume="82",
        number="4",
        pages="1059--1086",
        doi="10.1111/rssb.12377",
    ),
    Reference(
        "lundberg2017",
        "inproceedings",
        ("Lundberg, Scott M.", "Lee, Su-In"),
        "A unified approach to interpreting model predictions",
        2017,
        "Advances in Neural Information Processing Systems 30 (NIPS 2017)",
        pages="4765--4774",
    ),
    Reference(
        "lundberg2020",
        "article",
        ("Lundberg, Scott M.", OTHERS),
        "From local explanations to global understanding with explainable AI for trees",
        2020,
        "Nature Machine Intelligence",
        volume="2",
        number="1",
        pages="56--67",
        doi="10.1038/s42256-019-0138-9",
    ),
    Reference(
        "alvioli2016",
        "article",
        ("Alvioli, Massimiliano", OTHERS),
        "Automatic delineation of geomorphological slope units with r.slopeunits v1.0 and their optimization for "
        "landslide susceptibility modeling",
        2016,
        "Geoscientific Model Development",
        volume="9",
        number="11",
        pages="3975--3991",
        doi="10.5194/gmd-9-3975-2016",
    ),
    # ---- models -------------------------------------------------------------------------------------------------
    Reference(
        "pedregosa2011",
        "article",
        (
            "Pedregosa, Fabian",
            "Varoquaux, Gaël",
            "Gramfort, Alexandre",
            "Michel, Vincent",
            "Thirion, Bertrand",
            "Grisel, Olivier",
            "Blondel, Mathieu",
            "Prettenhofer, Peter",
            "Weiss, Ron",
            "Dubourg, Vincent",
            "Vanderplas, Jake",
            "Passos, Alexandre",
            "Cournapeau, David",
            "Brucher, Matthieu",
            "Perrot, Matthieu",
            "Duchesnay, Édouard",
        ),
        "Scikit-learn: Machine Learning in Python",
        2011,
        "Journal of Machine Learning Research",
        volume="12",
        pages="2825-2830",
    ),
    Reference(
        "breiman2001",
        "article",
        ("Breiman, Leo",),
        "Random forests",
        2001,
        "Machine Learning",
        volume="45",
        number="1",
        pages="5-32",
        doi="10.1023/A:1010933404324",
    ),
    Reference(
        "breiman1984",
        "book",
        ("Breiman, Leo", "Friedman, Jerome H.", "Olshen, Richard A.", "Stone, Charles J."),
        "Classification and Regression Trees",
        1984,
        "Wadsworth, Belmont, CA",
    ),
    Reference(
        "cortes1995",
        "article",
        ("Cortes, Corinna", "Vapnik, Vladimir"),
        "Support-vector networks",
        1995,
        "Machine Learning",
        volume="20",
        number="3",
        pages="273-297",
        doi="10.1007/BF00994018",
    ),
    Reference(
        "platt1999",
        "inproceedings",
        ("Platt, John C.",),
        "Probabilistic outputs for support vector machines and comparisons to regularized likelihood methods",
        1999,
        "Advances in Large Margin Classifiers, MIT Press",
        pages="61-74",
    ),
    Reference(
        "cover1967",
        "article",
        ("Cover, Thomas M.", "Hart, Peter E."),
        "Nearest neighbor pattern classification",
        1967,
        "IEEE Transactions on Information Theory",
        volume="13",
        number="1",
        pages="21-27",
    ),
    Reference(
        "cox1958",
        "article",
        ("Cox, David R.",),
        "The regression analysis of binary sequences",
        1958,
        "Journal of the Royal Statistical Society: Series B",
        volume="20",
        number="2",
        pages="215-242",
    ),
    Reference(
        "friedman2001",
        "article",
        ("Friedman, Jerome H.",),
        "Greedy function approximation: A gradient boosting machine",
        2001,
        "The Annals of Statistics",
        volume="29",
        number="5",
        pages="1189-1232",
        doi="10.1214/aos/1013203451",
    ),
    Reference(
        "ke2017",
        "inproceedings",
        (
            "Ke, Guolin",
            "Meng, Qi",
            "Finley, Thomas",
            "Wang, Taifeng",
            "Chen, Wei",
            "Ma, Weidong",
            "Ye, Qiwei",
            "Liu, Tie-Yan",
        ),
        "LightGBM: A highly efficient gradient boosting decision tree",
        2017,
        "Advances in Neural Information Processing Systems 30",
    ),
    Reference(
        "rumelhart1986",
        "article",
        ("Rumelhart, David E.", "Hinton, Geoffrey E.", "Williams, Ronald J."),
        "Learning representations by back-propagating errors",
        1986,
        "Nature",
        volume="323",
        pages="533-536",
        doi="10.1038/323533a0",
    ),
    Reference(
        "lecun1998",
        "article",
        ("LeCun, Yann", "Bottou, Léon", "Bengio, Yoshua", "Haffner, Patrick"),
        "Gradient-based learning applied to document recognition",
        1998,
        "Proceedings of the IEEE",
        volume="86",
        number="11",
        pages="2278-2324",
        doi="10.1109/5.726791",
    ),
    Reference(
        "kingma2015",
        "inproceedings",
        ("Kingma, Diederik P.", "Ba, Jimmy"),
        "Adam: A method for stochastic optimization",
        2015,
        "3rd International Conference on Learning Representations (ICLR)",
        url="https://arxiv.org/abs/1412.6980",
    ),
    Reference(
        "paszke2019",
        "inproceedings",
        ("Paszke, Adam", "Gross, Sam", "Massa, Francisco", "Lerer, Adam", "others"),
        "PyTorch: An imperative style, high-performance deep learning library",
        2019,
        "Advances in Neural Information Processing Systems 32",
    ),
    Reference(
        "ng2011",
        "techreport",
        ("Ng, Andrew",),
        "Sparse autoencoder",
        2011,
        "Stanford University",
        number="CS294A lecture notes",
    ),
    Reference(
        "hinton2006",
        "article",
        ("Hinton, Geoffrey E.", "Salakhutdinov, Ruslan R."),
        "Reducing the dimensionality of data with neural networks",
        2006,
        "Science",
        volume="313",
        number="5786",
        pages="504-507",
        doi="10.1126/science.1127647",
    ),
    Reference(
        "kennedy1995",
        "inproceedings",
        ("Kennedy, James", "Eberhart, Russell"),
        "Particle swarm optimization",
        1995,
        "Proceedings of ICNN'95 - International Conference on Neural Networks",
        volume="4",
        pages="1942-1948",
        doi="10.1109/ICNN.1995.488968",
    ),
    Reference(
        "shi1998",
        "inproceedings",
        ("Shi, Yuhui", "Eberhart, Russell"),
        "A modified particle swarm optimizer",
        1998,
        "1998 IEEE International Conference on Evolutionary Computation",
        pages="69-73",
    ),
    Reference(
        "clerc2002",
        "article",
        ("Clerc, Maurice", "Kennedy, James"),
        "The particle swarm - explosion, stability, and convergence in a multidimensional complex space",
        2002,
        "IEEE Transactions on Evolutionary Computation",
        volume="6",
        number="1",
        pages="58-73",
        doi="10.1109/4235.985692",
    ),
    Reference(
        "duan1992",
        "article",
        ("Duan, Qingyun", "Sorooshian, Soroosh", "Gupta, Vijai"),
        "Effective and efficient global optimization for conceptual rainfall-runoff models",
        1992,
        "Water Resources Research",
        volume="28",
        number="4",
        pages="1015-1031",
        doi="10.1029/91WR02985",
    ),
    Reference(
        "duan1994",
        "article",
        ("Duan, Qingyun", "Sorooshian, Soroosh", "Gupta, Vijai K."),
        "Optimal use of the SCE-UA global optimization method for calibrating watershed models",
        1994,
        "Journal of Hydrology",
        volume="158",
        pages="265-284",
    ),
    Reference(
        "cheng2014",
        "article",
        ("Cheng, Min-Yuan", "Prayogo, Doddy"),
        "Symbiotic Organisms Search: A new metaheuristic optimization algorithm",
        2014,
        "Computers & Structures",
        volume="139",
        pages="98-112",
        doi="10.1016/j.compstruc.2014.03.007",
    ),
    Reference(
        "abedinpourshotorban2016",
        "article",
        (
            "Abedinpourshotorban, Hosein",
            "Shamsuddin, Siti Mariyam",
            "Beheshti, Zahra",
            "Jawawi, Dayang N. A.",
        ),
        "Electromagnetic field optimization: A physics-inspired metaheuristic optimization algorithm",
        2016,
        "Swarm and Evolutionary Computation",
        volume="26",
        pages="8-22",
        doi="10.1016/j.swevo.2015.07.002",
    ),
    Reference(
        "bouchekara2019",
        "article",
        ("Bouchekara, Houssem R. E. H.",),
        "Electrostatic discharge algorithm: a novel nature-inspired optimisation algorithm and its application to "
        "worst-case tolerance analysis of an EMC filter",
        2019,
        "IET Science, Measurement & Technology",
        volume="13",
        number="4",
        pages="491-499",
    ),
    # ---- meta-learning (paper 004's building blocks) ------------------------------------------------------------
    Reference(
        "finn2017",
        "inproceedings",
        ("Finn, Chelsea", "Abbeel, Pieter", "Levine, Sergey"),
        "Model-agnostic meta-learning for fast adaptation of deep networks",
        2017,
        "Proceedings of the 34th International Conference on Machine Learning (ICML), PMLR 70",
        pages="1126-1135",
    ),
    Reference(
        "hinton2002",
        "article",
        ("Hinton, Geoffrey E.",),
        "Training products of experts by minimizing contrastive divergence",
        2002,
        "Neural Computation",
        volume="14",
        number="8",
        pages="1771-1800",
        doi="10.1162/089976602760128018",
    ),
    Reference(
        "hinton2010",
        "techreport",
        ("Hinton, Geoffrey E.",),
        "A practical guide to training restricted Boltzmann machines",
        2010,
        "University of Toronto",
        number="UTML TR 2010-003",
    ),
    Reference(
        "salakhutdinov2009",
        "inproceedings",
        ("Salakhutdinov, Ruslan", "Hinton, Geoffrey"),
        "Deep Boltzmann machines",
        2009,
        "Proceedings of the 12th International Conference on Artificial Intelligence and Statistics (AISTATS), PMLR 5",
        pages="448-455",
    ),
    Reference(
        "vincent2008",
        "inproceedings",
        ("Vincent, Pascal", "Larochelle, Hugo", "Bengio, Yoshua", "Manzagol, Pierre-Antoine"),
        "Extracting and composing robust features with denoising autoencoders",
        2008,
        "Proceedings of the 25th International Conference on Machine Learning (ICML)",
        pages="1096-1103",
        doi="10.1145/1390156.1390294",
    ),
    Reference(
        "achanta2012",
        "article",
        (
            "Achanta, Radhakrishna",
            "Shaji, Appu",
            "Smith, Kevin",
            "Lucchi, Aurelien",
            "Fua, Pascal",
            "Süsstrunk, Sabine",
        ),
        "SLIC superpixels compared to state-of-the-art superpixel methods",
        2012,
        "IEEE Transactions on Pattern Analysis and Machine Intelligence",
        volume="34",
        number="11",
        pages="2274-2282",
        doi="10.1109/TPAMI.2012.120",
    ),
    Reference(
        "glorot2010",
        "inproceedings",
        ("Glorot, Xavier", "Bengio, Yoshua"),
        "Understanding the difficulty of training deep feedforward neural networks",
        2010,
        "Proceedings of the 13th International Conference on Artificial Intelligence and Statistics (AISTATS), PMLR 9",
        pages="249-256",
    ),
)

_REGISTRY: dict[str, Reference] = {}
for _entry in _ENTRIES:
    if _entry.key in _REGISTRY:
        raise ValueError(f"reference key {_entry.key!r} is registered twice")
    _REGISTRY[_entry.key] = _entry

#: References of paper 004's block-wise meta-learning (study ``method: meta-blockwise``).
BLOCKWISE_REFERENCES = (
    "chen2021",
    "finn2017",
    "achanta2012",
    "hinton2002",
    "hinton2010",
    "salakhutdinov2009",
    "vincent2008",
)


def reference(key: str) -> Reference:
    """The entry under ``key``; an unknown key raises :class:`UnknownReferenceError` naming the closest keys."""
    try:
        return _REGISTRY[key]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(key), list(_REGISTRY), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else f" ({len(_REGISTRY)} keys known)"
        raise UnknownReferenceError(f"unknown reference key {key!r}{hint}") from None


def all_references() -> list[Reference]:
    """Every registered entry: susmap itself, the five papers, then the methods."""
    return list(_REGISTRY.values())


def bibtex(keys: Iterable[str]) -> str:
    """The BibTeX of the entries under ``keys``, in the given order, each once (blank line between entries)."""
    seen: dict[str, Reference] = {}
    for key in keys:
        if key not in seen:
            seen[key] = reference(key)
    return "\n".join(entry.bibtex() for entry in seen.values())
