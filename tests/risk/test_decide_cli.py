"""``smelend risk decide``: simulated applications or an application file, one JSON document, clean errors."""

from __future__ import annotations

import contextlib
import json

import pytest

from smelend.cli import main
from smelend.risk.providers.base import SourceMissing
from smelend.risk.providers.files import FileProvider
from smelend.risk.providers.simulated import SimulatedProvider, simulate_applications
from smelend.risk.schemas import SOURCES


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def test_simulated_applications_give_one_json_document(capsys):
    code, out, err = run(capsys, "risk", "decide", "--simulate", "8", "--seed", "3", "--json")
    assert code == 0
    decisions = json.loads(out)["decisions"]
    assert len(decisions) == 8
    for d in decisions:
        assert d["outcome"] in ("approve", "decline", "refer")
        assert set(d) >= {"application_id", "outcome", "requested", "limit", "score", "pd", "grade", "reasons", "versions"}
        assert (d["outcome"] == "decline") == (d["limit"] == "0.00") or d["outcome"] == "refer"
        assert all(set(r) == {"code", "text", "source", "effect"} for r in d["reasons"])


def test_an_application_file_with_a_file_provider(capsys, tmp_path):
    app = simulate_applications(1, seed=8)[0]
    simulated = SimulatedProvider(seed=8)
    provider_dir = tmp_path / "provider"
    files = FileProvider(provider_dir)
    for source in SOURCES:
        with contextlib.suppress(SourceMissing):  # a source the simulated market has no record of stays absent
            files.write(source, app, simulated.fetch(source, app))
    path = tmp_path / "app.json"
    path.write_text(json.dumps(app.model_dump(mode="json")))
    code, out, _ = run(capsys, "risk", "decide", "--application", str(path), "--provider", f"files:{provider_dir}", "--json")
    assert code == 0
    (decision,) = json.loads(out)["decisions"]
    code, out, _ = run(capsys, "risk", "decide", "--application", str(path), "--provider", "simulated", "--seed", "8", "--json")
    (same,) = json.loads(out)["decisions"]
    assert decision["outcome"] == same["outcome"] and decision["pd"] == same["pd"] and decision["limit"] == same["limit"]


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--simulate", "0"], "--simulate"),
        ([], "--application"),
        (["--application", "/nonexistent/app.json"], "--application"),
        (["--simulate", "2", "--provider", "ftp://x"], "--provider"),
        (["--simulate", "2", "--strategy", "no-such-strategy"], "--strategy"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(capsys, argv, option):
    code, out, err = run(capsys, "risk", "decide", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"smelend: error: {option}: ")


def test_a_malformed_application_names_the_field(capsys, tmp_path):
    app = simulate_applications(1, seed=8)[0].model_dump(mode="json")
    app["applicant"]["id_number"] = "110105194912310021"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(app))
    code, _, err = run(capsys, "risk", "decide", "--application", str(path))
    assert code == 2 and "applicant.id_number" in err and err.count("\n") == 1
