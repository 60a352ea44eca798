"""The ``susmap`` command line: a thin shell over the library.

Bad input exits with status 2 and a one-line message on stderr; ``--debug``
shows the traceback instead. Ctrl-C, SIGTERM and SIGHUP stop a run cleanly:
the fold workers are stopped, the staging folder removed, the output folder
left as it was and its lock released; the exit status is 128 + the signal
number (130, 143, 129) after a one-line message.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Annotated

import typer

from susmap.errors import SusmapError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Natural-hazard susceptibility mapping: from a DEM, factor layers and an inventory to a validated map.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain text: their "[v1, v2, ...]" and "[m]" must show as written
)

_state = {"debug": False, "progress": False}

_LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def _version(value: bool) -> None:
    if value:
        from susmap import __version__  # the installed package's version (importlib.metadata)

        typer.echo(f"susmap {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors; no progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug messages too.")] = False,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            help="Also write the full log (INFO, with -v DEBUG; whatever -q says) to this file, appended.",
            dir_okay=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version of susmap and exit.", callback=_version, is_eager=True),
    ] = False,
) -> None:
    if quiet and verbose:
        _fail(SusmapError("--quiet and --verbose: give one of them"))
    _state["debug"] = debug
    # progress bars only for a person at a terminal: never in pipes, files or CI logs
    _state["progress"] = not quiet and _is_terminal(sys.stderr)
    logger = logging.getLogger("susmap")
    console_level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    file_level = logging.DEBUG if verbose else logging.INFO
    console = next((h for h in logger.handlers if isinstance(h, _ConsoleHandler)), None)
    if console is None:
        console = _ConsoleHandler()
        console.setFormatter(logging.Formatter(_LOG_FORMAT, datefmt="%H:%M:%S"))
        logger.addHandler(console)
    console.setLevel(console_level)
    for old in [h for h in logger.handlers if isinstance(h, _LogFileHandler)]:
        logger.removeHandler(old)
        old.close()
    level = console_level
    if log_file is not None:
        try:
            handler = _LogFileHandler(log_file)
        except OSError as err:
            _fail(SusmapError(f"--log-file {log_file}: cannot write ({err.strerror or err})"))
        handler.setFormatter(logging.Formatter(_LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
        handler.setLevel(file_level)
        logger.addHandler(handler)
        ctx.call_on_close(lambda: (logger.removeHandler(handler), handler.close()))
        level = min(level, file_level)
    logger.setLevel(level)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _LogFileHandler(logging.FileHandler):
    """``--log-file``: every record at its level, whatever the console shows."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8")


class _ConsoleHandler(logging.Handler):
    """Progress (INFO) to stdout, warnings to stderr; streams looked up at each record."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except (OSError, ValueError):  # closed stream
            self.handleError(record)


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show warnings as one log line each instead of Python's two-line format."""
    logging.getLogger("susmap").warning("%s: %s", category.__name__, message)


def _fail(err: BaseException) -> None:
    if _state["debug"]:
        raise err
    typer.echo(f"susmap: error: {err}", err=True)
    raise typer.Exit(code=2)


class _StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that every ``with`` block cleans up as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, frame: object) -> None:
    raise _StopSignal(signum)


