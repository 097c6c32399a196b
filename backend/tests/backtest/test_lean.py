"""A backtest process imports XGBoost without scikit-learn, and scores exactly as with it."""

from __future__ import annotations

import json
import subprocess
import sys

from backend.tests.process import REPO_ROOT

# Train a small booster and score it, in a fresh interpreter, printing the bits of the scores and
# whether scikit-learn was loaded by then and could still be imported afterwards.
_SCORE = """
import json, sys
{setup}
import numpy as np
import xgboost as xgb
rng = np.random.default_rng(3)
X = rng.standard_normal((300, 5)).astype(np.float32)
y = (X[:, 0] + 0.3 * rng.standard_normal(300) > 0).astype(int)
booster = xgb.train({{"objective": "binary:logistic", "seed": 1, "nthread": 1}}, xgb.DMatrix(X, label=y), 5)
scores = booster.inplace_predict(X[:20]).astype(np.float64).view(np.int64).tolist()
loaded = "sklearn" in sys.modules
import sklearn.metrics
print(json.dumps({{"scores": scores, "sklearn_loaded": loaded, "sklearn_later": sklearn.metrics.__name__}}))
"""


def _run(setup: str) -> dict[str, object]:
    code = _SCORE.format(setup=setup)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, cwd=REPO_ROOT
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_xgboost_is_imported_without_sklearn_and_scores_the_same() -> None:
    lean = _run("from backend.backtest.lean import import_xgboost_without_sklearn\nimport_xgboost_without_sklearn()")
    plain = _run("")
    assert lean["sklearn_loaded"] is False  # the import was spared
    assert plain["sklearn_loaded"] is True  # (xgboost loads it by itself)
    assert lean["sklearn_later"] == "sklearn.metrics"  # and it still imports when asked for
    assert lean["scores"] == plain["scores"]  # bit for bit


def test_nothing_changes_once_xgboost_or_sklearn_is_loaded() -> None:
    import xgboost

    from backend.backtest.lean import import_xgboost_without_sklearn

    before = dict(sys.modules)
    import_xgboost_without_sklearn()
    assert sys.modules.get("sklearn") is before.get("sklearn")
    assert sys.modules["xgboost"] is xgboost
