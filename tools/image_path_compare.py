#!/usr/bin/env python3
"""Image path check: this project's decode / evaluation / training-augmentation tensors (dumped by
org.xraydl.diagnose.ImagePathDump from the project's own classes) against PIL + torchvision on the same files,
the way ../shared/bench/torch_peer_train.py makes them.

    java ... org.xraydl.diagnose.ImagePathDump --out target/imgpath      # writes files.txt, decode/eval/aug .npy
    /usr/bin/python3 tools/image_path_compare.py --dump target/imgpath    # prints markdown tables

numpy, PIL, torch and torchvision only. Conventions:
- The project's planes are in OpenCV's BGR order and normalised with the ImageNet statistics of that plane
  (B: 0.406/0.225, G: 0.456/0.224, R: 0.485/0.229); torchvision's in RGB order. "Level" is a tensor turned back
  into 0..255 grey levels with the statistics of its own plane (x * std + mean) * 255; for grey images every
  plane gives the same level, so levels compare the images, the raw tensors compare what the network is fed.
- Sharpness: mean |gradient| (forward differences, in levels) and high-frequency energy (mean square of the
  image minus its 3x3 box blur, in levels^2), on plane 0's level, interior only (2 px border dropped).
- Shift: the least-squares (dx, dy) in  java - torch ~ -(dx * d/dx + dy * d/dy) torch  (sub-pixel, per image).
"""
import argparse, math, os, sys

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)
STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)


def level(x, order):
    """[.., 3, H, W] normalised tensor -> levels, each plane with its own statistics (order 'rgb' or 'bgr')."""
    m, s = (MEAN_RGB, STD_RGB) if order == "rgb" else (MEAN_RGB[::-1], STD_RGB[::-1])
    return (x * s[:, None, None] + m[:, None, None]) * 255.0


def box3(a):
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)), mode="edge")
    return sum(p[:, i:i + a.shape[1], j:j + a.shape[2]] for i in range(3) for j in range(3)) / 9.0


def sharpness(lv):
    """lv: [N, H, W] levels -> per-image mean |gradient| and high-frequency energy (interior)."""
    gx = np.diff(lv, axis=2)[:, 2:-2, 2:-1]
    gy = np.diff(lv, axis=1)[:, 2:-1, 2:-2]
    grad = 0.5 * (np.abs(gx).mean(axis=(1, 2)) + np.abs(gy).mean(axis=(1, 2)))
    hf = ((lv - box3(lv))[:, 2:-2, 2:-2] ** 2).mean(axis=(1, 2))
    return grad, hf


def shift(a, b):
    """Least-squares sub-pixel shift (dx, dy) of a relative to b, per image ([N, H, W])."""
    gx = np.gradient(b, axis=2)[:, 2:-2, 2:-2]
    gy = np.gradient(b, axis=1)[:, 2:-2, 2:-2]
    d = (a - b)[:, 2:-2, 2:-2]
    out = []
    for i in range(len(a)):
        A = np.stack([-gx[i].ravel(), -gy[i].ravel()], 1)
        out.append(np.linalg.lstsq(A, d[i].ravel(), rcond=None)[0])
    return np.array(out)


