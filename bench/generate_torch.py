#!/usr/bin/python3
"""PyTorch peer of bench_generate: GPT-2 (pre-LN, gelu_new, tied head) from
torch primitives with a KV cache (preallocated [B, heads, T, hd] tensors
written in place per step), greedy decoding from bos without eos, random
weights; prints the same columns as bench_generate (wall and process CPU
seconds, tokens/s, CPU ms per step). --num_beams B > 1: beam search as
transformers runs it without eos (log-softmax + beam scores, top 2B of
B x V per source, the first B continue, the cache reordered with
index_select as _reorder_cache does); tokens/s counts one sequence per
source, as bench_generate.

--encdec DIR [--source_len 120]: the peer of bench_generate --encdec: the
encoder-decoder of DIR (an ablm train-h2l directory, its config.json and
model.safetensors) from torch primitives (the encoder of
tests/reference/make_encdec_golden.py, once per batch inside the timed run;
per decoder layer the cross-attention k | v of the encoder states computed
once, then per step GPT-2 with the self-attention KV cache as above, then
ln_cross_attn + crossattention over the cached k | v), greedy without eos
from decoder_start; the same seeded sources as bench_generate ([CLS] + S
residues + [SEP]).

usage: /usr/bin/python3 bench/generate_torch.py [--config configs/light_gpt_small.json]
       [--batches 1,32] [--lengths 128,512] [--threads 2] [--num_beams 1]
       [--encdec DIR [--source_len 120]]
"""
import argparse, json, math, os, struct, sys, time

import torch
import torch.nn.functional as F


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class Model:
    def __init__(self, c, n_positions):
        g = torch.Generator().manual_seed(1)
        H, V, L = c["n_embd"], c["vocab_size"], c["n_layer"]
        F_ = c.get("n_inner") or 4 * H
        sd = c.get("initializer_range", 0.02)
        r = lambda *s: torch.randn(*s, generator=g) * sd
        self.H, self.nh, self.eps = H, c["n_head"], c.get("layer_norm_epsilon", 1e-5)
        self.wte, self.wpe = r(V, H), r(n_positions, H)
        self.layers = [dict(ln1=(torch.ones(H), torch.zeros(H)), attn=(r(H, 3 * H), torch.zeros(3 * H)),
                            proj=(r(H, H), torch.zeros(H)), ln2=(torch.ones(H), torch.zeros(H)),
                            fc=(r(H, F_), torch.zeros(F_)), mproj=(r(F_, H), torch.zeros(H)))
                       for _ in range(L)]
        self.lnf = (torch.ones(H), torch.zeros(H))

    def step(self, ids, pos, cache):
        """ids [B, 1] at position pos; cache: per layer (k, v) [B, nh, T, hd]."""
        B, H, nh = ids.shape[0], self.H, self.nh
        hd = H // nh
        x = self.wte[ids] + self.wpe[pos]
        for L, (kc, vc) in zip(self.layers, cache):
            h = F.layer_norm(x, (H,), *L["ln1"], self.eps)
            qkv = torch.addmm(L["attn"][1], h.view(B, H), L["attn"][0]).view(B, 3, nh, hd)
            q = qkv[:, 0].unsqueeze(2)                      # [B, nh, 1, hd]
            kc[:, :, pos] = qkv[:, 1]
            vc[:, :, pos] = qkv[:, 2]
            k, v = kc[:, :, : pos + 1], vc[:, :, : pos + 1]
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ v
            a = a.reshape(B, 1, H)
            x = x + torch.addmm(L["proj"][1], a.view(B, H), L["proj"][0]).view(B, 1, H)
            h = F.layer_norm(x, (H,), *L["ln2"], self.eps)
            h = gelu_new(torch.addmm(L["fc"][1], h.view(B, H), L["fc"][0]))
            x = x + torch.addmm(L["mproj"][1], h, L["mproj"][0]).view(B, 1, H)
        x = F.layer_norm(x, (H,), *self.lnf, self.eps)
        return x.view(B, H) @ self.wte.t()


