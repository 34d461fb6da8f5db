"""The paper's generated artefacts match the run they come from, and the PDF builds from them."""

import json
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT
from galaxyutils import paper
from galaxyutils.compare import flatten


@pytest.fixture(scope="module")
def paper_dir(smoke_run, tmp_path_factory):
    run_dir, _ = smoke_run
    target = tmp_path_factory.mktemp("paper")
    for name in ("main.tex", "refs.bib"):
        shutil.copy2(REPO_ROOT / "paper" / name, target / name)
    paper.write_artefacts(run_dir, target)
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
    assert {p.stem for p in (paper_dir / "generated" / "figures").glob("*.png")} == set(paper.FIGURES)


def test_latex_escaping_keeps_catalogue_text_inert():
    assert paper.escape("50% of id_1 & {x}") == r"50\% of id\_1 \& \{x\}"
    assert paper.format_value(0.123456) == "0.123" and paper.format_value(243434) == "243{,}434" and paper.format_value(None) == "n/a"


def test_a_run_without_evaluation_is_refused(tmp_path):
    with pytest.raises(paper.PaperError, match="not a finished run"):
        paper.write_artefacts(tmp_path, tmp_path / "paper")


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
    assert f"We group {metrics['n_galaxies']} galaxies" in " ".join(text.split())
    assert f"{metrics['evaluation']['simclr']['clusters']['v_measure']:.3f}" in text
    assert "Chen T." in text or "Chen, T." in text or "Chen et al." in text
    assert "This run produced no" not in text  # every figure of the smoke run made it in