def stats_row(name, x, order):
    lv = level(x, order)[:, 0]
    grad, hf = sharpness(lv)
    black = (lv < 0.5).mean(axis=(1, 2))
    return (f"| {name} | {len(x)} | {x.mean():.4f} | {x.std(axis=(1, 2, 3)).mean():.4f} | {lv.mean():.2f} | "
            f"{lv.std(axis=(1, 2)).mean():.2f} | {grad.mean():.3f} | {hf.mean():.2f} | {100 * black.mean():.2f} % |"), grad, hf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump", default="target/imgpath")
    ap.add_argument("--size", type=int, default=96); ap.add_argument("--resize-ratio", type=float, default=1.14)
    ap.add_argument("--rotation", type=float, default=10); ap.add_argument("--crop-min", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=7); ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    files = [l.strip() for l in open(os.path.join(a.dump, "files.txt")) if l.strip()]
    n = len(files)
    jdec = np.load(os.path.join(a.dump, "decode.npy"))
    jev = np.load(os.path.join(a.dump, "eval.npy"))
    jaug = np.load(os.path.join(a.dump, "aug.npy"))
    angles = np.loadtxt(os.path.join(a.dump, "aug_angles.txt"))
    k = len(jaug) // n
    print(f"{n} files, {k} augmented views each; torch {torch.__version__}, PIL {Image.__version__}\n")
    pil = [Image.open(p).convert("L").convert("RGB") for p in files]
    modes = {}
    for p in files:
        im = Image.open(p); modes[(im.mode, im.size)] = modes.get((im.mode, im.size), 0) + 1
    print("modes/sizes of the sample:", modes, "\n")

    # 1. decode
    print("## 1. Decode: PIL convert('L').convert('RGB') vs DataVec/OpenCV (planes reversed to RGB)\n")
    d_all, d_max, d_files, d_frac, plane_eq = [], 0, 0, [], True
    for i, im in enumerate(pil):
        t = np.asarray(im, np.float32).transpose(2, 0, 1)
        j = jdec[i][::-1]
        if j.shape != t.shape:
            print(f"shape differs for {files[i]}: {j.shape} vs {t.shape}"); continue
        plane_eq &= bool((jdec[i][0] == jdec[i][1]).all() and (jdec[i][1] == jdec[i][2]).all())
        d = np.abs(j - t)
        d_all.append(d.mean()); d_max = max(d_max, d.max()); d_files += int(d.max() > 0); d_frac.append((d > 0).mean())
    print("| files | max abs (levels) | mean abs (levels) | files with any difference | pixels differing | 3 planes equal (project) |")
    print("|---|---|---|---|---|---|")
    print(f"| {n} | {d_max:g} | {np.mean(d_all):.2e} | {d_files} | {100 * np.mean(d_frac):.3f} % | {plane_eq} |\n")

    # 2. evaluation
    print("## 2. Evaluation tensors: torchvision Resize(round(S*r)) + CenterCrop(S) + ToTensor + Normalize vs the project's\n")
    ev = T.Compose([T.Resize(round(a.size * a.resize_ratio)), T.CenterCrop(a.size), T.ToTensor(),
                    T.Normalize(MEAN_RGB.tolist(), STD_RGB.tolist())])
    tev = np.stack([ev(im).numpy() for im in pil])
    jl, tl = level(jev, "bgr")[:, 0], level(tev, "rgb")[:, 0]
    sh = shift(jl, tl)
    print("| compared | max abs | mean abs | mean signed (java - torch) | per-plane mean signed |")
    print("|---|---|---|---|---|")
    dd = jev - tev
    print(f"| fed tensors, plane k vs plane k (project BGR vs torch RGB) | {np.abs(dd).max():.4f} | {np.abs(dd).mean():.4f} | "
          f"{dd.mean():+.4f} | {', '.join(f'{v:+.4f}' for v in dd.mean(axis=(0, 2, 3)))} |")
    dd = jev[:, ::-1] - tev
    print(f"| fed tensors, project planes reversed (RGB) | {np.abs(dd).max():.4f} | {np.abs(dd).mean():.4f} | {dd.mean():+.4f} | "
          f"{', '.join(f'{v:+.4f}' for v in dd.mean(axis=(0, 2, 3)))} |")
    dd = jl - tl
    print(f"| levels (0..255) | {np.abs(dd).max():.2f} | {np.abs(dd).mean():.3f} | {dd.mean():+.3f} | |")
    print(f"\nsub-pixel shift project vs torch (dx, dy; px at {a.size}): mean ({sh[:, 0].mean():+.3f}, {sh[:, 1].mean():+.3f}), "
          f"sd ({sh[:, 0].std():.3f}, {sh[:, 1].std():.3f})")
    gj, hj = sharpness(jl); gt, ht = sharpness(tl)
    print(f"sharpness project/torch: mean |grad| ratio {np.mean(gj / gt):.3f}, HF energy ratio {np.mean(hj / ht):.3f}\n")

    # 3. training augmentation
    print("## 3. Training augmentation (random; distributions)\n")
    torch.manual_seed(a.seed)
    tr = T.Compose([T.RandomRotation(a.rotation), T.RandomResizedCrop(a.size, scale=(a.crop_min, 1.0)), T.ToTensor(),
                    T.Normalize(MEAN_RGB.tolist(), STD_RGB.tolist())])
    taug = np.stack([tr(pil[i % n]).numpy() for i in range(n * k)])
    # torchvision on tensors with the project's interpolation: bilinear rotation, crop resized without antialiasing
    norm = T.Normalize(MEAN_RGB.tolist(), STD_RGB.tolist())
    rrc = T.RandomResizedCrop(a.size, scale=(a.crop_min, 1.0))
    emu = []
    torch.manual_seed(a.seed + 1)
    for i in range(n * k):
        x = F.to_tensor(pil[i % n])
        ang = float(torch.empty(1).uniform_(-a.rotation, a.rotation))
        x = F.rotate(x, ang, interpolation=T.InterpolationMode.BILINEAR)
        top, left, h, w = rrc.get_params(x, rrc.scale, rrc.ratio)
        x = F.resized_crop(x, top, left, h, w, [a.size, a.size], interpolation=T.InterpolationMode.BILINEAR, antialias=False)
        emu.append(norm(x).numpy())
    emu = np.stack(emu)
    torch.manual_seed(a.seed + 2)
    tang = np.array([T.RandomRotation.get_params([-a.rotation, a.rotation]) for _ in range(n * k)])
    print("| angles | n | min | max | mean | sd (uniform: {:.3f}) | share |a| > {:g} |".format(2 * a.rotation / math.sqrt(12), a.rotation / 2))
    print("|---|---|---|---|---|---|---|")
    for name, v in (("project (read from DataVec's matrix)", angles), ("torchvision RandomRotation.get_params", tang)):
        print(f"| {name} | {len(v)} | {v.min():+.3f} | {v.max():+.3f} | {v.mean():+.3f} | {v.std():.3f} | {np.mean(np.abs(v) > a.rotation / 2):.3f} |")
    print()
    print("| tensors | n | fed mean | fed sd (per image) | level mean | level sd (per image) | mean abs grad | HF energy | black (fill) |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = {}
    for name, x, order in (("torch validation", tev, "rgb"), ("torch training", taug, "rgb"),
                           ("project validation", jev, "bgr"), ("project training", jaug, "bgr"),
                           ("torch tensors, bilinear rotate + crop without antialias (project-like)", emu, "rgb")):
        line, g, h = stats_row(name, x, order)
        rows[name] = (g.mean(), h.mean())
        print(line)
    print()
    for e in ("torch", "project"):
        g = rows[f"{e} training"][0] / rows[f"{e} validation"][0]; h = rows[f"{e} training"][1] / rows[f"{e} validation"][1]
        print(f"{e}: training / validation sharpness: mean |grad| x{g:.3f}, HF energy x{h:.3f}")
    g = rows["project training"][0] / rows["torch training"][0]; h = rows["project training"][1] / rows["torch training"][1]
    print(f"training, project / torch: mean |grad| x{g:.3f}, HF energy x{h:.3f}")


if __name__ == "__main__":
    sys.exit(main())
