"""A trained model as a directory of text: ``model.json`` and the challenger's ``challenger.txt``.

``model.json`` holds everything a later step needs without the training data or the training
libraries: where the model came from (file name and sha256, rows, bad rate, target, bad value), the
features and their types, the scorecard settings and the compiled scorecard, the challenger's
metadata and calibration, the development score distribution (decile edges and counts, for score
PSI) and the training metrics. Loading it imports neither optbinning, scikit-learn, pandas nor
LightGBM; the challenger's booster is read only when asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smelend.errors import InvalidInput
from smelend.risk.challenger import Challenger, ChallengerSettings
from smelend.risk.scorecard import CompiledScorecard, ScorecardSettings
from smelend.risk.tabular import Feature, Table

if TYPE_CHECKING:
    from collections.abc import Callable

FORMAT = "smelend.risk-model/1"
MODEL_FILE = "model.json"
BOOSTER_FILE = "challenger.txt"
SCORE_BINS = 10
REQUIRED = ("format", "created_at", "source", "features", "scorecard_settings", "scorecard", "challenger", "score_distribution", "metrics")


@dataclass(frozen=True)
class Source:
    """The development sample a model was trained on."""

    file: str
    sha256: str
    rows: int
    bad_rate: float
    target: str
    bad: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "rows": self.rows, "bad_rate": self.bad_rate, "target": self.target, "bad": self.bad}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Source":
        return cls(str(data["file"]), str(data["sha256"]), int(data["rows"]), float(data["bad_rate"]), str(data["target"]), str(data["bad"]))


@dataclass(frozen=True)
class ScoreDistribution:
    """The development scores' decile edges and counts per bin (``validation.bin_counts`` layout: last bin NaN)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        assert len(self.counts) == len(self.edges) + 2 and sum(self.counts) > 0
        assert list(self.edges) == sorted(set(self.edges))

    @property
    def shares(self) -> tuple[float, ...]:
        total = sum(self.counts)
        return tuple(c / total for c in self.counts)

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "counts": list(self.counts), "shares": list(self.shares)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ScoreDistribution":
        return cls(tuple(float(e) for e in data["edges"]), tuple(int(c) for c in data["counts"]))


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A champion scorecard and its challenger, with the facts a validator asks for."""

    source: Source
    features: tuple[Feature, ...]
    scorecard_settings: ScorecardSettings
    scorecard: CompiledScorecard
    challenger_metadata: Mapping[str, Any]
    score_distribution: ScoreDistribution
    metrics: Mapping[str, Any]  # {"sample": ..., "scorecard": {auc, gini, ks}, "challenger": {...}}
    created_at: str
    booster_text: str | None = None  # in memory after training; read from ``directory`` on demand after loading
    directory: Path | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        assert set(self.scorecard.feature_names) <= set(names), "the scorecard uses only known features"
        assert self.booster_text is not None or self.directory is not None, "a bundle needs its booster text or its directory"

    def challenger(self) -> Challenger:
        """The challenger, loading LightGBM (which itself imports pandas and scikit-learn) on first use."""
        if "challenger" not in self._cache:
            text = self.booster_text
            if text is None:
                assert self.directory is not None
                path = self.directory / BOOSTER_FILE
                try:
                    text = path.read_text(encoding="utf-8")
                except OSError:
                    raise InvalidInput.one("model", f"{str(self.directory)!r} has no readable {BOOSTER_FILE}") from None
                expected = self.challenger_metadata.get("booster_sha256")
                if expected and hashlib.sha256(text.encode("utf-8")).hexdigest() != expected:
                    raise InvalidInput.one("model", f"{BOOSTER_FILE} in {str(self.directory)!r} does not match model.json (sha256 differs)")
            try:
                self._cache["challenger"] = Challenger.load(text, self.challenger_metadata)
            except Exception as exc:
                raise InvalidInput.one("model", f"the challenger in {str(self.directory)!r} cannot be loaded: {exc}") from None
        return self._cache["challenger"]

    def to_dict(self) -> dict[str, Any]:
        """The ``model.json`` document."""
        meta = dict(self.challenger_metadata)
        if self.booster_text is not None:
            meta["booster_file"] = BOOSTER_FILE
            meta["booster_sha256"] = hashlib.sha256(self.booster_text.encode("utf-8")).hexdigest()
        return {
            "format": FORMAT, "created_at": self.created_at, "source": self.source.to_dict(),
            "features": [f.to_dict() for f in self.features], "scorecard_settings": self.scorecard_settings.to_dict(),
            "scorecard": self.scorecard.to_dict(), "challenger": meta,
            "score_distribution": self.score_distribution.to_dict(), "metrics": dict(self.metrics),
        }


def score_distribution(scores: np.ndarray, bins: int = SCORE_BINS) -> ScoreDistribution:
    """Decile edges of the development scores and the count in each bin, frozen for later PSI."""
    from smelend.risk.validation import bin_counts, quantile_edges

    edges = quantile_edges(scores, bins)
    return ScoreDistribution(tuple(float(e) for e in edges), tuple(int(c) for c in bin_counts(scores, edges)))


def train_bundle(table: Table, scorecard_settings: ScorecardSettings = ScorecardSettings(),
                 challenger_settings: ChallengerSettings = ChallengerSettings(),
                 descriptions: Mapping[str, str] | None = None,
                 progress: "Callable[[str], None] | None" = None) -> ModelBundle:
    """Train the scorecard and the challenger on the whole development sample and gather the bundle."""
    from smelend.risk.challenger import fit_challenger
    from smelend.risk.metrics import discrimination
    from smelend.risk.scorecard import fit_scorecard

    assert table.y_bad is not None and table.target is not None and table.bad is not None
    if progress:
        progress("training the scorecard")
    _, compiled = fit_scorecard(table.frame(), table.y_bad, scorecard_settings, descriptions)
    if progress:
        progress("training the challenger")
    challenger = fit_challenger(table.columns, table.y_bad, challenger_settings, descriptions, features=table.features)
    scores = compiled.score_columns(table.columns)
    metrics = {
        "scorecard": discrimination(table.y_bad, -scores),
        "challenger": discrimination(table.y_bad, challenger.predict_pd(table.columns)),
    }
    return ModelBundle(
        source=Source(table.source, table.source_sha256, table.rows, table.bad_rate, table.target, table.bad),
        features=table.features, scorecard_settings=scorecard_settings, scorecard=compiled,
        challenger_metadata=challenger.metadata(), score_distribution=score_distribution(scores),
        metrics={"sample": "development (in-sample)", **metrics},
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        booster_text=challenger.booster.model_to_string(),
    )


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the model from the group that scores with it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_model(bundle: ModelBundle, directory: str | Path) -> Path:
    """Write the model directory: the booster first, then model.json (which names the booster's sha256)."""
    if bundle.booster_text is None:
        raise ValueError("only a freshly trained bundle (holding its booster text) can be saved")
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise InvalidInput.one("out", f"{str(out)!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_atomically(out / BOOSTER_FILE, bundle.booster_text)
        _write_atomically(out / MODEL_FILE, json.dumps(bundle.to_dict(), ensure_ascii=False, indent=1, allow_nan=False) + "\n")
    except OSError as exc:
        raise InvalidInput.one("out", f"cannot write the model to {str(out)!r}: {exc.strerror or exc}") from None
    return out


def load_model(directory: str | Path) -> ModelBundle:
    """Read and check a model directory; every problem is one ``--model`` error."""
    where = Path(directory)
    if not where.is_dir():
        raise InvalidInput.one("model", f"no model directory {str(where)!r}")
    path = where / MODEL_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput.one("model", f"{str(where)!r} has no {MODEL_FILE}: not a model directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput.one("model", f"{MODEL_FILE} in {str(where)!r} is unreadable or not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput.one("model", f"{MODEL_FILE} in {str(where)!r} is not a JSON object")
    if data.get("format") != FORMAT:
        raise InvalidInput.one("model", f"{MODEL_FILE} in {str(where)!r} has format {data.get('format')!r}, expected {FORMAT!r}")
    absent = [k for k in REQUIRED if k not in data]
    if absent:
        raise InvalidInput.one("model", f"{MODEL_FILE} in {str(where)!r} lacks {', '.join(absent)}")
    try:
        return ModelBundle(
            source=Source.from_dict(data["source"]),
            features=tuple(Feature.from_dict(f) for f in data["features"]),
            scorecard_settings=ScorecardSettings.from_dict(data["scorecard_settings"]),
            scorecard=CompiledScorecard.from_dict(data["scorecard"]),
            challenger_metadata=dict(data["challenger"]),
            score_distribution=ScoreDistribution.from_dict(data["score_distribution"]),
            metrics=dict(data["metrics"]), created_at=str(data["created_at"]), directory=where,
        )
    except (KeyError, TypeError, ValueError, AssertionError, InvalidInput) as exc:
        raise InvalidInput.one("model", f"{MODEL_FILE} in {str(where)!r} is corrupt: {type(exc).__name__} {exc}") from None
