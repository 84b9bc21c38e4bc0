#!/usr/bin/python3
"""Golden beam search for examples/gen_beam.c (tests/fixtures/beam_tiny).

A plain-Python/torch re-implementation of Hugging Face generate()'s beam
search (BeamSearchScorer + BeamHypotheses) and diverse (group) beam search
(HammingDiversityLogitsProcessor), run on the plain-torch GPT-2 of
make_gpt2_golden.py (forward() in float32, no cache: the whole sequence so
far every step). Standard beam search is group beam search with one group,
as in transformers (same initial scores, same process()).

Per step and group (transformers semantics):
  scores = log_softmax(logits[last position]) (float32)
  bad word ids -> -inf (NoBadWordsLogitsProcessor, single tokens)
  groups > 0: minus diversity_penalty * count of each token chosen this
  step by the earlier groups of the same source
  + the beam's running score (float32; initially 0 for the first beam of
  each group, -1e9 for the others)
  top 2 * group_size over group_size * V (sorted, ties to the lower index)
  process(): an eos candidate ranked < group_size closes a hypothesis
  (tokens so far + eos, score sum / new_tokens ** length_penalty, new
  tokens counting eos); others fill the group's beams in order;
  is_done with early_stopping False / True / "never".
  A finished group is padded (pad tokens, which still count for the
  diversity of later groups).
The loop ends when every group is done or at max_new_tokens (or the
positions run out: n_positions); finalize() adds the open beams of
unfinished groups and returns the best num_return_sequences, sorted as
transformers does (stable ascending sort, popped from the end).

Each prompt runs alone (HF batch 1). The model: configs/light_gpt_tiny.json
with initializer_range 0.3 and make_gpt2_golden's init_weights (seed 7), so
the logits are far from uniform; the script prints the smallest gap between
adjacent candidates it ranked (a near-tie would make the C comparison
fragile).

Writes tests/fixtures/beam_tiny/: config.json, model.safetensors, golden.txt
  case NAME num_beams groups diversity length_penalty early nrs max_new eos n_bad bad...
  seq PROMPT J SCORE EOS LIMIT LEN TOKENS...    (early: 0 false, 1 true, 2 never; eos -1: none)

Run:  /usr/bin/python3 tests/reference/beam_reference.py   (repo root)
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import save_safetensors  # noqa: E402
from make_gpt2_golden import forward, init_weights  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "beam_tiny")
CONFIG = os.path.join(ROOT, "configs", "light_gpt_tiny.json")

PROMPTS = [[2], [2, 10, 11, 12], [2, 7]]
PAD = 0
margins = []


class Hyps:
    """BeamHypotheses of one group."""

    def __init__(self, n, lp, early, max_gen):
        self.n, self.lp, self.early, self.max_gen = n, lp, early, max_gen
        self.beams, self.worst = [], 1e9

    def add(self, toks, sum_logprobs, gen_len, eos, limit):
        score = sum_logprobs / (gen_len ** self.lp)
        if len(self.beams) < self.n or score > self.worst:
            self.beams.append((score, toks, eos, limit))
            if len(self.beams) > self.n:
                ranked = sorted([(s, i) for i, (s, _, _, _) in enumerate(self.beams)])
                del self.beams[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum, cur):
        if len(self.beams) < self.n:
            return False
        if self.early == 1:
            return True
        if self.early == 2 and self.lp > 0:
            return self.worst >= best_sum / self.max_gen ** self.lp
        return self.worst >= best_sum / cur ** self.lp


def topk_stable(x, k):
    """Top k of a 1-D float32 tensor, descending, ties to the lower index."""
    order = sorted(range(x.numel()), key=lambda i: (-x[i].item(), i))[:k + 1]
    vals = [x[i].item() for i in order]
    for a, b in zip(vals, vals[1:]):
        if math.isfinite(a) and math.isfinite(b) and a > -1e8:
            margins.append(a - b)
    return order[:k]


def beam_search(c, w, prompt, nb, G, div, lp, early, nrs, max_new, eos, bad):
    gs = nb // G
    V = c["vocab_size"]
    max_gen = min(max_new, c["n_positions"] + 1 - len(prompt))
    seqs = [list(prompt) for _ in range(nb)]          # HF's input_ids, one source
    bscore = torch.full((nb,), -1e9, dtype=torch.float32)
    bscore[::gs] = 0
    hyps = [Hyps(gs, lp, early, max_gen) for _ in range(G)]
    done = [False] * G
    k = 0
    while True:
        with torch.no_grad():
            logits = forward(c, w, torch.tensor(seqs), torch.ones(nb, len(seqs[0]), dtype=torch.int64))
        last = logits[:, -1, :].float()
        cur = [PAD] * nb
        new_seqs, new_scores = [None] * nb, torch.zeros(nb, dtype=torch.float32)
        for g in range(G):
            rows = list(range(g * gs, (g + 1) * gs))
            if done[g]:
                for r in rows:
                    new_seqs[r], cur[r] = seqs[r] + [PAD], PAD
                continue
            s = torch.log_softmax(last[rows], dim=-1)
            s[:, bad] = -float("inf")
            if g > 0:
                freq = torch.bincount(torch.tensor(cur[:g * gs]), minlength=V)
                s = s - div * freq
            s = s + bscore[rows].unsqueeze(1)
            flat = s.reshape(-1)
            cand = topk_stable(flat, 2 * gs)
            nxt = []
            for rank, idx in enumerate(cand):
                tok, j = idx % V, idx // V
                score = flat[idx].item()
                if eos >= 0 and tok == eos:
                    if rank < gs:
                        hyps[g].add(seqs[rows[j]][len(prompt):] + [eos], score, k + 1, 1, 0)
                    continue
                nxt.append((score, tok, rows[j]))
                if len(nxt) == gs:
                    break
            done[g] = hyps[g].is_done(flat[cand[0]].item(), k + 1)
            for r, (score, tok, src) in zip(rows, nxt):
                new_seqs[r] = seqs[src] + [tok]
                new_scores[r] = score
                cur[r] = tok
        seqs, bscore, k = new_seqs, new_scores, k + 1
        if all(done) or k == max_gen:
            break
    limit = 0 if all(done) else int(k < max_new)
    for g in range(G):
        if done[g]:
            continue
        for r in range(g * gs, (g + 1) * gs):
            hyps[g].add(seqs[r][len(prompt):], bscore[r].item(), k, 0, limit)
    cands = sorted([b for h in hyps for b in h.beams], key=lambda b: b[0])
    return [cands.pop() for _ in range(nrs)]


def main():
    with open(CONFIG) as f:
        c = json.load(f)
    c["initializer_range"] = 0.3
    w = init_weights(c, torch.Generator().manual_seed(7))
    # the token greedy decoding emits most often: as eos it ends many beams
    counts = [0] * c["vocab_size"]
    for p in PROMPTS:
        seq = list(p)
        for _ in range(12):
            with torch.no_grad():
                lg = forward(c, w, torch.tensor([seq]), torch.ones(1, len(seq), dtype=torch.int64))[0, -1]
            lg[4] = -float("inf")
            seq.append(int(lg.argmax()))
            counts[seq[-1]] += 1
    frequent = max(range(len(counts)), key=lambda v: (counts[v], -v))
    # name, beams, groups, diversity, length_penalty, early, nrs, max_new, eos, bad
    cases = [
        ("beam4", 4, 1, 0.0, 1.0, 0, 4, 20, 3, [4]),
        ("beam3_eos_frequent", 3, 1, 0.0, 1.0, 0, 3, 20, frequent, [4]),
        ("beam3_early_true_lp0.5", 3, 1, 0.0, 0.5, 1, 2, 20, frequent, [4]),
        ("beam5_never_lp1.5", 5, 1, 0.0, 1.5, 2, 5, 16, frequent, [4, 0]),
        ("beam2_lp_neg", 2, 1, 0.0, -0.5, 0, 2, 12, frequent, [4]),
        ("beam3_positions", 3, 1, 0.0, 1.0, 0, 3, 60, -1, [4]),
        ("diverse5x5", 5, 5, 1.0, 1.0, 0, 5, 20, frequent, [4]),
        ("diverse4x2", 4, 2, 0.7, 1.0, 0, 3, 20, frequent, [4]),
        ("diverse6x3_eos3", 6, 3, 1.5, 1.0, 0, 6, 20, 3, [4]),
    ]
    os.makedirs(OUT, exist_ok=True)
    cfg = dict(c)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    save_safetensors(os.path.join(OUT, "model.safetensors"), {n: (t, "F32") for n, t in w.items()},
                     {"format": "pt"})
    lines = ["# tests/reference/beam_reference.py; most frequent greedy token %d" % frequent]
    n_eos = n_limit = n_max = 0
    for name, nb, G, div, lp, early, nrs, max_new, eos, bad in cases:
        lines.append("case %s %d %d %r %r %d %d %d %d %d %s" % (
            name, nb, G, div, lp, early, nrs, max_new, eos, len(bad), " ".join(map(str, bad))))
        for p, prompt in enumerate(PROMPTS):
            for j, (score, toks, e, lim) in enumerate(
                    beam_search(c, w, prompt, nb, G, div, lp, early, nrs, max_new, eos, bad)):
                lines.append("seq %d %d %.9g %d %d %d %s" % (p, j, score, e, lim, len(toks),
                                                             " ".join(map(str, toks))))
                n_eos += e
                n_limit += lim
                n_max += not e and not lim
    with open(os.path.join(OUT, "golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("%d cases x %d prompts: hypotheses ending at eos %d, at n_positions %d, at max_new_tokens %d"
          % (len(cases), len(PROMPTS), n_eos, n_limit, n_max))
    print("smallest gap between adjacent ranked candidates: %.3g" % min(margins))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