def load_safetensors(path):
    """F32 tensors of a safetensors file by name."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    w = {}
    for name, e in head.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise SystemExit(f"{path}: {name}: dtype {e['dtype']} (F32 expected)")
        a, b = e["data_offsets"]
        w[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(e["shape"])
    return w


class EncDec:
    """EncoderDecoderModel (RoBERTa encoder, GPT-2 decoder with
    cross-attention, adapters when present) for cached greedy decoding."""

    def __init__(self, d):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
        import make_encdec_golden as ed
        import make_gpt2_golden as g2
        self.ed, self.g2 = ed, g2
        self.cfg = json.load(open(os.path.join(d, "config.json")))
        self.w = load_safetensors(os.path.join(d, "model.safetensors"))
        dc = self.cfg["decoder"]
        self.H, self.nh, self.eps, self.L = dc["n_embd"], dc["n_head"], dc["layer_norm_epsilon"], dc["n_layer"]
        self.n_positions = dc["n_positions"]

    def begin(self, src):
        """Encodes src [B, S] (no padding); returns per layer the
        cross-attention (k, v) [B, nh, S, hd]."""
        w, H, nh = self.w, self.H, self.nh
        h = self.ed.encode(self.cfg["encoder"], w, src, torch.ones_like(src))
        if "enc_to_dec_proj.weight" in w:
            h = h @ w["enc_to_dec_proj.weight"].T + w["enc_to_dec_proj.bias"]
        B, S = src.shape
        out = []
        for i in range(self.L):
            p = "decoder.transformer.h.%d.crossattention." % i
            kv = h @ w[p + "c_attn.weight"] + w[p + "c_attn.bias"]
            k, v = kv.split(H, dim=2)
            out.append(tuple(t.reshape(B, S, nh, H // nh).transpose(1, 2) for t in (k, v)))
        return out

    def step(self, ids, pos, cache, cross):
        w, H, nh, eps, g2 = self.w, self.H, self.nh, self.eps, self.g2
        B, hd = ids.shape[0], H // nh
        x = (w["decoder.transformer.wte.weight"][ids] + w["decoder.transformer.wpe.weight"][pos]).view(B, H)
        for i, ((kc, vc), (ck, cv)) in enumerate(zip(cache, cross)):
            p = "decoder.transformer.h.%d." % i
            h = F.layer_norm(x, (H,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
            qkv = torch.addmm(w[p + "attn.c_attn.bias"], h, w[p + "attn.c_attn.weight"]).view(B, 3, nh, hd)
            q = qkv[:, 0].unsqueeze(2)
            kc[:, :, pos] = qkv[:, 1]
            vc[:, :, pos] = qkv[:, 2]
            a = torch.softmax(q @ kc[:, :, : pos + 1].transpose(-1, -2) / math.sqrt(hd), dim=-1) @ vc[:, :, : pos + 1]
            a = torch.addmm(w[p + "attn.c_proj.bias"], a.reshape(B, H), w[p + "attn.c_proj.weight"])
            x = x + g2.adapter(w, p + "attention_adapters", a)
            h = F.layer_norm(x, (H,), w[p + "ln_cross_attn.weight"], w[p + "ln_cross_attn.bias"], eps)
            q = torch.addmm(w[p + "crossattention.q_attn.bias"], h, w[p + "crossattention.q_attn.weight"])
            q = q.view(B, nh, 1, hd)
            a = torch.softmax(q @ ck.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ cv
            x = x + torch.addmm(w[p + "crossattention.c_proj.bias"], a.reshape(B, H), w[p + "crossattention.c_proj.weight"])
            h = F.layer_norm(x, (H,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
            h = gelu_new(torch.addmm(w[p + "mlp.c_fc.bias"], h, w[p + "mlp.c_fc.weight"]))
            h = torch.addmm(w[p + "mlp.c_proj.bias"], h, w[p + "mlp.c_proj.weight"])
            x = x + g2.adapter(w, p + "output_adapters", h)
        x = F.layer_norm(x, (H,), w["decoder.transformer.ln_f.weight"], w["decoder.transformer.ln_f.bias"], eps)
        return x @ w["decoder.transformer.wte.weight"].t()


def sources(B, S):
    """bench_generate's seeded sources: [CLS] + S residues (5..24) + [SEP]."""
    x, rows = 12345, []
    for _ in range(B):
        r = [2]
        for _ in range(S):
            x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
            r.append(5 + (x >> 8) % 20)
        rows.append(r + [3])
    return torch.tensor(rows, dtype=torch.long)


