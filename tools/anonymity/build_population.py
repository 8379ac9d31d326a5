#!/usr/bin/env python3
"""Regenerates media/src/voice/population.rs from the training voices.

    python3 tools/anonymity/build_population.py [--work DIR]

Needs flite, espeak-ng and sox (Debian packages). Synthesises every training voice reading the
first 20 sentences, then runs the `build_population_tables` example, which analyses them with
the anonymiser's own analysis code and writes the table.
"""

import argparse
import os
import subprocess
import tempfile

import voices

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=None, help="keep the synthesised WAVs here")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="population-")
    texts = voices.sentences()[:20]
    for engine, voice in voices.train_voices():
        d = os.path.join(work, voices.voice_name(engine, voice))
        os.makedirs(d, exist_ok=True)
        for i, t in enumerate(texts):
            out = os.path.join(d, f"{i:02}.wav")
            if not os.path.exists(out):
                voices.synthesise(engine, voice, t, out)
    subprocess.run(
        ["cargo", "run", "--release", "-p", "assize-media", "--example", "build_population_tables", "--",
         os.path.join(ROOT, "media", "src", "voice", "population.rs"), work],
        check=True, cwd=ROOT,
    )


if __name__ == "__main__":
    main()
