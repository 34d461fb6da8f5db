"""The paper's generated artefacts match the runs they come from, repeats give mean and standard
deviation, every reference can be looked up, and the PDF builds without template text."""

import json
import re
import shutil
import statistics
import subprocess

import pytest
import yaml

from conftest import REPO_ROOT
from galaxyutils import paper
from galaxyutils.compare import flatten


@pytest.fixture(scope="module")
def paper_dir(smoke_run, tmp_path_factory):
    run_dir, _ = smoke_run
    target = tmp_path_factory.mktemp("paper")
    for name in ("main.tex", "refs.bib"):
        shutil.copy2(REPO_ROOT / "paper" / name, target / name)
    paper.write_artefacts(run_dir, target, validation_dir=run_dir)
    return target


def test_variables_match_metrics_json(smoke_run, paper_dir):
    run_dir, _ = smoke_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    values = paper.read_variables(paper_dir / "generated" / "variables.tex")
    flat = flatten(metrics)
    assert set(flat) <= set(values)
    for key, value in flat.items():
        assert values[key] == paper.format_value(value), key
    simclr = metrics["evaluation"]["simclr"]["clusters"]
    assert values["evaluation.simclr.clusters.ari"] == f"{simclr['ari']:.3f}"
    assert values["n_galaxies"] == "320" and values["params.train.epochs"] == "4"
    assert values["noise_percent"] == f"{100 * metrics['noise_fraction']:.0f}"
    assert values["train_minutes"] == f"{metrics['train_seconds'] / 60:.1f}"


def test_tables_match_metrics_json(smoke_run, paper_dir):
    run_dir, _ = smoke_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = {}
    for line in (paper_dir / "generated" / "tables" / "evaluation.tex").read_text().splitlines():
        if line.count("&") == len(paper.EMBEDDINGS):
            name, *cells = [c.strip() for c in line.removesuffix("\\\\").split("&")]
            rows[name] = cells
    for column, embedding in enumerate(paper.EMBEDDINGS):
        scores = metrics["evaluation"][embedding]
        assert rows["kNN balanced accuracy"][column] == f"{scores['knn_balanced_accuracy']:.3f}"
        assert rows["clusters: v measure"][column] == f"{scores['clusters']['v_measure']:.3f}"
        assert rows["clusters: n clusters"][column] == str(scores["clusters"]["n_clusters"])
        assert rows["kNN $R^2$: edge-on"][column] == f"{scores['knn_r2']['edge_on']:.3f}"
    sweep = (paper_dir / "generated" / "tables" / "hdbscan_sweep.tex").read_text()
    assert sweep.count("\\\\") - 1 == len((run_dir / "tables" / "hdbscan_sweep.csv").read_text().strip().splitlines()) - 1
    expected = set(paper.FIGURES) | {f"validation_{name}" for name in paper.VALIDATION_FIGURES}
    assert {p.stem for p in (paper_dir / "generated" / "figures").glob("*.png")} == expected


def test_latex_escaping_keeps_catalogue_text_inert():
    assert paper.escape("50% of id_1 & {x}") == r"50\% of id\_1 \& \{x\}"
    assert paper.format_value(0.123456) == "0.123" and paper.format_value(243434) == "243{,}434" and paper.format_value(None) == "n/a"


def test_the_augmentation_table_lists_local_views_only_when_trained_with_them():
    from galaxyutils import augment

    assert "multi-crop" not in " ".join(paper.augmentation_table(augment.preset("astro")).index)
    table = paper.augmentation_table(augment.preset("astro", local_views=4))
    assert table.loc["multi-crop: local views at half the side, area kept", "setting"] == "4 of 0.2--0.5"


def test_a_run_without_evaluation_is_refused(tmp_path):
    with pytest.raises(paper.PaperError, match="not a finished run"):
        paper.write_artefacts(tmp_path, tmp_path / "paper")