@contextlib.contextmanager
def _stops_cleanly():
    """Turn SIGTERM/SIGHUP into an interrupt; on any interrupt stop the workers and exit 128 + signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
    previous = {s: signal.getsignal(s) for s in stops}
    for s in stops[1:]:
        signal.signal(s, _raise_stop)
    try:
        yield
    except KeyboardInterrupt as err:
        signum = getattr(err, "signum", signal.SIGINT)
        for s in stops:  # a second signal must not cut the clean-up short
            signal.signal(s, signal.SIG_IGN)
        from susmap.validation.runs import stop_workers

        stop_workers()
        if _state["debug"]:
            raise
        typer.echo(
            f"susmap: stopped by {signal.Signals(signum).name}; workers stopped, "
            "the output folder left as it was before this run",
            err=True,
        )
        raise typer.Exit(code=128 + signum) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _execute(runner, study, out: Path | None):
    """``runner(study, out)`` with warnings logged as one line each; signals stop it cleanly."""
    with _stops_cleanly(), warnings.catch_warnings(), _progress_shown():
        warnings.showwarning = _log_warning
        return runner(study, out)


@contextlib.contextmanager
def _progress_shown():
    """Progress bars on stderr while a study runs, only on a terminal and without ``--quiet``."""
    if not _state["progress"]:
        yield
        return
    from rich.console import Console

    console = Console(file=sys.stderr, force_terminal=True)  # stderr is a terminal (checked)
    with progress_bars(console, redirect_stdout=_is_terminal(sys.stdout)):  # stdout to a file stays there
        yield


@contextlib.contextmanager
def progress_bars(console, *, redirect_stdout: bool = True):
    """Show every :func:`susmap.progress.task` opened in the block as a rich bar on ``console``.

    Bars show the units done, the total, the time elapsed and the time left;
    dask computations (block-wise prediction, writing rasters) are counted in
    finished tasks. Log lines printed meanwhile appear above the bars (stdout's
    only with ``redirect_stdout``: when it is the same terminal).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from susmap.progress import DaskProgress, reporting

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        redirect_stdout=redirect_stdout,
    )

    class _Bar:
        def __init__(self, task_id) -> None:
            self.task_id = task_id

        def advance(self, n: int = 1) -> None:
            bars.advance(self.task_id, n)

    @contextlib.contextmanager
    def reporter(description: str, total: int | None):
        task_id = bars.add_task(description, total=total)
        try:
            yield _Bar(task_id)
        finally:
            bars.refresh()  # every bar is drawn at least once, however short its step
            bars.remove_task(task_id)

    with bars, reporting(reporter), DaskProgress("computing blocks (dask tasks)"):
        yield


def _run_study_file(runner, study_file: Path | None, out: Path | None):
    """Load a study file and run it; bad input exits with status 2 and one line."""
    from susmap.study import load_study

    study = None
    try:
        study = load_study(study_file)
        return _execute(runner, study, out)
    except SusmapError as err:
        _fail(err)
    except OSError as err:  # a full disk while writing a table, a figure or the report (GeoTIFFs: the writer)
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        from susmap.mapping.writer import write_failure

        folder = out or (study.outputs.directory if study is not None else None)
        _fail(write_failure(err, [Path(err.filename)] if err.filename else [], folder=folder))


def _report_study(result) -> None:
    typer.echo(f"wrote {len(result.files)} files to {result.out_dir}")
    if hasattr(result, "block_ids"):  # method: meta-blockwise
        info = result.info
        typer.echo(f"  {info['n_blocks']} blocks, {info['n_tasks']} with samples (meta-learning tasks)")
        if result.few_shot_table is not None:
            from susmap.report.tables import to_markdown

            typer.echo("  few-shot OA [%] (mean ± sd over repeats):")
            typer.echo(to_markdown(result.few_shot_table))
        if result.class_table is not None:
            typer.echo(f"  map: block-wise meta-learning -> {result.out_dir / 'probability.tif'}")
        return
    summary = result.cv_summary[result.cv_summary["metric"] == "auroc"]
    for row in summary.itertuples():
        typer.echo(f"  AUROC {row.scheme:>8} CV  {row.model:<22} {row.mean:.3f} ± {row.sd:.3f}")
    if not result.mapped_model:
        return
    if hasattr(result, "units"):  # mapping units: the units carry the map, a raster only for polygons
        c = result.counts
        typer.echo(f"  units: {c['units']:,} ({c['landslide_units']:,} landslide units)")
        written = [n for n in ("units.gpkg", "probability.tif") if (result.out_dir / n).is_file()]
        where = ", ".join(str(result.out_dir / n) for n in written or ["units.csv"])
        typer.echo(f"  map: {result.mapped_model} per unit -> {where}")
        return
    typer.echo(f"  map: {result.mapped_model} -> {result.out_dir / 'probability.tif'}")


OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (overrides outputs.directory).")]


DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Check the study and print what it would cost (grid, samples, fits, CPU time per model from a "
        "quick timing, mapping time, memory); write nothing.",
    ),
]


PdfOption = Annotated[
    bool,
    typer.Option(
        "--pdf",
        help="Also print report.html to report.pdf (A4) with headless Chromium, offline "
        "(sets outputs.pdf; needs chromium installed, or SUSMAP_BROWSER).",
    ),
]


SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run on this dask.distributed scheduler (tcp://host:8786): factors, samples, cross-validation folds, "
        "map and writing on its workers, same results as on threads (sets compute.scheduler; also 'threads' or "
        "'synchronous'; needs susmap[cluster] and the inputs and output folder on a filesystem the workers share). "
        "See docs/CLUSTER.md.",
    ),
]


def _with_scheduler(runner, scheduler: str | None):
    """``runner`` on the study with ``compute.scheduler`` set (``--scheduler``)."""
    if scheduler is None:
        return runner

    def run_on(study, out):
        from susmap.stages.compute import with_scheduler

        return runner(with_scheduler(study, scheduler), out)

    return run_on


def _with_pdf(runner, pdf: bool):
    """``runner`` on the study with ``outputs.pdf`` set (``--pdf``); the browser is looked for before the run."""
    if not pdf:
        return runner

    def run_pdf(study, out):
        from susmap.report.pdf import require_browser

        require_browser()  # before the run, not after an hour of it
        outputs = study.outputs.model_copy(update={"pdf": True})
        return runner(study.model_copy(update={"outputs": outputs}), out)

    return run_pdf


def _estimate_runner(command: str):
    """A runner that checks the study and estimates its cost instead of running it (``--dry-run``)."""

    def estimate(study, out):
        from susmap.stages.estimate import estimate_study

        if command == "compare":
            from susmap.runners import require_model_comparison

            require_model_comparison(study, "compare")
        return estimate_study(study, command=command)

    return estimate


def _with_estimate(runner):
    """``runner`` preceded by a logged estimate (fits timed only where the study may be long); warns if it is."""

    def run_estimated(study, out):
        from susmap.stages.estimate import estimate_study

        est_log = logging.getLogger("susmap.estimate")
        susmap_log = logging.getLogger("susmap")
        level = susmap_log.level
        try:  # quietly: the run itself reports bad input, in its own order
            susmap_log.setLevel(logging.CRITICAL)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                estimate = estimate_study(study, time_fits=None, budget_s=2.0, open_layers=False)
        except Exception:  # an estimate never stops a run
            estimate = None
        finally:
            susmap_log.setLevel(level)
        if estimate is not None:
            cv = f", CV ~{estimate.cv_wall_s / 60:.1f} min wall" if estimate.cv_wall_s is not None else ""
            if estimate.read_pass_s is not None:
                cv += f", ~{estimate.read_pass_s / 60:.1f} min per read of the layers"
            est_log.info(
                "estimate: %d fits, %d samples, %d cells%s; peak memory ~%.0f MiB (susmap run --dry-run for details)",
                estimate.fits,
                estimate.samples,
                estimate.cells,
                cv,
                estimate.peak_memory / 2**20,
            )
            for line in estimate.warnings:
                est_log.warning("%s", line)
        return runner(study, out)

    return run_estimated


def _print_estimate(estimate) -> None:
    for line in estimate.lines():
        typer.echo(line)


@app.command()
def run(
    study_file: Annotated[Path, typer.Argument(help="The study YAML file.")],
    out: OutOption = None,
    dry_run: DryRunOption = False,
    pdf: PdfOption = False,
    scheduler: SchedulerOption = None,
) -> None:
    """Run a study end to end: samples, cross-validation, map, classes, report (method: meta-blockwise: paper 004)."""
    from susmap.runners import run_study

    if dry_run:
        _print_estimate(_run_study_file(_estimate_runner("run"), study_file, out))
        return
    runner = _with_scheduler(_with_pdf(_with_estimate(run_study), pdf), scheduler)
    _report_study(_run_study_file(runner, study_file, out))


@app.command()
def compare(
    study_file: Annotated[Path, typer.Argument(help="The study YAML file.")],
    out: OutOption = None,
    dry_run: DryRunOption = False,
    pdf: PdfOption = False,
    scheduler: SchedulerOption = None,
) -> None:
    """All models on the same folds of every scheme: papers' tables, ROC, rate curves, factor analysis."""
    from susmap.report.tables import to_markdown
    from susmap.runners.compare import run_compare

    if dry_run:
        _print_estimate(_run_study_file(_estimate_runner("compare"), study_file, out))
        return
    result = _run_study_file(_with_scheduler(_with_pdf(run_compare, pdf), scheduler), study_file, out)
    typer.echo(f"wrote {len(result.files)} files to {result.out_dir}")
    counts = getattr(result, "counts", None)
    if counts:  # mapping units
        typer.echo(f"  units: {counts['units']:,} ({counts['landslide_units']:,} landslide units), report.html")
    for name, table in result.tables.items():
        if name.startswith("paper003_table5"):
            typer.echo(f"\n{name}\n{to_markdown(table)}")


