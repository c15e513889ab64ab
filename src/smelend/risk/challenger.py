"""The challenger: a small, deterministic LightGBM model with a PD calibration stored as plain numbers.

It answers "would a non-linear model rank applicants better than the scorecard?" on the same data.
Everything needed to score is text: the booster as LightGBM's own model text, plus JSON holding the
feature order, each categorical's category -> code map (sorted, so stable; unseen and missing
categories become NaN, which LightGBM treats as missing) and the calibration (Platt's a, b or the
isotonic step thresholds). No pickle anywhere.

Calibration is fitted on out-of-fold margins (inner stratified folds with the same parameters), then
applied to the final booster trained on all rows: sklearn's ``CalibratedClassifierCV(ensemble=False)``
recipe. Platt (the default) is strictly increasing, so it keeps the booster's ranking (and AUC);
isotonic is a step function and can tie applicants.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smelend.errors import InvalidInput
from smelend.risk.scorecard import Reason, top_reasons
from smelend.risk.tabular import CATEGORICAL, NUMERIC, Column, CodedColumn, Feature, is_missing, lookup_codes

if TYPE_CHECKING:
    import lightgbm as lgb

FORMAT = "smelend.challenger/1"
CALIBRATIONS = ("platt", "isotonic")
MAX_CATEGORIES = 10_000
LN2 = math.log(2.0)


@dataclass(frozen=True)
class ChallengerSettings:
    """LightGBM parameters for small credit samples, and the calibration.

    Chosen by 5-fold CV AUC on the German credit and ISLR Default samples against LightGBM's defaults
    (31 leaves, learning rate 0.1, 100 rounds): credit data is small and noisy, so fewer leaves, more
    rows per leaf, a lower learning rate with more rounds, row and column subsampling, and L2.
    """

    num_leaves: int = 7
    max_depth: int = 4
    learning_rate: float = 0.02
    rounds: int = 500
    min_data_in_leaf: int = 40
    min_sum_hessian_in_leaf: float = 1e-3
    lambda_l2: float = 10.0
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    min_data_per_group: int = 20
    cat_smooth: float = 10.0
    max_bin: int = 255
    seed: int = 0
    threads: int = 2
    monotone: tuple[tuple[str, int], ...] = ()  # (feature, +1 risk rises with it / -1 falls / 0 free)
    calibration: str = "platt"
    calibration_folds: int = 3
    pdo: float = 20.0  # expresses a reason's log-odds push as scorecard-like points

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATIONS:
            raise InvalidInput.one("calibration", f"{self.calibration!r} is not one of {', '.join(CALIBRATIONS)}")
        if self.calibration_folds < 2:
            raise InvalidInput.one("calibration_folds", "needs at least 2 folds")
        for name, sign in self.monotone:
            if sign not in (-1, 0, 1):
                raise InvalidInput.one("monotone", f"{name}: {sign!r} is not -1, 0 or 1")
        assert self.rounds >= 1 and self.num_leaves >= 2 and 0 < self.learning_rate <= 1

    def lightgbm_params(self, features: Sequence[Feature]) -> dict[str, Any]:
        """The exact parameters handed to ``lightgbm.train`` (deterministic on any machine)."""
        wanted = dict(self.monotone)
        params: dict[str, Any] = {
            "objective": "binary", "verbosity": -1, "seed": self.seed, "deterministic": True,
            "num_threads": self.threads, "force_col_wise": True, "num_leaves": self.num_leaves,
            "max_depth": self.max_depth, "learning_rate": self.learning_rate, "min_data_in_leaf": self.min_data_in_leaf,
            "min_sum_hessian_in_leaf": self.min_sum_hessian_in_leaf, "lambda_l2": self.lambda_l2,
            "feature_fraction": self.feature_fraction, "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq, "min_data_per_group": self.min_data_per_group,
            "cat_smooth": self.cat_smooth, "max_bin": self.max_bin,
        }
        if wanted:
            params["monotone_constraints"] = [int(wanted.get(f.name, 0)) for f in features]
            params["monotone_constraints_method"] = "advanced"
        return params

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["monotone"] = dict(self.monotone)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChallengerSettings":
        values = dict(data)
        values["monotone"] = tuple(sorted(dict(values.get("monotone", {})).items()))
        return cls(**values)


@dataclass(frozen=True)
class Calibration:
    """Margin -> PD. Platt: 1/(1+exp(-(a·m + b))). Isotonic: linear interpolation through (x, y), clipped."""

    method: str
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        assert self.method in CALIBRATIONS
        if self.method == "isotonic":
            assert len(self.x) == len(self.y) >= 1 and list(self.x) == sorted(self.x)
            assert list(self.y) == sorted(self.y) and 0 <= self.y[0] and self.y[-1] <= 1

    def apply(self, margin: np.ndarray) -> np.ndarray:
        m = np.asarray(margin, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a * m + self.b)))
        return np.interp(m, self.x, self.y)  # sklearn IsotonicRegression(out_of_bounds="clip") predicts this

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a, "b": self.b, "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Calibration":
        return cls(str(data["method"]), float(data["a"]), float(data["b"]),
                   tuple(float(v) for v in data["x"]), tuple(float(v) for v in data["y"]))


def fit_calibration(margin: np.ndarray, y_bad: np.ndarray, method: str) -> Calibration:
    """Platt scaling (an unregularised 1-d logistic regression) or isotonic regression, as plain numbers."""
    m = np.asarray(margin, dtype=np.float64)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        fitted = LogisticRegression(C=1e6, max_iter=1_000).fit(m.reshape(-1, 1), y_bad)
        return Calibration("platt", a=float(fitted.coef_[0, 0]), b=float(fitted.intercept_[0]))
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(m, y_bad)
    return Calibration("isotonic", x=tuple(map(float, iso.X_thresholds_)), y=tuple(map(float, iso.y_thresholds_)))


def infer_features(columns: Mapping[str, Column]) -> tuple[Feature, ...]:
    """Float/int arrays are numeric; CodedColumn, object and string arrays are categorical."""
    features = []
    for name, column in columns.items():
        numeric = not isinstance(column, CodedColumn) and np.asarray(column).dtype.kind in "fiu"
        features.append(Feature(name, NUMERIC if numeric else CATEGORICAL))
    return tuple(features)


def _categories_seen(column: Column) -> list[str]:
    if isinstance(column, CodedColumn):
        present = np.unique(column.codes[column.codes >= 0])
        values = [column.categories[i] for i in present.tolist()]
    else:
        values = {v if isinstance(v, str) else str(v) for v in np.asarray(column, dtype=object).tolist() if not is_missing(v)}
    return sorted(set(values))


def _matrix(columns: Mapping[str, Column], features: Sequence[Feature], maps: Mapping[str, Mapping[str, int]]) -> np.ndarray:
    """The float64 design matrix LightGBM sees: numerics as they are, categoricals as codes (NaN: missing or unseen)."""
    first = columns[features[0].name]
    n = len(first)
    out = np.empty((n, len(features)), dtype=np.float64, order="F")
    for j, f in enumerate(features):
        column = columns[f.name]
        if f.kind == NUMERIC:
            out[:, j] = np.asarray(column, dtype=np.float64)
        else:
            codes = lookup_codes(column, maps[f.name], -1, -1).astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
    return out


def _row_vector(row: Mapping[str, object], features: Sequence[Feature], maps: Mapping[str, Mapping[str, int]]) -> np.ndarray:
    out = np.empty((1, len(features)), dtype=np.float64)
    for j, f in enumerate(features):
        value = row.get(f.name)
        if f.kind == NUMERIC:
            try:
                out[0, j] = np.nan if value is None else float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise InvalidInput.one(f.name, f"not a number: {value!r}") from None
        else:
            code = None if is_missing(value) else maps[f.name].get(value if isinstance(value, str) else str(value))
            out[0, j] = np.nan if code is None else code
    return out


@dataclass(frozen=True, eq=False)
class Challenger:
    """A trained challenger: booster, feature order, category maps, calibration, settings."""

    booster: "lgb.Booster"
    features: tuple[Feature, ...]
    category_maps: Mapping[str, Mapping[str, int]]
    calibration: Calibration
    settings: ChallengerSettings
    descriptions: Mapping[str, str] = field(default_factory=dict)
    codes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.booster.num_feature() == len(self.features)
        assert set(self.category_maps) == {f.name for f in self.features if f.kind == CATEGORICAL}
        if not self.codes:
            object.__setattr__(self, "codes", {f.name: f"R{i + 1:02d}" for i, f in enumerate(self.features)})

    def margin(self, columns: Mapping[str, Column]) -> np.ndarray:
        """The booster's raw log-odds of bad."""
        return self.booster.predict(_matrix(columns, self.features, self.category_maps), raw_score=True, num_threads=self.settings.threads)

    def predict_pd(self, columns: Mapping[str, Column]) -> np.ndarray:
        return self.calibration.apply(self.margin(columns))

    def predict_pd_row(self, row: Mapping[str, object]) -> float:
        margin = self.booster.predict(_row_vector(row, self.features, self.category_maps), raw_score=True, num_threads=1)
        return float(self.calibration.apply(margin)[0])

    def contributions(self, row: Mapping[str, object]) -> dict[str, float]:
        """Each feature's SHAP push on the log-odds of bad for this row (positive: riskier)."""
        contrib = self.booster.predict(_row_vector(row, self.features, self.category_maps), pred_contrib=True, num_threads=1)[0]
        return {f.name: float(c) for f, c in zip(self.features, contrib[:-1])}

    def reasons(self, row: Mapping[str, object], top: int = 4) -> list[Reason]:
        """The features pushing this row's risk up the most, in points (log-odds · pdo/ln 2), ties by name."""
        scale = self.settings.pdo / LN2
        losses = {name: c * scale for name, c in self.contributions(row).items()}
        return top_reasons(losses, self.codes, self.descriptions, top)

    def metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "features": [f.to_dict() for f in self.features],
            "category_maps": {k: dict(v) for k, v in self.category_maps.items()},
            "calibration": self.calibration.to_dict(), "settings": self.settings.to_dict(),
            "descriptions": dict(self.descriptions), "codes": dict(self.codes),
            "rounds": self.booster.current_iteration(),
        }

    def save(self, directory: str | Path, booster_file: str = "challenger.txt") -> dict[str, Any]:
        """Write the booster text; return the metadata for the caller's JSON (the model directory's model.json)."""
        Path(directory, booster_file).write_text(self.booster.model_to_string(), encoding="utf-8")
        return self.metadata()

    @classmethod
    def load(cls, booster_text: str, metadata: Mapping[str, Any]) -> "Challenger":
        import lightgbm as lgb

        if metadata.get("format") != FORMAT:
            raise ValueError(f"not challenger metadata of format {FORMAT}: {metadata.get('format')!r}")
        return cls(
            booster=lgb.Booster(model_str=booster_text),
            features=tuple(Feature.from_dict(f) for f in metadata["features"]),
            category_maps={k: {str(c): int(i) for c, i in v.items()} for k, v in metadata["category_maps"].items()},
            calibration=Calibration.from_dict(metadata["calibration"]),
            settings=ChallengerSettings.from_dict(metadata["settings"]),
            descriptions=dict(metadata.get("descriptions", {})), codes=dict(metadata.get("codes", {})),
        )


