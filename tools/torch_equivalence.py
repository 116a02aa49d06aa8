#!/usr/bin/env python3
"""Cross-engine check, PyTorch side: torchvision's compact DenseNet with fixed weights on fixed batches.

Writes reference tensors that `org.xraydl.diagnose.EngineEquivalence` (the Java side) loads into the
project's own DenseNet (built as `train` builds it) to compare function, gradients, batch-norm statistics
and AdamW steps. A documented diagnostic, not part of CI (CI has no torch). Run with Debian's torch:

  /usr/bin/python3 tools/torch_equivalence.py --out target/equiv [--data ../shared/datasets/chest-xray/train]

For each case it writes OUT/CASE/: "real" = 5 batches of 8 training images (PIL, the peer's evaluation transform),
torchvision's own initialisation; "random" = N(0,1) images with random labels, and random BN gamma / beta /
running statistics and classifier bias (torchvision's gamma 1, beta 0, mean 0, var 1 would hide a swapped tensor):
  manifest.json           names, shapes, settings
  x{k}.npy, y{k}.npy      batch k (float32 NCHW; one-hot float32 labels), k = 0..steps-1
  class_weights.npy       the 'balanced' weights N / (2 n_k) of the whole training folder (the project's formula)
  init/NAME.npy           every parameter and BN buffer (torchvision names; num_batches_tracked left out)
  fwd/logits.npy          train-mode logits of batch 0 (also fwd64/: the same in float64, the noise floor)
  fwd/loss.npy            PyTorch's weighted cross-entropy (divides by the sum of the weights of the batch)
  fwd/loss_n.npy          the same sum divided by the batch size (DL4J's LossMCXENT normalisation)
  act/MODULE.npy          train-mode output of every module of `features` for batch 0 (torchvision names)
  actgrad/MODULE.npy      the gradient of fwd/loss with respect to each of those outputs (also actgrad64/)
  grad/NAME.npy           gradients of fwd/loss (PyTorch's normalisation; also grad64/)
  run1/NAME.npy           BN running mean / var after that one train-mode forward (unbiased var, PyTorch)
  step{K}/NAME.npy        parameters and buffers after K AdamW steps on batches 0..K-1 with the loss
                          normalised as DL4J does (sum / batch size), so the trajectories compare arithmetic
  native_step{K}/NAME.npy the same with PyTorch's own normalisation (the documented engine difference)
  eval_init.npy, eval_step{S}.npy   eval-mode logits of batch 0 before training and after the last step
  dl4j_step{1,S}/, dl4j64_step{1,S}/, eval_dl4j_step{S}.npy, eval_dl4j64_step{S}.npy
                          the same steps by hand with DL4J's semantics (manual_trajectory: loss / batch, DL4J's Adam
                          epsilon, decay on weights only, biased running variance, BN eps 1.001e-5), float32 and
                          float64 (the float32 trajectory's own noise floor)
  semantics_effects.json  PyTorch only: each of those semantics alone, how far it moves the 5-step update, the running
                          variance and the eval logits from PyTorch's own (and float64 for scale)
"""
import argparse, copy, json, math, os, random, re

import numpy as np
import torch
import torch.nn as nn
import torchvision.models as models
import torchvision.transforms as T
from PIL import Image


def build(seed, dtype=torch.float32):
    torch.manual_seed(seed)
    m = models.DenseNet(growth_rate=12, block_config=(2, 4, 6), num_init_features=24, num_classes=2)
    return m.to(dtype)


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def save_dict(folder, d):
    os.makedirs(folder, exist_ok=True)
    for k, v in d.items():
        a = v.detach().cpu().float().numpy() if torch.is_tensor(v) else np.asarray(v, dtype=np.float32)
        np.save(os.path.join(folder, k + ".npy"), a.reshape(1) if a.ndim == 0 else a)  # ND4J reads no 0-d .npy


def weighted_ce(logits, y, w, normalise):
    ce = nn.functional.cross_entropy(logits, y, weight=w.to(logits.dtype), reduction="none")  # w_y * -log p_y
    return ce.sum() / (len(y) if normalise == "n" else w.to(logits.dtype)[y].sum())