@app.command()
def sweep(
    study_file: Annotated[Path, typer.Argument(help="The study YAML file.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Label of the study model to sweep.")],
    vary: Annotated[
        list[str],
        typer.Option("--vary", help="SETTING=[v1, v2, ...] (YAML list); repeat for several settings."),
    ],
    repeats: Annotated[int, typer.Option(help="Random 70/30 splits (and seeds) per value.")] = 5,
    test_size: Annotated[float, typer.Option(help="Share of samples held out per split.")] = 0.3,
    out: OutOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Paper 001's framework-setting experiments: test scores as one model setting varies (Table 4 layout)."""
    from functools import partial

    from susmap.report.tables import to_markdown
    from susmap.runners.sweep import parse_vary

    try:
        settings = parse_vary(vary)
    except SusmapError as err:
        _fail(err)
    runner = partial(_sweep_runner, model=model, vary=settings, repeats=repeats, test_size=test_size)
    result = _run_study_file(_with_scheduler(runner, scheduler), study_file, out)
    typer.echo(f"wrote {len(result.files)} files to {result.out_dir}")
    for name, table in result.tables.items():
        typer.echo(f"\n{model}: {name}\n{to_markdown(table.reset_index())}")


def _sweep_runner(study, out, **kwargs):
    from susmap.runners.sweep import run_sweep

    return run_sweep(study, out_dir=out, **kwargs)


@app.command()
def factors(
    study_file: Annotated[
        Path | None, typer.Argument(help="The study YAML file (with --list: a factor name, shown in full).")
    ] = None,
    out: OutOption = None,
    list_: Annotated[
        bool,
        typer.Option("--list", help="List the factors susmap can derive, each parameter with type, default, units."),
    ] = False,
    scheduler: SchedulerOption = None,
) -> None:
    """Derive the study's factors as GeoTIFFs, with a summary, Pearson r (continuous) and Cramér's V (categorical)."""
    if list_:
        from susmap.factors.registry import factor_listing

        try:
            typer.echo(factor_listing(None if study_file is None else str(study_file)), nl=False)
        except SusmapError as err:
            _fail(err)
        return
    if study_file is None:
        _fail(SusmapError("give a study file, or --list"))
    from susmap.runners.factors import run_factors

    result = _run_study_file(_with_scheduler(run_factors, scheduler), study_file, out)
    typer.echo(f"wrote {len(result.derived)} factors and their summary to {result.out_dir}")
    typer.echo(result.summary[["factor", "units", "min", "max", "mean", "nodata_cells"]].to_string(index=False))


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Argument(help="Output folder.")] = Path("susmap-demo"),
) -> None:
    """Run the bundled Ecuador landslide study (real data, under a minute)."""
    from susmap.datasets import demo_study
    from susmap.runners import run_study

    try:
        _report_study(_execute(run_study, demo_study(out_dir), out_dir))
    except SusmapError as err:
        _fail(err)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example study.")] = Path("study.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example study YAML."""
    from susmap.study import example_study_yaml

    if path.exists() and not force:
        _fail(SusmapError(f"{path}: exists; use --force to overwrite"))
    try:
        path.write_text(example_study_yaml(), encoding="utf-8")
    except OSError as err:
        _fail(SusmapError(f"{path}: cannot write ({err.strerror})"))
    typer.echo(f"wrote {path}; edit the paths, then: susmap run {path}")


@app.command()
def synthetic(
    folder: Annotated[Path, typer.Argument(help="Folder to write the landscape and its study.yaml into.")],
    seed: Annotated[int, typer.Option(help="Seed of the terrain, regions and samples.")] = 0,
    size: Annotated[int, typer.Option(help="Rows and columns of the grid [cells of 10 m].")] = 256,
    regions: Annotated[int, typer.Option(help="Latent regions with different landslide rules.")] = 4,
    samples: Annotated[int, typer.Option(help="Labelled sample cells.")] = 3000,
    method: Annotated[str, typer.Option(help="Study method: models or meta-blockwise.")] = "models",
    force: Annotated[bool, typer.Option("--force", help="Write into an existing, non-empty folder.")] = False,
) -> None:
    """Write a synthetic regional landscape (known true probability) and a study over it (FOLDER/study.yaml)."""
    from susmap.datasets.synthetic import regional_landscape, write_landscape

    if method not in ("models", "meta-blockwise"):
        _fail(SusmapError(f"--method must be 'models' or 'meta-blockwise', not {method!r}"))
    if size < 32 or regions < 1 or samples < 20:
        _fail(SusmapError(f"need --size >= 32, --regions >= 1, --samples >= 20 (got {size}, {regions}, {samples})"))
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not force:
        _fail(SusmapError(f"{folder}: exists and is not an empty folder; use --force to write into it"))
    land = regional_landscape((size, size), n_regions=regions, n_samples=samples, seed=seed)
    try:
        written = write_landscape(land, folder, method=method)
    except OSError as err:
        _fail(SusmapError(f"{folder}: cannot write ({err.strerror or err})"))
    typer.echo(
        f"wrote {len(written)} files to {folder} ({size} x {size} cells, {regions} regions, {samples} samples; "
        f"best possible OA {land.bayes_accuracy:.3f}); then: susmap run {written['study']}"
    )


@app.command()
def models(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print every preset as Markdown (the text of docs/presets.md).")
    ] = False,
) -> None:
    """List the models of the registry, each preset with its source and its deviations from the paper."""
    from susmap.models import available_models
    from susmap.models.registry import presets_markdown
    from susmap.presets import format_preset
    from susmap.references import BLOCKWISE_REFERENCES, reference

    extra = {}
    try:  # the block-wise method's presets (paper 004), where this version has them
        from susmap.meta import settings as meta_settings
    except ImportError:
        meta_settings = None
    blockwise_presets = getattr(meta_settings, "blockwise_presets", None)
    if blockwise_presets is not None:
        extra["meta-blockwise"] = (
            "block-wise meta-learning of paper 004: study `method: meta-blockwise`, presets as "
            "`meta_blockwise: {preset: <name>}`",
            blockwise_presets(),
        )
    extra_references = {"meta-blockwise": BLOCKWISE_REFERENCES}
    if markdown:
        typer.echo(presets_markdown(extra, extra_references), nl=False)
        return

    def cited(keys) -> None:
        for key in keys:
            ref = reference(key)
            typer.echo(f"{'':<23}cites {ref.short}" + (f" {ref.doi_url}" if ref.doi_url else ""))

    for name, spec in available_models().items():
        typer.echo(f"{name:<22} {spec.description}")
        cited(spec.references)
        for preset_name, preset in spec.presets.items():
            for line in format_preset(preset_name, preset, indent=" " * 23):
                typer.echo(line)
    for anchor, (description, presets) in extra.items():
        typer.echo(f"{anchor:<22} {description.replace('`', '')}")
        cited(extra_references[anchor])
        for preset_name, preset in presets.items():
            for line in format_preset(preset_name, preset, indent=" " * 23):
                typer.echo(line)


@app.command()
def cite(
    study_file: Annotated[Path, typer.Argument(help="The study YAML file.")],
    fmt: Annotated[
        str, typer.Option("--format", help="bibtex (one entry per reference) or text (one APA-style line each).")
    ] = "bibtex",
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Print the references of everything a study uses: susmap, its models' papers, factors, validation, map."""
    from susmap.stages import study_references
    from susmap.study import load_study

    if fmt not in ("bibtex", "text"):
        _fail(SusmapError(f"--format must be 'bibtex' or 'text', not {fmt!r}"))
    try:
        refs = study_references(load_study(study_file))
    except SusmapError as err:
        _fail(err)
    entries = [ref.bibtex() for ref in refs] if fmt == "bibtex" else [f"{ref.full()}\n" for ref in refs]
    text = ("\n" if fmt == "bibtex" else "").join(entries)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        _fail(SusmapError(f"{output}: cannot write ({err.strerror or err})"))
    typer.echo(f"wrote {len(refs)} references to {output}")


@app.command("show-versions")
def show_versions_cmd() -> None:
    """Versions of susmap and its dependencies, for bug reports."""
    from susmap import show_versions

    typer.echo(show_versions())


if __name__ == "__main__":
    app()
