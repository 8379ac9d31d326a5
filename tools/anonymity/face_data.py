#!/usr/bin/env python3
"""Redistributable face pictures for the face anonymiser: test images and a synthetic video.

    python3 tools/anonymity/face_data.py images          # rewrites media/tests/data/face/*.i420
    python3 tools/anonymity/face_data.py video OUT.y4m [--width 640 --height 360 --frames 250]

Needs scikit-image and matplotlib (pip); both ship their sample pictures inside the package:
- skimage.data.astronaut(): Eileen Collins, NASA portrait (public domain);
- matplotlib sample_data/grace_hopper.jpg: Rear Admiral Grace Hopper, official U.S. Navy
  portrait (a work of the U.S. federal government: public domain).

The video writes a ground-truth file beside it (OUT.y4m.json): for every frame, the true face
boxes (eyebrows to chin, ear to ear, annotated once on each source picture and carried through
the same transform as the picture).
"""

import argparse
import json
import math
import os
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEST_DATA = os.path.join(ROOT, "media", "tests", "data", "face")

# True face boxes (x0, y0, x1, y1) in the full-size source pictures, annotated by hand and
# checked against CenterFace, dlib (HOG and CNN) and OpenCV's Haar cascade, whose boxes all
# fall inside them.
SOURCES = {
    "astronaut": (165, 58, 275, 180),    # 512 x 512
    "grace_hopper": (160, 120, 370, 335),  # 512 x 600
}


def load(name):
    """RGB uint8 array of a source picture."""
    if name == "astronaut":
        from skimage import data
        return data.astronaut()
    if name == "grace_hopper":
        import matplotlib.cbook as cbook
        from PIL import Image
        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.array(Image.open(f).convert("RGB"))
    raise KeyError(name)


def rgb_to_i420(rgb):
    """BT.601 studio range, chroma averaged over 2 x 2 (odd sizes: edge replicated)."""
    rgb = rgb.astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    h, w = y.shape
    ph, pw = h + (h & 1), w + (w & 1)

    def sub(c):
        c = np.pad(c, ((0, ph - h), (0, pw - w)), mode="edge")
        return c.reshape(ph // 2, 2, pw // 2, 2).mean(axis=(1, 3))

    q = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)  # noqa: E731
    return q(y), q(sub(u)), q(sub(v))