def real_batches(data, size, batch, steps, seed):
    labels = sorted(d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d)))
    files = {l: sorted(f for f in os.listdir(os.path.join(data, l)) if not f.startswith(".")) for l in labels}
    counts = np.array([len(files[l]) for l in labels], dtype=np.float64)
    weights = counts.sum() / (len(labels) * counts)
    rng = random.Random(seed)
    picks = []
    for i in range(batch * steps):  # alternate classes, random files: every batch has both
        l = i % len(labels)
        picks.append((os.path.join(data, labels[l], rng.choice(files[labels[l]])), l))
    rng.shuffle(picks)
    tf = T.Compose([T.Resize(round(size * 1.14)), T.CenterCrop(size), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    xs = torch.stack([tf(Image.open(p).convert("L").convert("RGB")) for p, _ in picks])
    ys = torch.tensor([l for _, l in picks])
    return ([xs[k * batch:(k + 1) * batch] for k in range(steps)], [ys[k * batch:(k + 1) * batch] for k in range(steps)],
            torch.tensor(weights, dtype=torch.float32), [os.path.relpath(p, data) for p, _ in picks])


def random_batches(size, batch, steps, seed, weights):
    g = torch.Generator().manual_seed(seed + 1)
    xs = [torch.randn(batch, 3, size, size, generator=g) for _ in range(steps)]
    ys = [torch.randint(0, 2, (batch,), generator=g) for _ in range(steps)]
    for y in ys:  # both classes in every batch
        y[0], y[1] = 0, 1
    return xs, ys, weights


def trajectory(model, xs, ys, w, a, normalise, out, prefix):
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.wd, eps=a.eps, betas=(0.9, 0.999))
    model.train()
    for k in range(a.steps):
        opt.zero_grad()
        weighted_ce(model(xs[k]), ys[k], w, normalise).backward()
        opt.step()
        save_dict(os.path.join(out, f"{prefix}{k + 1}"), state(model))
    return model


DL4J_SEMANTICS = ("loss_n", "adam_eps", "decay_weights_only", "biased_running_var", "bn_eps")


def manual_trajectory(model, xs, ys, w, a, semantics, dtype=torch.float32):
    """AdamW by hand, with any of DL4J 1.0.0-M2.1's semantics (as this project configures it) switched on:
    loss_n             the weighted loss divided by the batch size (PyTorch: by the sum of the weights)
    adam_eps           epsilon added to sqrt(v) before the bias correction: lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps)
                       (PyTorch: lr/(1-b1^t) * m/(sqrt(v)/sqrt(1-b2^t)+eps)), i.e. an epsilon 1/sqrt(1-b2^t) larger
    decay_weights_only decoupled decay on conv and dense weights only (PyTorch's AdamW: every parameter, BN and bias too)
    biased_running_var the running variance updated with the biased batch variance (PyTorch: n/(n-1) x that)
    bn_eps             batch-norm epsilon 1.001e-5 (the project's, after Keras; PyTorch 1e-5)
    Returns the model and the states after each step."""
    model = copy.deepcopy(model).to(dtype).train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if "bn_eps" in semantics:
        for m in bns:
            m.eps = 1.001e-5
    rows = {}
    hooks = [m.register_forward_pre_hook(lambda m, i: rows.__setitem__(m, i[0].numel() // i[0].shape[1])) for m in bns]
    b1, b2, eps = 0.9, 0.999, a.eps
    mom = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    vel = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    states = []
    for k in range(a.steps):
        old = {m: m.running_var.clone() for m in bns}
        model.zero_grad()
        weighted_ce(model(xs[k].to(dtype)), ys[k], w, "n" if "loss_n" in semantics else "w").backward()
        with torch.no_grad():
            if "biased_running_var" in semantics:
                for m in bns:
                    n, f = rows[m], m.momentum
                    unbiased = (m.running_var - (1 - f) * old[m]) / f
                    m.running_var.copy_((1 - f) * old[m] + f * unbiased * (n - 1) / n)
            t = k + 1
            for n, p in model.named_parameters():
                g = p.grad
                mom[n].mul_(b1).add_(g, alpha=1 - b1)
                vel[n].mul_(b2).addcmul_(g, g, value=1 - b2)
                if "adam_eps" in semantics:
                    upd = a.lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * mom[n] / (vel[n].sqrt() + eps)
                else:
                    upd = a.lr / (1 - b1 ** t) * mom[n] / (vel[n].sqrt() / math.sqrt(1 - b2 ** t) + eps)
                if "decay_weights_only" not in semantics or p.dim() > 1:
                    p.mul_(1 - a.lr * a.wd)
                p.sub_(upd)
        states.append(state(model))
    for h in hooks:
        h.remove()
    return model, states


def max_rel(a, b, ref0):
    """max |(a - ref0) - (b - ref0)| / max |b - ref0| over one tensor (an update), or over values."""
    d = (b - ref0).abs().max().item()
    return (a - b).abs().max().item() / max(d, 1e-30)


def perturb(model, seed):
    """Non-trivial BN affine parameters and running statistics and a non-zero classifier bias (torchvision's init
    has gamma 1, beta 0, mean 0, var 1, bias 0: a swapped or mis-converted tensor would go unseen there)."""
    g = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(m.running_var.shape, generator=g))
        model.classifier.bias.copy_(0.1 * torch.randn(2, generator=g))
    return model


def run_case(name, xs, ys, w, a, extra, perturbed=False):
    out = os.path.join(a.out, name)
    os.makedirs(out, exist_ok=True)
    for k in range(a.steps):
        np.save(os.path.join(out, f"x{k}.npy"), xs[k].numpy().astype(np.float32))
        np.save(os.path.join(out, f"y{k}.npy"), nn.functional.one_hot(ys[k], 2).numpy().astype(np.float32))
    np.save(os.path.join(out, "class_weights.npy"), w.numpy().astype(np.float32))
    base = perturb(build(a.seed), a.seed) if perturbed else build(a.seed)
    save_dict(os.path.join(out, "init"), state(base))
    names = [k for k in base.state_dict() if not k.endswith("num_batches_tracked")]
    params = [k for k, _ in base.named_parameters()]

    model = copy.deepcopy(base).eval()
    with torch.no_grad():
        np.save(os.path.join(out, "eval_init.npy"), model(xs[0]).numpy())

    # one train-mode forward/backward in float32 and in float64 (the reference's own rounding noise)
    for dtype, fwd, grad in ((torch.float32, "fwd", "grad"), (torch.float64, "fwd64", "grad64")):
        model = copy.deepcopy(base).to(dtype).train()
        acts, hooks = {}, []

        def keep(m, i, o, mname):
            # the module's own output keeps its value and its gradient; the network goes on with a copy
            # (torchvision's ReLUs and the final F.relu work in place)
            o.retain_grad()
            acts[mname] = o
            return o.clone()

        for mname, mod in model.features.named_modules():  # every module's output, to localise a difference
            if mname and not isinstance(mod, nn.Sequential) and not mname.endswith(("denseblock1", "denseblock2", "denseblock3")) \
                    and not re.fullmatch(r"denseblock\d\.denselayer\d+", mname):
                hooks.append(mod.register_forward_hook(lambda m, i, o, mname=mname: keep(m, i, o, mname)))
        logits = model(xs[0].to(dtype))
        for h in hooks:
            h.remove()
        if dtype == torch.float32:
            save_dict(os.path.join(out, "act"), acts)
        loss = weighted_ce(logits, ys[0], w, "w")
        loss.backward()
        save_dict(os.path.join(out, fwd), {"logits": logits, "loss": loss,
                                           "loss_n": weighted_ce(logits.detach(), ys[0], w, "n")})
        save_dict(os.path.join(out, grad), {k: p.grad for k, p in model.named_parameters()})
        save_dict(os.path.join(out, "act" + grad), {k: v.grad for k, v in acts.items()})
        if dtype == torch.float32:
            save_dict(os.path.join(out, "run1"), {k: v for k, v in state(model).items() if "running" in k})

    model = trajectory(copy.deepcopy(base), xs, ys, w, a, "n", out, "step")
    model.eval()
    with torch.no_grad():
        np.save(os.path.join(out, f"eval_step{a.steps}.npy"), model(xs[0]).numpy())
    trajectory(copy.deepcopy(base), xs, ys, w, a, "w", out, "native_step")

    # DL4J's semantics, all at once, in float32 and float64 (the noise floor of that trajectory), for the Java side
    init = state(base)
    for dtype, prefix in ((torch.float32, "dl4j_step"), (torch.float64, "dl4j64_step")):
        model, states = manual_trajectory(base, xs, ys, w, a, DL4J_SEMANTICS, dtype)
        for k, st in enumerate(states):
            if k == 0 or k == a.steps - 1:
                save_dict(os.path.join(out, f"{prefix}{k + 1}"), st)
        with torch.no_grad():
            np.save(os.path.join(out, f"eval_{prefix}{a.steps}.npy"), model.eval()(xs[0].to(dtype)).float().numpy())
    # each semantic alone, PyTorch only: how far it moves the 5-step update and the eval logits from PyTorch's own
    own, own_states = manual_trajectory(base, xs, ys, w, a, ())
    ref = {k: torch.from_numpy(np.load(os.path.join(out, f"native_step{a.steps}", k + ".npy"))) for k in init}
    check = max(max_rel(own_states[-1][k], ref[k], init[k]) for k in params)
    with torch.no_grad():
        own_eval = own.eval()(xs[0])
    effects = {"manual AdamW vs torch.optim.AdamW (self-check), max rel over parameters": check}
    for sem in ("float64",) + DL4J_SEMANTICS + ("all",):
        m, st = (manual_trajectory(base, xs, ys, w, a, (), torch.float64) if sem == "float64"
                 else manual_trajectory(base, xs, ys, w, a, DL4J_SEMANTICS if sem == "all" else (sem,)))
        with torch.no_grad():
            ev = m.eval()(xs[0].to(m.classifier.weight.dtype)).float()
        upd = max(max_rel(st[-1][k].float(), own_states[-1][k], init[k]) for k in params)
        rv = max(max_rel(st[-1][k].float(), own_states[-1][k], init[k]) for k in names if k.endswith("running_var"))
        effects[sem] = {"update_rel": upd, "running_var_rel": rv,
                        "eval_logits_rel": ((ev - own_eval).abs().max() / own_eval.abs().max()).item()}
    with open(os.path.join(out, "semantics_effects.json"), "w") as f:
        json.dump(effects, f, indent=1)
    print(json.dumps({name: effects}, indent=1))

    sum_w = float(w[ys[0]].sum())
    manifest = dict(case=name, torch=torch.__version__, seed=a.seed, batch=a.batch, size=a.size, steps=a.steps,
                    lr=a.lr, weight_decay=a.wd, adam_eps=a.eps, bn_eps=1e-5, bn_momentum=0.1,
                    class_weights=w.tolist(), sum_weights_batch0=sum_w, names=names, parameters=params,
                    shapes={k: list(v.shape) for k, v in base.state_dict().items() if k in names},
                    perturbed_init=perturbed, **extra)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{name}: {len(names)} tensors, loss {float(np.load(os.path.join(out, 'fwd', 'loss.npy'))):.6f}, "
          f"sum of weights in batch 0 {sum_w:.4f} -> {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="target/equiv")
    ap.add_argument("--data", default="../shared/datasets/chest-xray/train")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    xs, ys, w, files = real_batches(a.data, a.size, a.batch, a.steps, a.seed)
    run_case("real", xs, ys, w, a, {"files": files})
    xs, ys, w = random_batches(a.size, a.batch, a.steps, a.seed, w)
    run_case("random", xs, ys, w, a, {}, perturbed=True)


if __name__ == "__main__":
    main()
