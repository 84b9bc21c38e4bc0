#!/usr/bin/python3
"""PyTorch side of bench/learn_vs_torch.sh: masked-LM training with the
Hugging Face Trainer's semantics and one shared evaluation, from torch
primitives (transformers is not a Debian package). The model is
tests/reference/make_golden.py's RobertaMLM; this file adds dropout where
transformers' RoBERTa has it.

  learn_torch.py data OUT_DIR
      OUT_DIR/train.txt and OUT_DIR/eval.txt: the distinct heavy chains
      (sequence_alignment_aa_heavy) of ../shared/data/oas-paired/*.csv.gz in
      file order, shuffled by random.Random(0); the last 2000 are eval.txt.
  learn_torch.py train CONFIG VOCAB TRAIN_TXT OUT_DIR --seed S [options]
      trains from scratch and writes OUT_DIR/model.safetensors (HF names).
  learn_torch.py init CONFIG OUT_DIR --seed S
      writes OUT_DIR/model.safetensors: the initial weights `train --seed S`
      starts from (so ablm can train from the very same initialisation).
  learn_torch.py eval CONFIG VOCAB EVAL_TXT MODEL.safetensors... [--mask-seeds 0,1,2]
      one JSON line per model: eval loss per masking seed and their mean.

Trainer semantics reproduced (transformers 4.x defaults, run_mlm.py
--line_by_line): set_seed(seed) before the model is built; _init_weights
(normal(0, initializer_range) for Linear and Embedding weights, zero biases
and padding_idx rows, LayerNorm 1/0); RandomSampler over the whole training
set, batches of B with the last partial one kept; DataCollatorForLanguage-
Modeling (15% of the non-special tokens, 80% [MASK], 10% random id of the
whole vocabulary, 10% kept; padding is special); dropout on embeddings,
attention probabilities and both residual branches; loss = mean over the
masked tokens of the batch; clip_grad_norm_(1.0) over all parameters;
torch.optim.AdamW with decay off for biases and LayerNorm weights;
get_linear_schedule_with_warmup stepped after each optimizer step (so the
first step uses lr 0 when there is warmup).
"""
import argparse
import csv
import glob
import gzip
import json
import math
import os
import random
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from make_golden import RobertaMLM, load_safetensors, save_safetensors  # noqa: E402

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"


# ---- data -------------------------------------------------------------------


def make_data(out, n_eval=2000):
    seqs, seen = [], set()
    units = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "data", "oas-paired", "*.csv.gz")))
    if not units:
        sys.exit("learn_torch.py data: no ../shared/data/oas-paired/*.csv.gz")
    for path in units:
        with gzip.open(path, "rt", newline="") as f:
            f.readline()  # OAS unit metadata line
            for row in csv.DictReader(f):
                s = row["sequence_alignment_aa_heavy"]
                if s and s not in seen:
                    seen.add(s)
                    seqs.append(s)
    random.Random(0).shuffle(seqs)
    os.makedirs(out, exist_ok=True)
    for name, part in (("train.txt", seqs[:-n_eval]), ("eval.txt", seqs[-n_eval:])):
        with open(os.path.join(out, name), "w") as f:
            f.write("\n".join(part) + "\n")
    print(f"{len(seqs)} distinct heavy chains from {len(units)} units: "
          f"{len(seqs) - n_eval} train, {n_eval} eval in {out}")


class Vocab:
    def __init__(self, path):
        toks = [l.rstrip("\n") for l in open(path) if l.strip()]
        self.id = {t: i for i, t in enumerate(toks)}
        self.size = len(toks)
        self.pad, self.cls, self.sep, self.mask, self.unk = (self.id[t] for t in (PAD, CLS, SEP, MASK, UNK))

    def encode(self, line):
        return [self.cls] + [self.id.get(ch, self.unk) for ch in line.strip()] + [self.sep]


def read_ids(path, vocab):
    return [vocab.encode(l) for l in open(path) if l.strip()]


def collate(seqs, vocab, gen, mlm_p=0.15):
    """DataCollatorForLanguageModeling(mlm=True) on a padded batch; random
    draws from `gen` (the Trainer uses the global generator)."""
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), vocab.pad, dtype=torch.long)
    attn = torch.zeros((len(seqs), T), dtype=torch.long)
    for b, s in enumerate(seqs):
        ids[b, :len(s)] = torch.tensor(s)
        attn[b, :len(s)] = 1
    special = (ids == vocab.cls) | (ids == vocab.sep) | (attn == 0)
    prob = torch.full(ids.shape, mlm_p).masked_fill(special, 0.0)
    sel = torch.bernoulli(prob, generator=gen).bool()
    labels = torch.where(sel, ids, torch.full_like(ids, -100))
    replaced = torch.bernoulli(torch.full(ids.shape, 0.8), generator=gen).bool() & sel
    ids[replaced] = vocab.mask
    rand = torch.bernoulli(torch.full(ids.shape, 0.5), generator=gen).bool() & sel & ~replaced
    ids[rand] = torch.randint(vocab.size, ids.shape, generator=gen, dtype=torch.long)[rand]
    return ids, attn, labels


# ---- model ------------------------------------------------------------------


