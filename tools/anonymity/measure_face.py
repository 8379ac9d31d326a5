#!/usr/bin/env python3
"""Measures the face anonymiser against independent face detectors and a face recogniser.

    python3 tools/anonymity/measure_face.py [--work DIR] [--frames 250] [--cnn-every 10]
        [--samples tools/anonymity/samples/face_montage.jpg]

Needs (pip): scikit-image, matplotlib, pillow (pictures, see face_data.py),
"opencv-python-headless<5" (OpenCV 5 dropped the Haar cascades), dlib-bin and
face_recognition_models (dlib's HOG and CNN face detectors and its ResNet face descriptor, all
shipped inside the packages). Builds and runs the `anonymise_y4m` example.

None of these models is the anonymiser's own detector (CenterFace): they are the attackers.

Steps:
1. A synthetic 640x360 video (face_data.py): the two public-domain portraits moved, scaled and
   bobbed over a backdrop in five scenes, with the true face box of every frame.
2. The video anonymised in each configuration: Masked with the detector on every frame, every
   2nd (the default) and every 3rd frame; FullFrame.
3. Detection rate, original vs anonymised: the share of frames (face at least half in the
   picture) where a detector finds a face overlapping the true box (IoU >= 0.3).
   Detectors: OpenCV Haar cascade (frontal, default model, scale 1.1, 5 neighbours; and the
   profile cascade), dlib HOG (upsampling 1), dlib CNN (MMOD, upsampling 1, every
   `--cnn-every`-th frame: it is slow on a CPU).
4. Identity: dlib's ResNet face descriptor (128-d, the model behind face_recognition; same
   person below 0.6 by its authors' calibration) of the face at its *true* box (the attacker is
   told where the face is), compared with the descriptor of the full-size original portrait of
   the same person. Reported: the share of frames below 0.6, and the median distance.
5. Leak check (Masked): the share of frames in which any luma sample inside the true face box
   differs from the mask value (any sample that survived).

Results go to WORK/results.json and are printed as Markdown tables.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import face_data  # noqa: E402

ROOT = face_data.ROOT
BIN = os.path.join(ROOT, "target", "release", "examples", "anonymise_y4m")
MASK_LUMA = 128

CONFIGS = [
    ("masked, detector every frame", ["--mode", "masked", "--detect-every", "1"]),
    ("masked, every 2nd frame (default)", ["--mode", "masked", "--detect-every", "2"]),
    ("masked, every 3rd frame", ["--mode", "masked", "--detect-every", "3"]),
    # The live pipeline: detection on its own thread, answers a frame or two late.
    ("masked, every 2nd frame, answers 1 frame late (live, 16:9)",
     ["--mode", "masked", "--detect-every", "2", "--detector-delay", "1"]),
    ("masked, every 2nd frame, answers 2 frames late (live, 640x480)",
     ["--mode", "masked", "--detect-every", "2", "--detector-delay", "2"]),
    ("full frame", ["--mode", "full-frame"]),
]


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Attackers:
    def __init__(self):
        import cv2
        import dlib
        import face_recognition_models as frm
        self.cv2, self.dlib = cv2, dlib
        self.haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self.profile = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_profileface.xml")
        self.hog = dlib.get_frontal_face_detector()
        self.cnn = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
        self.shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def detect(self, rgb, cnn):
        """Boxes (x0, y0, x1, y1) per detector name."""
        g = self.cv2.cvtColor(rgb, self.cv2.COLOR_RGB2GRAY)
        out = {}
        out["haar"] = [(x, y, x + w, y + h) for x, y, w, h in self.haar.detectMultiScale(g, 1.1, 5)]
        prof = [(x, y, x + w, y + h) for x, y, w, h in self.profile.detectMultiScale(g, 1.1, 5)]
        flipped = self.profile.detectMultiScale(np.ascontiguousarray(g[:, ::-1]), 1.1, 5)
        W = g.shape[1]
        prof += [(W - x - w, y, W - x, y + h) for x, y, w, h in flipped]
        out["haar_profile"] = prof
        out["dlib_hog"] = [(r.left(), r.top(), r.right(), r.bottom()) for r in self.hog(rgb, 1)]
        if cnn:
            out["dlib_cnn"] = [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom())
                               for d in self.cnn(rgb, 1)]
        return out

    def descriptor(self, rgb, box):
        r = self.dlib.rectangle(*[int(round(c)) for c in box])
        shape = self.shape(rgb, r)
        return np.array(self.encoder.compute_face_descriptor(rgb, shape))


def frames_rgb(path):
    for y, u, v in face_data.read_y4m(path):
        yield y, face_data.i420_to_rgb(y, u, v)


def evaluate(path, truth, att, refs, cnn_every, masked):
    hits, counts = {}, {}
    dists, leaks, whole, n = [], 0, 0, 0
    for i, ((y, rgb), t) in enumerate(zip(frames_rgb(path), truth["frames"])):
        face = t["faces"][0]
        if face["visible"] < 0.5:
            continue
        n += 1
        box = face["box"]
        found = att.detect(rgb, cnn=(cnn_every > 0 and i % cnn_every == 0))
        for name, boxes in found.items():
            counts[name] = counts.get(name, 0) + 1
            if any(iou(b, box) >= 0.3 for b in boxes):
                hits[name] = hits.get(name, 0) + 1
        d = att.descriptor(rgb, box)
        dists.append(float(np.linalg.norm(d - refs[t["source"]])))
        if masked:
            h, w = y.shape
            x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
            x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
            if len(np.unique(y)) <= 4:
                whole += 1  # the whole frame is a silhouette (fail-closed), not a leak
            elif (y[y0:y1, x0:x1] != MASK_LUMA).any():
                leaks += 1
    rates = {k: hits.get(k, 0) / counts[k] for k in counts}
    dists = np.array(dists)
    return {
        "frames": n,
        "detection_rate": rates,
        "identity_same_person_rate": float((dists < 0.6).mean()),
        "identity_median_distance": float(np.median(dists)),
        "masked_frames_with_surviving_face_samples": leaks if masked else None,
        "masked_frames_covered_whole": whole if masked else None,
    }


def montage(paths, frames, out):
    """A JPEG grid: one row per video in `paths`, one column per frame index, half size."""
    from PIL import Image
    rows = []
    for path in paths:
        row = []
        for i, (y, rgb) in enumerate(frames_rgb(path)):
            if i in frames:
                row.append(Image.fromarray(rgb).reduce(2))
        rows.append(row)
    w, h = rows[0][0].size
    grid = Image.new("RGB", (w * len(frames), h * len(rows)))
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            grid.paste(im, (c * w, r * h))
    grid.save(out, quality=80)


def output_path(work, label):
    """Where a configuration's output video goes: a file name made from its whole label."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in label).strip("_")
    return os.path.join(work, slug + ".y4m")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/assize-face")
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--cnn-every", type=int, default=10)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--only", default="", help="run only the configurations whose label contains this")
    ap.add_argument("--samples", help="also write a JPEG montage (original / masked / full frame) here")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)

    subprocess.run(["cargo", "build", "--release", "-p", "assize-media", "--example", "anonymise_y4m"],
                   cwd=ROOT, check=True)
    video = os.path.join(a.work, f"faces_{a.width}x{a.height}.y4m")
    if not os.path.exists(video + ".json"):
        face_data.write_video(video, a.width, a.height, a.frames)
    with open(video + ".json") as f:
        truth = json.load(f)

    att = Attackers()
    refs = {}
    for name, box in face_data.SOURCES.items():
        refs[name] = att.descriptor(face_data.load(name), box)

    results = {"video": os.path.basename(video), "original": evaluate(video, truth, att, refs, a.cnn_every, False)}
    configs = [(label, args) for label, args in CONFIGS if a.only in label]
    for label, args in configs:
        out = output_path(a.work, label)
        r = subprocess.run([BIN, *args, video, out], check=True, stderr=subprocess.PIPE, text=True)
        print(label, "|", r.stderr.strip(), file=sys.stderr)
        res = evaluate(out, truth, att, refs, a.cnn_every, args[1] == "masked")
        res["anonymiser"] = r.stderr.strip()
        results[label] = res

    if a.samples and len(configs) == len(CONFIGS):
        montage([video, output_path(a.work, "masked, every 2nd frame (default)"),
                 output_path(a.work, "full frame")], [30, 110, 160, 240], a.samples)
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    names = ["haar", "haar_profile", "dlib_hog", "dlib_cnn"]
    print("| video | " + " | ".join(names) + " | same person (dlib < 0.6) | median distance |")
    print("|---" * (len(names) + 3) + "|")
    for label in ["original"] + [c[0] for c in configs]:
        r = results[label]
        cells = [f"{100 * r['detection_rate'][k]:.1f}%" if k in r["detection_rate"] else "not run"
                 for k in names]
        print(f"| {label} | " + " | ".join(cells) +
              f" | {100 * r['identity_same_person_rate']:.1f}% | {r['identity_median_distance']:.2f} |")
    for label, _ in configs:
        r = results[label]
        if r["masked_frames_with_surviving_face_samples"] is not None:
            print(f"{label}: frames with a surviving face sample: "
                  f"{r['masked_frames_with_surviving_face_samples']} of {r['frames']}; "
                  f"covered whole (silhouette): {r['masked_frames_covered_whole']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