def i420_to_rgb(y, u, v):
    """Inverse of rgb_to_i420 (chroma upsampled by repetition), uint8 RGB."""
    h, w = y.shape
    u = np.repeat(np.repeat(u, 2, 0), 2, 1)[:h, :w].astype(np.float64) - 128
    v = np.repeat(np.repeat(v, 2, 0), 2, 1)[:h, :w].astype(np.float64) - 128
    c = 1.164 * (y.astype(np.float64) - 16)
    rgb = np.stack([c + 1.596 * v, c - 0.392 * u - 0.813 * v, c + 2.017 * u], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def resize(rgb, w, h):
    from PIL import Image
    return np.array(Image.fromarray(rgb).resize((w, h), Image.LANCZOS))


def write_images():
    """The two committed test pictures, halved, as packed I420."""
    os.makedirs(TEST_DATA, exist_ok=True)
    for name, box in SOURCES.items():
        rgb = load(name)
        h, w = rgb.shape[:2]
        small = resize(rgb, w // 2, h // 2)
        y, u, v = rgb_to_i420(small)
        path = os.path.join(TEST_DATA, f"{name}_{w // 2}x{h // 2}.i420")
        with open(path, "wb") as f:
            f.write(y.tobytes() + u.tobytes() + v.tobytes())
        print(path, "face", tuple(c // 2 for c in box))


class Y4MWriter:
    def __init__(self, path, w, h, fps=25):
        self.f = open(path, "wb")
        self.f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())

    def write(self, y, u, v):
        self.f.write(b"FRAME\n" + y.tobytes() + u.tobytes() + v.tobytes())

    def close(self):
        self.f.close()


def read_y4m(path):
    """Yields (y, u, v) uint8 planes of every frame of a 4:2:0 Y4M file."""
    with open(path, "rb") as f:
        header = f.readline().split()
        w = int(next(t[1:] for t in header if t.startswith(b"W")))
        h = int(next(t[1:] for t in header if t.startswith(b"H")))
        cw, ch = (w + 1) // 2, (h + 1) // 2
        while True:
            line = f.readline()
            if not line:
                return
            data = f.read(w * h + 2 * cw * ch)
            y = np.frombuffer(data[: w * h], np.uint8).reshape(h, w)
            u = np.frombuffer(data[w * h: w * h + cw * ch], np.uint8).reshape(ch, cw)
            v = np.frombuffer(data[w * h + cw * ch:], np.uint8).reshape(ch, cw)
            yield y, u, v


def background(w, h, t):
    """A courtroom-ish backdrop: wood-toned gradient panels and a slow light drift."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    panel = ((xx // (w / 8)) % 2) * 18
    shade = 110 + 40 * (yy / h) + panel + 6 * math.sin(t / 40.0)
    rgb = np.stack([shade * 1.05, shade * 0.85, shade * 0.65], -1)
    return np.clip(rgb, 0, 255)


# Each sprite: a head-and-shoulders crop of a source (x0, y0, x1, y1 in source pixels).
CROPS = {
    "astronaut": (70, 0, 380, 330),
    "grace_hopper": (90, 20, 440, 420),
}


def trajectory(i, n, w, h):
    """Per frame: which source, sprite height, top-left position. Five scenes."""
    scene, k = divmod(i, max(1, n // 5))
    p = k / max(1, n // 5 - 1)
    if scene == 0:   # astronaut crossing left to right, medium size
        return "astronaut", 0.75 * h, (-0.1 + 0.6 * p) * w, 0.15 * h
    if scene == 1:   # astronaut zooming in towards the camera
        s = 0.45 + 0.65 * p
        return "astronaut", s * h, 0.5 * w - 0.45 * s * h, 0.55 * h - 0.5 * s * h
    if scene == 2:   # Grace Hopper bobbing up and down (speaking, nodding)
        return "grace_hopper", 0.85 * h, 0.3 * w, 0.1 * h + 0.08 * h * math.sin(6 * math.pi * p)
    if scene == 3:   # Grace Hopper small and far, drifting right to left
        return "grace_hopper", 0.4 * h, (0.7 - 0.5 * p) * w, 0.3 * h
    # astronaut, fast sideways movement and back (up to 1/5 of a face per frame)
    return "astronaut", 0.8 * h, (0.1 + 0.25 * (1 - math.cos(2 * math.pi * p))) * w, 0.1 * h


def write_video(out, w, h, n):
    sources = {name: load(name) for name in SOURCES}
    truth = []
    writer = Y4MWriter(out, w, h)
    for i in range(n):
        name, sh, x, y = trajectory(i, n, w, h)
        cx0, cy0, cx1, cy1 = CROPS[name]
        crop = sources[name][cy0:cy1, cx0:cx1]
        scale = sh / (cy1 - cy0)
        sw, shp = max(1, round((cx1 - cx0) * scale)), max(1, round(sh))
        sprite = resize(crop, sw, shp).astype(np.float64)
        frame = background(w, h, i)
        x, y = int(round(x)), int(round(y))
        fx0, fy0, fx1, fy1 = max(0, x), max(0, y), min(w, x + sw), min(h, y + shp)
        if fx0 < fx1 and fy0 < fy1:
            frame[fy0:fy1, fx0:fx1] = sprite[fy0 - y: fy1 - y, fx0 - x: fx1 - x]
        bx0, by0, bx1, by1 = SOURCES[name]
        box = [x + (bx0 - cx0) * scale, y + (by0 - cy0) * scale,
               x + (bx1 - cx0) * scale, y + (by1 - cy0) * scale]
        clipped = [max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])]
        visible = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / \
            ((box[2] - box[0]) * (box[3] - box[1]))
        truth.append({"frame": i, "source": name,
                      "faces": [{"box": [round(c, 1) for c in box],
                                 "visible": round(max(0.0, visible), 3)}]})
        writer.write(*rgb_to_i420(np.clip(frame, 0, 255).astype(np.uint8)))
    writer.close()
    with open(out + ".json", "w") as f:
        json.dump({"width": w, "height": h, "frames": truth}, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("images")
    v = sub.add_parser("video")
    v.add_argument("out")
    v.add_argument("--width", type=int, default=640)
    v.add_argument("--height", type=int, default=360)
    v.add_argument("--frames", type=int, default=250)
    a = ap.parse_args()
    if a.cmd == "images":
        write_images()
    else:
        write_video(a.out, a.width, a.height, a.frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
