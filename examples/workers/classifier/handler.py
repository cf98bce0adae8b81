"""A real model loaded at import, so the cold start is real work: a random
forest classifier trained on scikit-learn's bundled handwritten digits (no
download), then used for predictions.

input: {"pixels": [64 numbers 0..16]} or {"sample": index into the data set}
"""
import time

t0 = time.perf_counter()

import runpod  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

DIGITS = load_digits()
MODEL = RandomForestClassifier(n_estimators=60, random_state=0).fit(
    DIGITS.data, DIGITS.target
)
print(f"model trained in {time.perf_counter() - t0:.2f} s", flush=True)


def handler(job):
    inp = job["input"]
    if "pixels" in inp:
        x = [inp["pixels"]]
        truth = None
    else:
        i = int(inp.get("sample", 0)) % len(DIGITS.data)
        x = [DIGITS.data[i]]
        truth = int(DIGITS.target[i])
    proba = MODEL.predict_proba(x)[0]
    best = int(proba.argmax())
    return {"digit": best, "confidence": round(float(proba[best]), 4), "truth": truth}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