def hf_init(model, std):
    """RobertaPreTrainedModel._init_weights over every module."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.normal_(0.0, std)
                m.bias.zero_()
            elif isinstance(m, torch.nn.Embedding):
                m.weight.normal_(0.0, std)
                if m.padding_idx is not None:
                    m.weight[m.padding_idx].zero_()
            elif isinstance(m, torch.nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()
        model.head_bias.zero_()


def forward(model, ids, attn, p_hidden, p_attn, training):
    """RobertaForMaskedLM logits with transformers' dropout placement (the
    position ids come from input_ids as create_position_ids_from_input_ids,
    the attention mask from the collator's padding)."""
    drop = lambda x, p: F.dropout(x, p, training)
    notpad = (ids != model.pad).long()
    pos = torch.cumsum(notpad, 1) * notpad + model.pad
    x = model.word(ids) + model.pos(pos) + model.tok_type(torch.zeros_like(ids))
    x = drop(model.emb_ln(x), p_hidden)
    add_mask = (1.0 - attn[:, None, None, :].float()) * torch.finfo(torch.float32).min
    B, T, H = x.shape
    for L in model.layers:
        nh = L.heads
        hd = H // nh
        split = lambda t: t.view(B, T, nh, hd).transpose(1, 2)
        s = split(L.query(x)) @ split(L.key(x)).transpose(-1, -2) / math.sqrt(hd) + add_mask
        ctx = (drop(torch.softmax(s, -1), p_attn) @ split(L.value(x))).transpose(1, 2).reshape(B, T, H)
        x = L.attn_ln(drop(L.attn_out(ctx), p_hidden) + x)
        x = L.out_ln(drop(L.out(F.gelu(L.inter(x))), p_hidden) + x)
    h = model.head_ln(F.gelu(model.head_dense(x)))
    return h @ model.word.weight.t() + model.head_bias


def mlm_loss(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


# ---- train ------------------------------------------------------------------


def init_model(c, seed):
    """transformers.set_seed (python and torch generators), then the model
    is built and initialised as from_config does."""
    random.seed(seed)
    torch.manual_seed(seed)
    model = RobertaMLM(c)
    hf_init(model, c["initializer_range"])
    return model


def save_model(model, out):
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "model.safetensors"),
                     {n: (p.detach(), "F32") for n, p in model.hf_params()}, {"format": "pt"})


def train(a):
    torch.set_num_threads(a.threads)
    c = json.load(open(a.config))
    vocab = Vocab(a.vocab)
    data = read_ids(a.train_file, vocab)
    model = init_model(c, a.seed)
    model.train()
    named = model.hf_params()
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm" in n or "layer_norm" in n
    groups = [{"params": [p for n, p in named if not no_decay(n)], "weight_decay": a.weight_decay},
              {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    W, S = a.warmup, a.steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, W) if s < W else max(0.0, (S - s) / max(1, S - W)))
    params = [p for _, p in named]
    step, epoch, log = 0, 0, []
    while step < S:
        order = torch.randperm(len(data)).tolist()  # RandomSampler, global generator
        for i in range(0, len(order), a.batch):
            ids, attn, labels = collate([data[j] for j in order[i:i + a.batch]], vocab, None)
            loss = mlm_loss(forward(model, ids, attn, c["hidden_dropout_prob"],
                                    c["attention_probs_dropout_prob"], True), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            log.append(loss.item())
            if step % 50 == 0:
                print(json.dumps({"step": step, "loss": round(sum(log[-50:]) / 50, 4)}), file=sys.stderr)
            if step == S:
                break
        epoch += 1
    save_model(model, a.out)
    print(json.dumps({"seed": a.seed, "steps": step, "train_loss": sum(log) / len(log)}))


# ---- eval -------------------------------------------------------------------


def load_model(c, path):
    model = RobertaMLM(c)
    w = load_safetensors(path)
    with torch.no_grad():
        for n, p in model.hf_params():
            if n not in w:
                sys.exit(f"{path}: tensor {n} missing")
            p.copy_(w[n].float().reshape(p.shape))
    return model.eval()


@torch.no_grad()
def evaluate(a):
    torch.set_num_threads(a.threads)
    c = json.load(open(a.config))
    vocab = Vocab(a.vocab)
    data = read_ids(a.eval_file, vocab)
    seeds = [int(s) for s in a.mask_seeds.split(",")]
    # the masked batches are drawn once per seed and shared by every model
    batches = {}
    for s in seeds:
        gen = torch.Generator().manual_seed(s)
        batches[s] = [collate(data[i:i + a.batch], vocab, gen) for i in range(0, len(data), a.batch)]
    for path in a.models:
        model = load_model(c, path)
        per_seed = []
        for s in seeds:
            tot = n = 0
            for ids, attn, labels in batches[s]:  # Trainer: batch losses weighted by batch size
                tot += mlm_loss(forward(model, ids, attn, 0, 0, False), labels).item() * ids.shape[0]
                n += ids.shape[0]
            per_seed.append(tot / n)
        print(json.dumps({"model": path, "per_seed": per_seed, "eval_loss": sum(per_seed) / len(per_seed)}),
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("out")
    t = sub.add_parser("train")
    for k in ("config", "vocab", "train_file", "out"):
        t.add_argument(k)
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--steps", type=int, default=400)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--warmup", type=int, default=50)
    t.add_argument("--weight_decay", type=float, default=0.0)
    t.add_argument("--threads", type=int, default=1)
    i = sub.add_parser("init")
    i.add_argument("config")
    i.add_argument("out")
    i.add_argument("--seed", type=int, required=True)
    e = sub.add_parser("eval")
    for k in ("config", "vocab", "eval_file"):
        e.add_argument(k)
    e.add_argument("models", nargs="+")
    e.add_argument("--mask-seeds", default="0,1,2")
    e.add_argument("--batch", type=int, default=32)
    e.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "data":
        make_data(a.out)
    elif a.cmd == "init":
        save_model(init_model(json.load(open(a.config)), a.seed), a.out)
    elif a.cmd == "train":
        train(a)
    else:
        evaluate(a)


if __name__ == "__main__":
    main()
