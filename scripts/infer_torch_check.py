# Cross-check of ablm logits/embed against a plain-torch RobertaForMaskedLM forward.
import json, struct, sys, numpy as np, torch
d, lg, ids_p, emb = sys.argv[1:5]
cfg = json.load(open(d + "/config.json"))
raw = open(d + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]; hdr = json.loads(raw[8:8 + n]); base = 8 + n
W = {k: torch.from_numpy(np.frombuffer(raw[base + v["data_offsets"][0]:base + v["data_offsets"][1]], dtype="<f4").reshape(v["shape"]).copy())
     for k, v in hdr.items() if k != "__metadata__"}
ids = torch.from_numpy(np.load(ids_p)).long(); L = np.load(lg)
pad = cfg["pad_token_id"]; eps = cfg["layer_norm_eps"]; H = cfg["hidden_size"]; nh = cfg["num_attention_heads"]
tok_pad = [l.rstrip("\n") for l in open(d + "/vocab.txt")].index("[PAD]")
m = (ids != tok_pad)  # attention mask: ids.npy is padded with the tokenizer's [PAD]
notpad = (ids != pad).int()  # position ids: padding_idx = config.pad_token_id, as transformers
pos = torch.cumsum(notpad, 1) * notpad + pad
ln = lambda x, p: torch.nn.functional.layer_norm(x, (H,), W[p + ".weight"], W[p + ".bias"], eps)
lin = lambda x, p: x @ W[p + ".weight"].T + W[p + ".bias"]
e = "roberta.embeddings."
x = W[e + "word_embeddings.weight"][ids] + W[e + "position_embeddings.weight"][pos.long()] + W[e + "token_type_embeddings.weight"][0]
x = ln(x, e + "LayerNorm")
B, T = ids.shape; hd = H // nh
amask = (~m)[:, None, None, :].float() * torch.finfo(torch.float32).min
for i in range(cfg["num_hidden_layers"]):
    p = f"roberta.encoder.layer.{i}."
    sp = lambda t: t.view(B, T, nh, hd).transpose(1, 2)
    q, k, v = (sp(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
    a = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + amask, -1) @ v
    x = ln(lin(a.transpose(1, 2).reshape(B, T, H), p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
    h = lin(torch.nn.functional.gelu(lin(x, p + "intermediate.dense")), p + "output.dense")
    x = ln(h + x, p + "output.LayerNorm")
hid = x
y = ln(torch.nn.functional.gelu(lin(x, "lm_head.dense")), "lm_head.layer_norm")
y = y @ W[e + "word_embeddings.weight"].T + W["lm_head.bias"]
y = y.numpy(); mk = m.numpy()
print("logits", L.shape, "max |diff| over real tokens:", np.abs(y - L)[mk].max(), "pad positions zero:", np.all(L[~mk] == 0))
E = np.load(emb)
res = m.clone(); res[:, 0] = False; res[torch.arange(B), m.sum(1) - 1] = False
ref = (hid * res[..., None]).sum(1) / res.sum(1, keepdim=True)
print("embed", E.shape, "max |diff|:", np.abs(ref.numpy() - E).max())
