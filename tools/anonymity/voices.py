"""Voices for the anonymiser's population tables and for its measurement.

The two sets are disjoint: the population tables never see a voice that is measured.
flite voices come from the Debian `flite` package, espeak-ng voices are accent x variant
combinations from the Debian `espeak-ng` package (formant synthesis; "distinct" only in the
sense that each variant changes pitch, formant scaling and voice quality).
"""

import os
import subprocess
import tempfile

# `kal` is left out: it is an 8 kHz voice (nothing above 4 kHz), so its spectrum is not a
# speaker's but a telephone band's; `kal16` is the same speaker at 16 kHz.
FLITE_TRAIN = ["kal16", "awb"]
FLITE_TEST = ["rms", "slt"]

ESPEAK_TRAIN_ACCENTS = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-029"]
ESPEAK_TRAIN_VARIANTS = [
    "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f4",
    "klatt", "klatt2", "Alex", "Andy", "Annie", "belinda", "benjamin", "david", "edward", "linda",
]
ESPEAK_TEST_ACCENTS = ["en-gb-x-gbcwmd", "en-us-nyc"]
ESPEAK_TEST_VARIANTS = ["m7", "f5", "klatt3", "Mike"]


def train_voices():
    voices = [("flite", v) for v in FLITE_TRAIN]
    voices += [("espeak", f"{a}+{v}") for a in ESPEAK_TRAIN_ACCENTS for v in ESPEAK_TRAIN_VARIANTS]
    return voices


def test_voices():
    voices = [("flite", v) for v in FLITE_TEST]
    voices += [("espeak", f"{a}+{v}") for a in ESPEAK_TEST_ACCENTS for v in ESPEAK_TEST_VARIANTS]
    return voices


def sentences():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "sentences.txt")) as f:
        return [line.strip() for line in f if line.strip()]


def voice_name(engine, voice):
    return f"{engine}-{voice}".replace("+", "_")


def synthesise(engine, voice, text, out_wav):
    """Writes `text` spoken by the voice as a 48 kHz 16-bit mono WAV (peak -3 dBFS)."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        if engine == "flite":
            cmd = ["flite", "-voice", voice, "-t", text, "-o", tmp.name]
        else:
            cmd = ["espeak-ng", "-v", voice, "-w", tmp.name, text]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(
            ["sox", tmp.name, "-r", "48000", "-b", "16", "-c", "1", out_wav, "norm", "-3"],
            check=True,
        )