def _repeat(run_dir, folder, seed, ari_shift=0.0, **params):
    """A copy of a finished run's records with another seed (and, to test refusal, other parameters)."""
    folder.mkdir()
    for name in ("metrics.json", "environment.txt"):
        shutil.copy2(run_dir / name, folder / name)
    for name in ("tables", "figures"):
        shutil.copytree(run_dir / name, folder / name)
    values = yaml.safe_load((run_dir / "params.yaml").read_text())
    values["seed"] = seed
    for dotted, value in params.items():
        section, key = dotted.split("__")
        values[section][key] = value
    (folder / "params.yaml").write_text(yaml.safe_dump(values))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["evaluation"]["simclr"]["clusters"]["ari"] += ari_shift
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_repeats_are_quoted_as_mean_and_standard_deviation(smoke_run, tmp_path):
    run_dir, _ = smoke_run
    repeats = [_repeat(run_dir, tmp_path / f"seed{seed}", seed, shift) for seed, shift in ((10, 0.0), (11, 0.1))]
    out = paper.write_artefacts(repeats, tmp_path / "paper")
    values = paper.read_variables(out / "variables.tex")
    aris = [json.loads((r / "metrics.json").read_text())["evaluation"]["simclr"]["clusters"]["ari"] for r in repeats]
    mean, sd = f"{statistics.fmean(aris):.3f}", f"{statistics.stdev(aris):.3f}"
    assert values["evaluation.simclr.clusters.ari"] == f"{mean}\\,\\ensuremath{{\\pm}}\\,{sd}"
    assert values["evaluation.simclr.clusters.ari.mean"] == mean and values["evaluation.simclr.clusters.ari.sd"] == sd
    assert values["n_galaxies"] == "320"  # equal in every repeat: quoted once
    assert values["params.seed"] == "10, 11" and values["run.count"] == "2"
    assert f"{mean}\\,\\ensuremath{{\\pm}}\\,{sd}" in (out / "tables" / "evaluation.tex").read_text()
    assert "\\gurepeatstrue" in (out / "variables.tex").read_text()


def test_runs_that_differ_in_more_than_the_seed_are_not_repeats(smoke_run, tmp_path):
    run_dir, _ = smoke_run
    first = _repeat(run_dir, tmp_path / "a", 1)
    with pytest.raises(paper.PaperError, match="differs in train.epochs"):
        paper.write_artefacts([first, _repeat(run_dir, tmp_path / "b", 2, train__epochs=99)], tmp_path / "paper")
    with pytest.raises(paper.PaperError, match="different seeds"):
        paper.write_artefacts([first, _repeat(run_dir, tmp_path / "c", 1)], tmp_path / "paper")


def test_every_reference_has_a_doi_or_an_arxiv_id():
    bib = (REPO_ROOT / "paper" / "refs.bib").read_text()
    entries = re.findall(r"@\w+\{(\w+),(.*?)\n\}", bib, flags=re.S)
    assert len(entries) >= 15
    for key, body in entries:
        doi = re.search(r"\bdoi\s*=\s*\{(10\.\d{4,9}/[^\s}]+)\}", body)
        arxiv = re.search(r"\beprint\s*=\s*\{(\d{4}\.\d{4,5})\}", body)
        assert doi or arxiv, f"{key} has neither a DOI nor an arXiv id"
        assert "howpublished" not in body, f"{key}: an arXiv id given twice prints twice"
    cited = set(re.findall(r"\\cite[tp]?(?:\[[^]]*\])*\{([^}]+)\}", (REPO_ROOT / "paper" / "main.tex").read_text()))
    cited = {key.strip() for group in cited for key in group.split(",")}
    assert cited <= {key for key, _ in entries}
    for key in ("walmsley2022", "hayat2021", "stein2022", "cheng2021", "lochner2021"):
        assert key in cited, f"related work: {key} is not cited"


@pytest.mark.skipif(shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
                    reason="TeX (latexmk) or poppler-utils not installed: `make test` installs them where it is root with apt")
def test_the_pdf_builds_and_quotes_the_run(smoke_run, paper_dir):
    run_dir, _ = smoke_run
    build = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"], cwd=paper_dir, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-3000:]
    log = (paper_dir / "main.log").read_text(errors="replace")
    assert "Citation" not in log or "undefined" not in log.split("Citation", 1)[1][:200], "a citation is undefined"
    text = subprocess.run(["pdftotext", "-layout", "main.pdf", "-"], cwd=paper_dir, capture_output=True, text=True, check=True).stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"on {metrics['n_galaxies']} synthetic galaxies" in " ".join(text.split())  # the demo is said to be synthetic
    assert f"{metrics['evaluation']['simclr']['clusters']['v_measure']:.3f}" in text
    assert "Chen T." in text or "Chen, T." in text or "Chen et al." in text
    assert "The runs produced no" not in text  # every figure of the smoke run made it in
    flat = " ".join(text.split())
    assert "synthetic galaxies" in flat and "validation on synthetic galaxies" in flat.lower() and "conclusions" in flat.lower()
    for leak in ("0 input files", "A further 0", "epoch(s)", "scored against:", "true_family", "first 0 of them", "??", "metric{"):
        assert leak not in flat, leak
