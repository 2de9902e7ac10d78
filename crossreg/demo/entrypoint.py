#!/usr/bin/env python3
"""Breast-cancer classifier: the entrypoint of crossreg's demo model image (/opt/model/serve.py).

This file is copied verbatim into the image. It needs only a Python 3 interpreter (3.8 or later)
and its standard library: the model is a logistic regression stored as plain JSON numbers, so no
scikit-learn, numpy or pickle is needed (and nothing in the image is executed but this file).

    python3 serve.py [--host 0.0.0.0] [--port 8080]    serve HTTP (the container's default)
    python3 serve.py --predict FILE                    predict a CSV/JSON file ('-' = stdin), print JSON

HTTP interface (the SageMaker inference-container contract):
    GET  /ping          200 {"status": "healthy"} once the model is loaded and verified
    GET  /metadata      the model's metadata (accuracy measured at build time, sha256, features)
    POST /invocations   text/csv or application/json in, JSON predictions out

CSV: one row per patient with the 30 features of the Wisconsin diagnostic data set, in the
data set's order or, with a header row, by name (spaces or underscores). An optional label
column (`diagnosis`, `target` or `label`: malignant/benign or 0/1) adds an evaluation.
JSON: {"instances": [[30 numbers], ...]} or {"instances": [{"mean radius": ..., ...}, ...]}.

At start the model file's sha256 is checked against the one recorded in metadata.json; on a
mismatch the process exits with status 3 and serves nothing.
"""

import argparse
import csv
import hashlib
import io
import json
import math
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 16 * 1024 * 1024
LABEL_COLUMNS = ("diagnosis", "target", "label")


class BadInput(ValueError):
    pass


def _norm(name):
    return name.strip().lower().replace("_", " ")


class Model:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "metadata.json"), "rb") as f:
            self.metadata = json.load(f)
        with open(os.path.join(model_dir, self.metadata["model"]["file"]), "rb") as f:
            raw = f.read()
        actual = hashlib.sha256(raw).hexdigest()
        if actual != self.metadata["model"]["sha256"]:
            raise SystemExit("model file sha256 %s does not match the recorded %s"
                             % (actual, self.metadata["model"]["sha256"]))
        self.sha256 = actual
        spec = json.loads(raw)
        if spec.get("format") != "crossreg-demo/standardized-logistic-regression/v1":
            raise SystemExit("unknown model format %r" % spec.get("format"))
        self.features = spec["feature_names"]
        self.classes = spec["class_names"]  # index 0 and 1
        self.mean, self.scale = spec["mean"], spec["scale"]
        self.coef, self.intercept = spec["coef"], spec["intercept"]
        self._index = {_norm(n): i for i, n in enumerate(self.features)}

    # -- prediction --------------------------------------------------------
    def predict_one(self, x):
        z = self.intercept
        for v, m, s, w in zip(x, self.mean, self.scale, self.coef):
            z += (v - m) / s * w
        p1 = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
        k = 1 if p1 > 0.5 else 0
        return {"label": self.classes[k], "class": k,
                "probabilities": {self.classes[0]: round(1.0 - p1, 6), self.classes[1]: round(p1, 6)}}

    def predict(self, rows, labels=None):
        out = {"predictions": [self.predict_one(x) for x in rows],
               "model": {"name": self.metadata["name"], "version": self.metadata["version"],
                         "sha256": self.sha256,
                         "accuracy_at_build": self.metadata["evaluation"]["accuracy"]}}
        if labels is not None:
            correct = sum(1 for p, y in zip(out["predictions"], labels) if p["class"] == y)
            out["evaluation"] = {"rows": len(labels), "correct": correct,
                                 "accuracy": round(correct / len(labels), 6) if labels else None}
        return out

    # -- input parsing -----------------------------------------------------
    def _label(self, value):
        v = value.strip().lower()
        for k, name in enumerate(self.classes):
            if v in (name.lower(), str(k), name[0].lower()):
                return k
        raise BadInput("unknown label %r (expected %s or 0/1)" % (value, "/".join(self.classes)))

    def _number(self, value, where):
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise BadInput("%s: %r is not a number" % (where, value))
        if math.isnan(x) or math.isinf(x):
            raise BadInput("%s: %r is not a finite number" % (where, value))
        return x

    def parse_csv(self, text):
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
        if not rows:
            raise BadInput("no rows")
        n = len(self.features)
        header = None
        try:
            [float(c) for c in rows[0] if c.strip() and _norm(c) not in LABEL_COLUMNS]
            if any(_norm(c) in LABEL_COLUMNS for c in rows[0]):
                raise ValueError
        except ValueError:
            header, rows = [_norm(c) for c in rows[0]], rows[1:]
        if header is not None:
            missing = [f for f in self.features if _norm(f) not in header]
            if missing:
                raise BadInput("missing feature columns: %s" % ", ".join(missing))
            cols = [header.index(_norm(f)) for f in self.features]
            label_col = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
        else:
            if len(rows[0]) not in (n, n + 1):
                raise BadInput("expected %d feature columns (or %d with a label last), got %d"
                               % (n, n + 1, len(rows[0])))
            cols = list(range(n))
            label_col = n if len(rows[0]) == n + 1 else None
        data, labels = [], []
        for i, r in enumerate(rows, start=2 if header else 1):
            if len(r) <= max(cols + ([label_col] if label_col is not None else [])):
                raise BadInput("line %d: too few columns" % i)
            data.append([self._number(r[c], "line %d" % i) for c in cols])
            if label_col is not None:
                labels.append(self._label(r[label_col]))
        return data, (labels if label_col is not None else None)

    def parse_json(self, text):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise BadInput("invalid JSON: %s" % exc)
        items = doc.get("instances", doc.get("inputs")) if isinstance(doc, dict) else doc
        if not isinstance(items, list) or not items:
            raise BadInput('expected {"instances": [...]} with at least one instance')
        data = []
        for i, item in enumerate(items):
            where = "instance %d" % i
            if isinstance(item, dict):
                byname = {_norm(k): v for k, v in item.items()}
                missing = [f for f in self.features if _norm(f) not in byname]
                if missing:
                    raise BadInput("%s: missing %s" % (where, ", ".join(missing)))
                data.append([self._number(byname[_norm(f)], where) for f in self.features])
            elif isinstance(item, list) and len(item) == len(self.features):
                data.append([self._number(v, where) for v in item])
            else:
                raise BadInput("%s: expected %d numbers or an object of features" % (where, len(self.features)))
        return data, None

    def parse(self, body, content_type):
        text = body.decode("utf-8-sig")
        kind = (content_type or "").split(";")[0].strip().lower()
        if kind in ("application/json", "application/jsonlines") or (not kind and text.lstrip()[:1] in "[{"):
            return self.parse_json(text)
        if kind in ("text/csv", "text/plain", "application/csv", ""):
            return self.parse_csv(text)
        raise LookupError(kind)