def _train(matrix: np.ndarray, y: np.ndarray, features: Sequence[Feature], settings: ChallengerSettings) -> "lgb.Booster":
    import lightgbm as lgb

    categorical = [j for j, f in enumerate(features) if f.kind == CATEGORICAL]
    data = lgb.Dataset(matrix, label=y, feature_name=[f"f{j}" for j in range(len(features))],
                       categorical_feature=categorical, params={"verbosity": -1, "max_bin": settings.max_bin}, free_raw_data=True)
    return lgb.train(settings.lightgbm_params(features), data, num_boost_round=settings.rounds)


def fit_challenger(columns: Mapping[str, Column], y_bad: np.ndarray, settings: ChallengerSettings = ChallengerSettings(),
                   descriptions: Mapping[str, str] | None = None, features: Sequence[Feature] | None = None) -> Challenger:
    """Train the booster on all rows and its calibration on out-of-fold margins."""
    from sklearn.model_selection import StratifiedKFold

    features = tuple(features) if features is not None else infer_features(columns)
    y = np.asarray(y_bad).astype(np.int64)
    assert y.ndim == 1 and set(np.unique(y)) == {0, 1}, "y_bad must hold both 0 and 1"
    names = {f.name for f in features}
    for name, sign in settings.monotone:
        if name not in names:
            raise InvalidInput.one("monotone", f"no feature named {name!r}")
        if sign and next(f for f in features if f.name == name).kind == CATEGORICAL:
            raise InvalidInput.one("monotone", f"{name!r} is categorical; a monotone constraint needs a numeric feature")
    maps: dict[str, dict[str, int]] = {}
    for f in features:
        if f.kind == CATEGORICAL:
            seen = _categories_seen(columns[f.name])
            if len(seen) > MAX_CATEGORIES:
                raise InvalidInput.one("data", f"{f.name!r} has {len(seen)} categories, more than the limit of {MAX_CATEGORIES}")
            maps[f.name] = {c: i for i, c in enumerate(seen)}
    matrix = _matrix(columns, features, maps)
    assert matrix.shape == (y.size, len(features))

    folds = min(settings.calibration_folds, int(min(y.sum(), y.size - y.sum())))
    if folds < 2:
        raise InvalidInput.one("target", "too few bads or goods to calibrate the challenger")
    oof = np.empty(y.size, dtype=np.float64)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=settings.seed).split(matrix, y):
        booster = _train(matrix[train], y[train], features, settings)
        oof[test] = booster.predict(matrix[test], raw_score=True, num_threads=settings.threads)
    calibration = fit_calibration(oof, y, settings.calibration)
    booster = _train(matrix, y, features, settings)
    return Challenger(booster, features, maps, calibration, settings, dict(descriptions or {}))


def challenger_from_files(directory: str | Path, metadata: Mapping[str, Any], booster_file: str = "challenger.txt") -> Challenger:
    """Load a saved challenger: the booster text next to its metadata."""
    return Challenger.load(Path(directory, booster_file).read_text(encoding="utf-8"), metadata)

