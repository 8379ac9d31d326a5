#!/usr/bin/env python3
"""Measures the voice anonymiser against an independent speaker-verification model.

    python3 tools/anonymity/measure.py [--work DIR] [--speakers N] [--quick]

Needs flite, espeak-ng, sox (Debian) and resemblyzer, librosa, pocketsphinx (pip). Builds and
runs the `anonymise_wav` example. Only the test voices of `voices.py` are used: none of them
went into the population tables.

Per voice: calibration speech (sentences 0-11, ~30 s), 10 reference utterances (sentences
20-29) and 10 trial utterances (sentences 30-39). Each voice's trials are anonymised as one
continuous stream (as in a hearing) with that voice's hearing secret, then cut back into
utterances. Scores are cosine similarities of resemblyzer d-vectors, utterance against
utterance; EER over all reference x trial pairs (same voice = target).

Attackers:
  ignorant   original references vs anonymised trials
  informed   references anonymised with the attacker's own secret vs anonymised trials
  search     informed, and the attacker also searches the method's secret parameter space:
             references anonymised with every (target F0, warp) of a 3 x 3 grid, best score kept
  inverting  original references vs anonymised trials pitch-shifted by a grid of inverse
             shifts (-600..+600 cents, sox), best score kept
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import voices  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "examples", "anonymise_wav")
LATENCY = 334  # samples at 48 kHz, VoiceAnonymiser::latency_samples()
GAP = 0.4  # seconds of silence between utterances of a stream
CALIB = range(0, 12)
REFS = range(20, 30)
TRIALS = range(30, 40)


def secret_hex(label):
    return hashlib.sha256(label.encode()).hexdigest()


def sh(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def read48(path):
    import soundfile as sf
    x, sr = sf.read(path, dtype="float32")
    assert sr == 48000
    return x


def write48(path, x):
    import soundfile as sf
    sf.write(path, x, 48000, subtype="PCM_16")


def synth_all(work, test_voices, texts):
    """Utterance WAVs per voice, sentence index -> path."""
    out = {}
    for engine, voice in test_voices:
        name = voices.voice_name(engine, voice)
        d = os.path.join(work, "orig", name)
        os.makedirs(d, exist_ok=True)
        out[name] = {}
        for i in list(CALIB) + list(REFS) + list(TRIALS):
            p = os.path.join(d, f"{i:02}.wav")
            if not os.path.exists(p):
                voices.synthesise(engine, voice, texts[i], p)
            out[name][i] = p
    return out


def anonymise_stream(paths, out_dir, secret, extra=(), warm=None):
    """Anonymises the utterances as one stream; returns per-utterance output paths."""
    os.makedirs(out_dir, exist_ok=True)
    outs = [os.path.join(out_dir, os.path.basename(p)) for p in paths]
    if all(os.path.exists(o) for o in outs):
        return outs
    gap = np.zeros(int(GAP * 48000), dtype=np.float32)
    parts, spans, pos = [], [], 0
    for p in paths:
        x = read48(p)
        spans.append((pos, pos + len(x)))
        parts += [x, gap]
        pos += len(x) + len(gap)
    stream_in = os.path.join(out_dir, "stream_in.wav")
    stream_out = os.path.join(out_dir, "stream_out.wav")
    write48(stream_in, np.concatenate(parts))
    cmd = [BIN, "--secret-hex", secret, *extra]
    if warm:
        cmd += ["--warm-up", warm]
    sh(cmd + [stream_in, stream_out])
    y = read48(stream_out)
    for (a, b), o in zip(spans, outs):
        write48(o, y[a + LATENCY:b + LATENCY])
    os.remove(stream_in)
    return outs


def concat(paths, out):
    if not os.path.exists(out):
        gap = np.zeros(int(GAP * 48000), dtype=np.float32)
        x = np.concatenate([np.concatenate([read48(p), gap]) for p in paths])
        write48(out, x)
    return out


class Embedder:
    """resemblyzer d-vectors, cached by path relative to the work directory."""

    def __init__(self, work):
        from resemblyzer import VoiceEncoder
        self.enc = VoiceEncoder("cpu", verbose=False)
        self.work = work
        self.cache_path = os.path.join(work, "embeddings.json")
        self.cache = {}
        if os.path.exists(self.cache_path):
            for k, v in json.load(open(self.cache_path)).items():
                if os.path.isabs(k):
                    k = os.path.relpath(k, work)
                self.cache[k] = np.array(v)

    def __call__(self, path):
        key = os.path.relpath(path, self.work)
        if key not in self.cache:
            from resemblyzer import preprocess_wav
            self.cache[key] = self.enc.embed_utterance(preprocess_wav(path))
        return self.cache[key]

    def save(self):
        json.dump({k: v.tolist() for k, v in self.cache.items()}, open(self.cache_path, "w"))


def eer(target, nontarget):
    target, nontarget = np.asarray(target), np.asarray(nontarget)
    thresholds = np.sort(np.concatenate([target, nontarget]))
    best = (2.0, 0.0)
    for t in thresholds:
        frr = np.mean(target < t)
        far = np.mean(nontarget >= t)
        if abs(frr - far) < best[0]:
            best = (abs(frr - far), (frr + far) / 2)
    return 100.0 * best[1]


def score(refs, trials, emb):
    """refs/trials: {voice: [paths or lists of paths]}; a list means 'best of'."""
    tgt, non = [], []
    for rv, rps in refs.items():
        for rp in rps:
            for tv, tps in trials.items():
                for tp in tps:
                    rs = rp if isinstance(rp, list) else [rp]
                    ts = tp if isinstance(tp, list) else [tp]
                    s = max(float(emb(a) @ emb(b)) for a in rs for b in ts)
                    (tgt if rv == tv else non).append(s)
    return eer(tgt, non), len(tgt), len(non)


def wer(ref, hyp):
    r, h = ref.split(), hyp.split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)], len(r)


def normalise_text(t):
    return re.sub(r"[^a-z' ]", " ", t.lower()).split()


def recognise_all(paths):
    import librosa
    from pocketsphinx import Decoder
    dec = Decoder(samprate=16000, loglevel="FATAL")
    hyps = []
    for p in paths:
        x, _ = librosa.load(p, sr=16000)
        dec.start_utt()
        dec.process_raw((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes(), full_utt=True)
        dec.end_utt()
        hyps.append(dec.hyp().hypstr if dec.hyp() else "")
    return hyps


def corpus_wer(paths, texts):
    errs = words = 0
    for hyp, t in zip(recognise_all(paths), texts):
        e, n = wer(" ".join(normalise_text(t)), " ".join(normalise_text(hyp)))
        errs, words = errs + e, words + n
    return 100.0 * errs / max(words, 1)


def voiced_fraction(paths):
    import librosa
    fr = []
    for p in paths:
        x, _ = librosa.load(p, sr=16000)
        _, flag, _ = librosa.pyin(x, fmin=60, fmax=400, sr=16000, frame_length=1024)
        fr.append(np.mean(flag))
    return float(np.mean(fr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/anonymity-measure")
    ap.add_argument("--speakers", type=int, default=0, help="limit the number of test voices")
    ap.add_argument("--quick", action="store_true", help="skip the grid attackers")
    ap.add_argument("--basic", action="store_true", help="EER only: skip grid attackers, WER, voicing")
    ap.add_argument("--anon-args", default="", help="extra anonymise_wav options, e.g. '--contrast 0.8'")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "-p", "assize-media", "--example", "anonymise_wav"],
                   check=True, cwd=ROOT)
    texts = voices.sentences()
    test_voices = voices.test_voices()
    if args.speakers:
        test_voices = test_voices[:args.speakers]
    orig = synth_all(args.work, test_voices, texts)
    names = list(orig)
    emb = Embedder(args.work)
    attacker = secret_hex("attacker")
    opts = args.anon_args.split()
    results = {"voices": names}

    refs = {v: [orig[v][i] for i in REFS] for v in names}
    trials = {v: [orig[v][i] for i in TRIALS] for v in names}
    anon, anon_warm, calib = {}, {}, {}
    for v in names:
        hearing = secret_hex("hearing/" + v)
        anon[v] = anonymise_stream(trials[v], os.path.join(args.work, "anon", v), hearing, extra=opts)
        calib[v] = concat([orig[v][i] for i in CALIB], os.path.join(args.work, "orig", v, "calib.wav"))
        anon_warm[v] = anonymise_stream(trials[v], os.path.join(args.work, "anon_warm", v), hearing,
                                        extra=opts, warm=calib[v])
    informed_refs = {v: anonymise_stream(refs[v], os.path.join(args.work, "informed", v), attacker,
                                          extra=opts)
                     for v in names}

    def report(key, value):
        results[key] = value
        print(f"{key}: {value}", flush=True)

    report("baseline (original vs original)", score(refs, trials, emb))
    report("ignorant", score(refs, anon, emb))
    report("ignorant, warm-up", score(refs, anon_warm, emb))
    report("informed", score(informed_refs, anon, emb))
    report("informed, warm-up", score(informed_refs, anon_warm, emb))
    emb.save()

    if args.basic:
        json.dump(results, open(os.path.join(args.work, "results.json"), "w"), indent=1)
        return
    if not args.quick:
        grid_refs = {v: [] for v in names}
        for f0 in (110, 150, 200):
            for warp in (0.9, 1.0, 1.1):
                for v in names:
                    grid_refs[v].append(anonymise_stream(
                        refs[v], os.path.join(args.work, f"search_{f0}_{warp}", v), attacker,
                        extra=opts + ["--target-f0", str(f0), "--warp", str(warp)]))
        search_refs = {v: [list(x) for x in zip(*grid_refs[v])] for v in names}
        report("search (informed + 3x3 grid over target F0 and warp)", score(search_refs, anon, emb))
        emb.save()
        inv = {}
        for v in names:
            inv[v] = []
            for p in anon[v]:
                shifted = []
                for cents in range(-600, 601, 200):
                    q = p.replace(".wav", f".pitch{cents}.wav")
                    if not os.path.exists(q):
                        sh(["sox", p, q, "pitch", str(cents)])
                    shifted.append(q)
                inv[v].append(shifted)
        report("inverting (pitch grid -600..600 cents on the trial)", score(refs, inv, emb))
        emb.save()

    for label, group in (("all voices", names), ("flite voices", [v for v in names if v.startswith("flite")])):
        if not group:
            continue
        trial_texts = [texts[i] for v in group for i in TRIALS]
        for cond, sets in (("original", trials), ("anonymised", anon), ("anonymised, warm-up", anon_warm)):
            report(f"WER {cond} trials, {label} (pocketsphinx)",
                   corpus_wer([p for v in group for p in sets[v]], trial_texts))
    sub = [(v, i) for v in names for i in range(0, 10, 3)]
    report("voiced fraction original (pyin)", voiced_fraction([trials[v][i] for v, i in sub]))
    report("voiced fraction anonymised (pyin)", voiced_fraction([anon[v][i] for v, i in sub]))
    json.dump(results, open(os.path.join(args.work, "results.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