def make_handler(model):
    class Handler(BaseHTTPRequestHandler):
        server_version = "crossreg-demo-model/1"

        def _send(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/ping":
                self._send(200, {"status": "healthy"})
            elif self.path == "/metadata":
                self._send(200, model.metadata)
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self):
            if self.path != "/invocations":
                return self._send(404, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._send(413, {"error": "body larger than %d bytes" % MAX_BODY})
            body = self.rfile.read(length)
            try:
                rows, labels = model.parse(body, self.headers.get("Content-Type"))
            except LookupError as exc:
                return self._send(415, {"error": "unsupported content type %s (use text/csv or application/json)" % exc})
            except (BadInput, UnicodeDecodeError) as exc:
                return self._send(400, {"error": str(exc)})
            self._send(200, model.predict(rows, labels))

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    return Handler


def main(argv=None):
    ap = argparse.ArgumentParser(description="Breast-cancer classifier (crossreg demo model).")
    ap.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    ap.add_argument("--predict", metavar="FILE", help="predict a CSV or JSON file ('-' = stdin) and exit")
    ap.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args(argv)
    model = Model(args.model_dir)
    if args.predict:
        body = sys.stdin.buffer.read() if args.predict == "-" else open(args.predict, "rb").read()
        kind = "application/json" if args.predict.endswith(".json") else None
        try:
            rows, labels = model.parse(body, kind)
        except (BadInput, LookupError) as exc:
            sys.stderr.write("error: %s\n" % exc)
            return 2
        json.dump(model.predict(rows, labels), sys.stdout)
        sys.stdout.write("\n")
        return 0
    httpd = ThreadingHTTPServer((args.host, args.port), make_handler(model))
    sys.stderr.write("breast-cancer classifier (model sha256 %s, accuracy at build %.4f) on http://%s:%d\n"
                     % (model.sha256[:12], model.metadata["evaluation"]["accuracy"], args.host,
                        httpd.server_address[1]))
    sys.stderr.flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
