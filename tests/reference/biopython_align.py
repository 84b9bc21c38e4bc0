#!/usr/bin/python3
"""Biopython's answers for the heavy-to-light evaluation (tests/test_pair_eval.c).

    /usr/bin/python3 tests/reference/biopython_align.py IN.tsv OUT.tsv
        IN: lines TRUE<TAB>GENERATED (no header). OUT: per line TRUE, GENERATED, score,
        identity, the first alignment's two rows, and how many optimal alignments pairwise2
        returned, computed as the reference evaluation (Heavy2Light's
        full_eval_similarity_blosum_perplexity_gpt.py) does: both chains upper-cased with
        every byte outside the 20 amino acids removed, pairwise2.align.globalds(true,
        generated, BLOSUM62, -10, -4), the first alignment, identity = identical non-gap
        columns / max(len(true), len(generated)) * 100. A chain empty after cleaning is
        written with score and identity "none" (the reference raises there).

    /usr/bin/python3 tests/reference/biopython_align.py --make-fixture SHARED_OAS_DIR
        writes tests/fixtures/pair_eval/pairs.tsv (pairs of real OAS chains and regions, plus
        edge cases) and golden.tsv (the output above for it).
"""
import csv
import gzip
import os
import re
import sys
import warnings

warnings.filterwarnings("ignore")
from Bio import pairwise2  # noqa: E402
from Bio.Align import substitution_matrices  # noqa: E402

BLOSUM62 = substitution_matrices.load("BLOSUM62")
VALID = "ACDEFGHIKLMNPQRSTVWY"


def clean(s):
    return re.sub(f"[^{VALID}]", "", s.upper())


def align(true, gen):
    t, g = clean(true), clean(gen)
    if not t or not g:
        return None
    alns = pairwise2.align.globalds(t, g, BLOSUM62, -10, -4)
    a, b, score, _, _ = alns[0]
    matches = sum(1 for x, y in zip(a, b) if x == y and x != "-")
    return score, matches / max(len(t), len(g)) * 100, a, b, len(alns)


def run(inp, out):
    with open(inp) as f, open(out, "w") as o:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            true, gen = line.split("\t")
            r = align(true, gen)
            if r is None:
                o.write(f"{true}\t{gen}\tnone\tnone\t\t\t0\n")
            else:
                score, ident, a, b, n = r
                o.write(f"{true}\t{gen}\t{score:.1f}\t{ident:.12g}\t{a}\t{b}\t{n}\n")


def make_fixture(oas):
    unit = os.path.join(oas, "1279052_1_Paired_All.csv.gz")
    rows = []
    with gzip.open(unit, "rt") as f:
        f.readline()
        for r in csv.DictReader(f):
            rows.append(r)
    regs = ["fwr1", "cdr1", "fwr2", "cdr2", "fwr3", "cdr3", "fwr4"]
    pairs = []
    # true light chain against the light chain of another pair (a "prediction"), both loci
    for i in range(0, 600, 15):
        a, b = rows[i], rows[(i * 7 + 13) % len(rows)]
        pairs.append((a["sequence_alignment_aa_light"], b["sequence_alignment_aa_light"]))
        # regions against the same region of the other chain (CDRs: short, length-variable)
        k = regs[(i // 15) % 7]
        pairs.append((a[k + "_aa_light"], b[k + "_aa_light"]))
    # truncated and extended predictions, heavy against light, heavy against heavy
    for i in range(3, 300, 37):
        a, b = rows[i], rows[i + 1]
        la, lb = a["sequence_alignment_aa_light"], b["sequence_alignment_aa_light"]
        pairs.append((la, lb[: len(lb) // 2]))
        pairs.append((la, lb + lb[:20]))
        pairs.append((la, a["sequence_alignment_aa_heavy"]))
        pairs.append((a["sequence_alignment_aa_heavy"], b["sequence_alignment_aa_heavy"]))
    # edge cases: identical, one residue, lower case and non-standard bytes (cleaned away),
    # repeats (many co-optimal alignments), empty after cleaning
    l0 = rows[0]["sequence_alignment_aa_light"]
    pairs += [
        (l0, l0),
        ("A", "A"),
        ("A", "W"),
        ("W", l0),
        (l0.lower(), "X*" + l0[5:] + "-."),
        ("AAAAAAAA", "AAA"),
        ("GSGSGSGS", "GSGGSG"),
        ("ACACACAC", "CACA"),
        ("QQQQ", "EEEEEEEE"),
        ("DIQMTQSPSSLSASVGDRVTITC", "QSALTQPASVSGSPGQSITISC"),
        ("XXXX", "DIQ"),
        ("", "DIQ"),
    ]
    os.makedirs("tests/fixtures/pair_eval", exist_ok=True)
    with open("tests/fixtures/pair_eval/pairs.tsv", "w") as f:
        for a, b in pairs:
            f.write(f"{a}\t{b}\n")
    run("tests/fixtures/pair_eval/pairs.tsv", "tests/fixtures/pair_eval/golden.tsv")
    print(f"{len(pairs)} pairs written")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--make-fixture":
        make_fixture(sys.argv[2])
    elif len(sys.argv) == 3:
        run(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
