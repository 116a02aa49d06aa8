#!/usr/bin/env python3
"""Resize check: org.xraydl.data.AntialiasedResize (resampling: antialias) and the OpenCV resizes (resampling: opencv)
against PIL's Image.resize(size, Image.BILINEAR), the resize torchvision does on PIL images, on real files.

    /usr/bin/python3 tools/antialias_compare.py prepare --data ../shared/datasets/chest-xray/train/NORMAL --out target/aacheck
    mvn -q -o compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt
    java -cp target/classes:$(cat target/cp.txt) org.xraydl.diagnose.ResizeDump target/aacheck/jobs.txt
    /usr/bin/python3 tools/antialias_compare.py compare --out target/aacheck

prepare decodes each file with PIL and writes it losslessly (PGM, and a PPM colour image made of the grey one and
two shifted copies, to exercise 3 channels), so the Java side (org.xraydl.diagnose.ResizeDump) resizes exactly
PIL's pixels; the jobs are the whole image 224 -> 109 (evaluation-like) and random crops of 170..210 px -> 96
(training-crop-like), each in three modes. compare prints max / mean absolute differences in levels against PIL.
numpy and PIL only.
"""
import argparse, os, random, sys

import numpy as np
from PIL import Image

MODES = ("antialias", "linear", "area")


def prepare(a):
    os.makedirs(a.out, exist_ok=True)
    files = sorted(f for f in os.listdir(a.data) if f.lower().endswith((".jpeg", ".jpg", ".png")))[: a.n]
    rng = random.Random(a.seed)
    jobs, ref = [], []
    for i, f in enumerate(files):
        grey = Image.open(os.path.join(a.data, f)).convert("L")
        g = np.asarray(grey)
        colour = Image.fromarray(np.stack([g, np.roll(g, 7, axis=1), np.roll(g, 13, axis=0)], axis=2), "RGB")
        for kind, im, ext in (("grey", grey, "pgm"), ("rgb", colour, "ppm")):
            src = os.path.join(a.out, f"in{i}_{kind}.{ext}")
            im.save(src)
            w, h = im.size
            boxes = [(0, 0, w, h, a.full, a.full)]
            for _ in range(a.crops):
                cw, ch = rng.randint(170, min(210, w)), rng.randint(170, min(210, h))
                boxes.append((rng.randint(0, w - cw), rng.randint(0, h - ch), cw, ch, a.crop, a.crop))
            for b, (x, y, cw, ch, ow, oh) in enumerate(boxes):
                pil = os.path.join(a.out, f"pil{i}_{kind}_{b}.{ext}")
                im.crop((x, y, x + cw, y + ch)).resize((ow, oh), Image.BILINEAR).save(pil)
                for m in MODES:
                    out = os.path.join(a.out, f"java{i}_{kind}_{b}_{m}.{ext}")
                    jobs.append(f"{src} {x} {y} {cw} {ch} {ow} {oh} {m} {out}")
                    ref.append(f"{pil} {out} {m} {kind} {'full' if b == 0 else 'crop'} {cw}x{ch}->{ow}")
    with open(os.path.join(a.out, "jobs.txt"), "w") as fh:
        fh.write("\n".join(jobs) + "\n")
    with open(os.path.join(a.out, "pairs.txt"), "w") as fh:
        fh.write("\n".join(ref) + "\n")
    print(f"{len(files)} files, {len(jobs)} jobs in {a.out}/jobs.txt")


def compare(a):
    rows = {}
    for line in open(os.path.join(a.out, "pairs.txt")):
        pil, java, mode, kind, what, _ = line.split()
        p = np.asarray(Image.open(pil), np.int32)
        j = np.asarray(Image.open(java), np.int32)
        assert p.shape == j.shape, (pil, p.shape, j.shape)
        d = np.abs(p - j)
        r = rows.setdefault((what, kind, mode), [0, 0.0, 0, 0, 0])
        r[0] = max(r[0], int(d.max()))
        r[1] += float(d.sum())
        r[2] += d.size
        r[3] += int((d > 0).sum())
        r[4] += 1
    print("| resize | channels | Java mode | images | max abs diff | mean abs diff | pixels differing |")
    print("|---|---|---|---|---|---|---|")
    for (what, kind, mode), (mx, s, n, nz, k) in sorted(rows.items()):
        size = f"224 -> {a.full}" if what == "full" else f"crop 170..210 -> {a.crop}"
        print(f"| {size} | {kind} | {mode} | {k} | {mx} | {s / n:.4f} | {100.0 * nz / n:.2f} % |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["prepare", "compare"])
    ap.add_argument("--data", default="../shared/datasets/chest-xray/train/NORMAL")
    ap.add_argument("--out", default="target/aacheck")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--crops", type=int, default=3)
    ap.add_argument("--full", type=int, default=109)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    prepare(a) if a.step == "prepare" else compare(a)


if __name__ == "__main__":
    sys.exit(main())
