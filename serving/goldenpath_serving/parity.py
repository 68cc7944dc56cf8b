"""Run as `python -m goldenpath_serving.parity MODEL_DIR` with JSON `inputs` on stdin.

Loads the bundled model in a fresh process (as the server will) and prints its predictions
as JSON, so the SDK can compare them with the predictions made in the notebook.
"""

from __future__ import annotations

import json
import sys

from goldenpath_serving._model import load_model


def main() -> None:
    inputs = json.load(sys.stdin)
    predictions = load_model(sys.argv[1]).predict_json(inputs)
    json.dump({"predictions": predictions}, sys.stdout)


if __name__ == "__main__":
    main()