def main_encdec(a):
    torch.set_num_threads(a.threads)
    m = EncDec(a.encdec)
    nh, hd = m.nh, m.H // m.nh
    start = m.cfg.get("decoder_start_token_id", 2)
    print(f"torch {torch.__version__}, {a.encdec} (encoder-decoder, source {a.source_len} residues), "
          f"{torch.get_num_threads()} threads")
    print(f"{'batch':>6} {'tokens':>7} {'wall s':>10} {'cpu s':>10} {'tokens/s':>12} {'cpu ms/step':>14}")
    with torch.no_grad():
        for B in [int(x) for x in a.batches.split(",")]:
            src = sources(B, a.source_len)
            for T in [int(x) for x in a.lengths.split(",")]:
                if T > m.n_positions - 1:
                    raise SystemExit(f"--lengths {T}: the decoder generates 1..{m.n_positions - 1} tokens")
                for timed in (0, 1):  # a 4-token warm-up, then the timed run
                    n = T if timed else 4
                    w0, c0 = time.perf_counter(), time.process_time()
                    cross = m.begin(src)
                    cache = [(torch.zeros(B, nh, n, hd), torch.zeros(B, nh, n, hd)) for _ in range(m.L)]
                    ids = torch.full((B,), start, dtype=torch.long)
                    for pos in range(n):
                        ids = m.step(ids, pos, cache, cross).argmax(-1)
                    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                print(f"{B:>6} {T:>7} {wall:>10.2f} {cpu:>10.2f} {B * T / wall:>12.0f} {cpu * 1e3 / T:>14.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/light_gpt_small.json")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--num_beams", type=int, default=1)
    ap.add_argument("--encdec", default=None)
    ap.add_argument("--source_len", type=int, default=120)
    a = ap.parse_args()
    if a.encdec:
        return main_encdec(a)
    nb = a.num_beams
    torch.set_num_threads(a.threads)
    c = json.load(open(a.config))
    lengths = [int(x) for x in a.lengths.split(",")]
    n_pos = max(c["n_positions"], max(lengths) + 1)
    m = Model(c, n_pos)
    nh, hd = c["n_head"], c["n_embd"] // c["n_head"]
    bos = c.get("bos_token_id") or 0
    print(f"torch {torch.__version__}, {a.config} (n_positions {n_pos}), {torch.get_num_threads()} threads, num_beams {nb}")
    print(f"{'batch':>6} {'tokens':>7} {'wall s':>10} {'cpu s':>10} {'tokens/s':>12} {'cpu ms/step':>14}")
    with torch.no_grad():
        for B in [int(x) for x in a.batches.split(",")]:
            for T in lengths:
                R = B * nb
                cache = [(torch.zeros(R, nh, T, hd), torch.zeros(R, nh, T, hd)) for _ in m.layers]
                ids = torch.full((R, 1), bos, dtype=torch.long)
                for pos in range(4):  # warm-up (thread pool, allocator), not timed
                    m.step(ids, pos, cache)
                w0, c0 = time.perf_counter(), time.process_time()
                if nb == 1:
                    for pos in range(T):
                        ids = m.step(ids, pos, cache).argmax(-1, keepdim=True)
                else:
                    scores = torch.full((B, nb), -1e9)
                    scores[:, 0] = 0
                    base = (torch.arange(B) * nb).unsqueeze(1)
                    for pos in range(T):
                        lp = torch.log_softmax(m.step(ids, pos, cache), dim=-1)
                        lp[:, 4] = -float("inf")  # bad word [4], as bench_generate
                        V = lp.shape[-1]
                        s, flat = (lp + scores.view(R, 1)).view(B, nb * V).topk(2 * nb, dim=1)
                        scores, flat = s[:, :nb].contiguous(), flat[:, :nb]  # no eos: the first nb continue
                        beam = (base + flat // V).reshape(R)
                        ids = (flat % V).reshape(R, 1)
                        for kc, vc in cache:
                            kc.copy_(kc.index_select(0, beam))
                            vc.copy_(vc.index_select(0, beam))
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                print(f"{B:>6} {T:>7} {wall:>10.2f} {cpu:>10.2f} {B * T / wall:>12.0f} {cpu * 1e3 / T:>14.3f}")


if __name__ == "__main__":
    main()
