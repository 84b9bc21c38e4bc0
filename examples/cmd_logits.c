/* ablm logits: raw masked-LM logits [N, T, V] and the token ids [N, T]. */
#include "commands.h"
#include "infer.h"
#include "npy.h"

#include "tg.h"

#include <string.h>

static const char ABOUT[] =
    "Writes the LM head's raw logits as float32 .npy [N, T, V], rows in input order:\n"
    "T = the longest sequence in tokens ([CLS] + residues + [SEP]), V = config vocab_size.\n"
    "Positions after a sequence's [SEP] are 0. The token ids (int32 [N, T], padded with\n"
    "[PAD]) go to OUT.ids.npy, so the input can be replayed elsewhere with\n"
    "attention_mask = ids != pad id. OUT.records.tsv names the rows: header index, id,\n"
    "length (residues); line i is row i (ids: sequence_id, FASTA name, else FILE:LINE; a\n"
    "repeated id becomes ID@FILE:LINE).";

typedef struct {
    npy_file f;
    size_t T, V;
} logits_job;

static int logits_batch(inf_ctx *c, const rb_graph *gr, const size_t *idx, int B, void *user)
{
    logits_job *j = user;
    size_t Tb = (size_t)gr->seq_len, V = j->V;
    for (int b = 0; b < B; b++) {
        size_t i = idx[b], n = (size_t)c->in.ntok[i];
        int rc = npy_put(&j->f, i * j->T * V * 4, tg_f32(gr->logits) + (size_t)b * Tb * V,
                         n * V * 4);
        if (rc)
            return rc;
    }
    return TG_OK;
}

int cmd_logits(int argc, char **argv)
{
    const inf_spec spec = {"logits", "--model DIR --input FILE --output OUT.npy [flags]", ABOUT,
                           NULL, 0, 1, 0, 32};
    inf_ctx c;
    int rc = inf_begin(&c, argc, argv, &spec);
    if (rc != INF_GO)
        return rc;
    logits_job j = {.T = (size_t)c.in.max_ntok, .V = (size_t)c.model.vocab};
    size_t N = c.in.n, shape[3] = {N, j.T, j.V};
    char *ipath = npy_sibling(c.output, "ids");
    int32_t *ids = tg_malloc(N * j.T * sizeof *ids, "token ids");
    rc = !ipath || !ids ? TG_ERR_NOMEM : npy_create(&j.f, c.output, "<f4", 3, shape);
    if (!rc) {
        rc = inf_each_batch(&c, RB_LOGITS, logits_batch, &j);
        for (size_t i = 0; i < N && !rc; i++)
            inf_pad(&c, &i, 1, (int)j.T, ids + i * j.T);
        if (!rc)
            rc = npy_write(ipath, "<i4", 2, shape, ids);
        if (!rc)
            rc = npy_write_records(c.output, c.in.ids, c.in.ntok, N);
        if (rc)
            npy_abort(&j.f);
        else
            rc = npy_commit(&j.f);
    }
    tg_free(ipath);
    tg_free(ids);
    return inf_end(&c, rc ? inf_fail(&c) : 0);
}
