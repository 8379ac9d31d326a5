#!/usr/bin/env python3
"""Do different secrets give different voices? Speaker-verification view.

    python3 tools/anonymity/secret_distinctness.py [--work DIR] [--voice flite-slt] [--secrets 6]

Run after measure.py (reuses its synthesised test utterances). One test voice's 10 trial
utterances are anonymised with several secrets; the d-vector cosine similarity between
utterances made with the same secret is compared with that between utterances made with
different secrets (always different utterances), and the EER of telling them apart is reported.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/anonymity-measure")
    ap.add_argument("--voice", default="flite-slt")
    ap.add_argument("--secrets", type=int, default=6)
    args = ap.parse_args()
    trials = [os.path.join(args.work, "orig", args.voice, f"{i:02}.wav") for i in measure.TRIALS]
    emb = measure.Embedder(args.work)
    sets = []
    for k in range(args.secrets):
        out = os.path.join(args.work, "secrets", args.voice, str(k))
        sets.append(measure.anonymise_stream(trials, out, measure.secret_hex(f"secret/{k}")))
    same, diff = [], []
    for a in range(len(sets)):
        for b in range(len(sets)):
            for i in range(len(trials)):
                for j in range(len(trials)):
                    if i == j:
                        continue
                    s = float(emb(sets[a][i]) @ emb(sets[b][j]))
                    (same if a == b else diff).append(s)
    emb.save()
    print(f"same secret: mean similarity {np.mean(same):.3f} ({len(same)} pairs)")
    print(f"different secrets: mean similarity {np.mean(diff):.3f} ({len(diff)} pairs)")
    print(f"EER telling same from different secret: {measure.eer(same, diff):.1f}%")


if __name__ == "__main__":
    main()
