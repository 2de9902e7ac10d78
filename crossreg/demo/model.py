"""Trains the demo's breast-cancer classifier at build time.

Data: the Wisconsin diagnostic breast cancer data set that scikit-learn ships inside its wheel
(`sklearn.datasets.load_breast_cancer`: 569 patients, 30 features; nothing is downloaded).
Model: standardisation + logistic regression, trained on a stratified 75% split; the accuracy is
measured on the held-out 25%, by the exported pure-Python model itself (the exact bytes that go
into the image), and recorded in the image's metadata.

The exported model is plain JSON (means, scales, coefficients, intercept), so the image's
entrypoint needs no scikit-learn, numpy or pickle to use it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass

MODEL_FORMAT = "crossreg-demo/standardized-logistic-regression/v1"
RANDOM_STATE = 42
TEST_SIZE = 0.25
# Name of the label column in the CSV files the demo writes.
LABEL_COLUMN = "diagnosis"


@dataclass
class TrainedModel:
    model_json: bytes           # the model file, as stored in the image
    metadata: dict              # what the image's metadata.json holds (without file sha256s of code)
    feature_names: list[str]
    class_names: list[str]
    holdout_X: list[list[float]]
    holdout_y: list[int]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.model_json).hexdigest()

    @property
    def accuracy(self) -> float:
        return self.metadata["evaluation"]["accuracy"]

    def holdout_csv(self, limit: int | None = None, with_labels: bool = True) -> str:
        """The held-out patients as a CSV with a header (what the data owner's 'own data' is in
        the demo: rows the model never saw in training)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.feature_names + ([LABEL_COLUMN] if with_labels else []))
        rows = list(zip(self.holdout_X, self.holdout_y))[:limit]
        for x, y in rows:
            w.writerow([repr(v) for v in x] + ([self.class_names[y]] if with_labels else []))
        return buf.getvalue()


def _predict(spec: dict, x: list[float]) -> int:
    z = spec["intercept"]
    for v, m, s, w in zip(x, spec["mean"], spec["scale"], spec["coef"]):
        z += (v - m) / s * w
    p1 = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    return 1 if p1 > 0.5 else 0


def train(version: str = "1.0.0") -> TrainedModel:
    try:
        import sklearn
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("the demo trains its model with scikit-learn: "
                           "pip install -e '.[demo]'") from exc

    data = load_breast_cancer()
    X, y = data.data, data.target
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=RANDOM_STATE)
    scaler = StandardScaler().fit(X_train)
    clf = LogisticRegression(C=1.0, max_iter=5000, random_state=RANDOM_STATE)
    clf.fit(scaler.transform(X_train), y_train)

    feature_names = [str(n) for n in data.feature_names]
    class_names = [str(n) for n in data.target_names]  # 0 = malignant, 1 = benign
    spec = {
        "format": MODEL_FORMAT,
        "feature_names": feature_names,
        "class_names": class_names,
        "mean": [float(v) for v in scaler.mean_],
        "scale": [float(v) for v in scaler.scale_],
        "coef": [float(v) for v in clf.coef_[0]],
        "intercept": float(clf.intercept_[0]),
    }
    model_json = json.dumps(spec, indent=1).encode() + b"\n"
    # Measure what ships: reload the JSON bytes and predict with the same code path the
    # entrypoint uses.
    shipped = json.loads(model_json)
    holdout_X = [[float(v) for v in row] for row in X_test]
    holdout_y = [int(v) for v in y_test]
    predicted = [_predict(shipped, x) for x in holdout_X]
    correct = sum(int(p == t) for p, t in zip(predicted, holdout_y))
    sk_pred = clf.predict(scaler.transform(X_test))
    agreement = sum(int(p == s) for p, s in zip(predicted, sk_pred)) / len(predicted)

    metadata = {
        "name": "breast-cancer-classifier",
        "version": version,
        "task": "binary classification of breast masses (malignant / benign) from 30 "
                "features of a fine-needle-aspirate image",
        "dataset": {
            "name": "Breast Cancer Wisconsin (Diagnostic)",
            "source": "sklearn.datasets.load_breast_cancer (bundled with scikit-learn)",
            "samples": int(X.shape[0]), "features": int(X.shape[1]),
            "classes": class_names,
            "split": {"method": "stratified train_test_split", "test_size": TEST_SIZE,
                      "random_state": RANDOM_STATE, "train": len(y_train), "test": len(y_test)},
        },
        "model": {
            "file": "model.json", "format": MODEL_FORMAT, "sha256": hashlib.sha256(model_json).hexdigest(),
            "algorithm": "StandardScaler + LogisticRegression(C=1.0, lbfgs)",
            "trained_with": f"scikit-learn {sklearn.__version__}",
        },
        "evaluation": {
            "split": "held-out test split",
            "rows": len(holdout_y), "correct": correct,
            "accuracy": round(correct / len(holdout_y), 6),
            "agreement_with_sklearn_predict": round(agreement, 6),
        },
        "entrypoint": {"file": "serve.py", "requires": "python3 (>= 3.8), standard library only"},
    }
    return TrainedModel(model_json, metadata, feature_names, class_names, holdout_X, holdout_y)
