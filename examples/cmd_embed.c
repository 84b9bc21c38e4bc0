/* ablm embed: last-layer hidden states, mean-pooled per sequence or per
 * residue, as float32 .npy. */
#include "commands.h"
#include "infer.h"
#include "npy.h"

#include "tg.h"

#include <stdlib.h>
#include <string.h>

static const char ABOUT[] =
    "Writes the last encoder layer's hidden states as float32 .npy, rows in input order.\n"
    "Default: the mean over each sequence's residues ([CLS], [SEP] and padding excluded),\n"
    "shape [N, H]. --per-residue: shape [N, L, H] (L = longest sequence in residues,\n"
    "[CLS]/[SEP] left out, row t = residue t+1), zero after each sequence's end; the\n"
    "residue counts go to OUT.lengths.npy (int32 [N]). OUT.records.tsv names the rows:\n"
    "header index, id, length (residues); line i is row i (ids: sequence_id, FASTA name,\n"
    "else FILE:LINE; a repeated id becomes ID@FILE:LINE).";

typedef struct {
    int per_residue;
    npy_file f;
    size_t lmax, H;
    float *row;
    double *acc;
} embed_job;

static int embed_batch(inf_ctx *c, const rb_graph *gr, const size_t *idx, int B, void *user)
{
    embed_job *j = user;
    size_t H = j->H, T = (size_t)gr->seq_len;
    const float *hid = tg_f32(gr->hidden);
    for (int b = 0; b < B; b++) {
        size_t i = idx[b], L = (size_t)c->in.ntok[i] - 2;
        const float *h = hid + ((size_t)b * T + 1) * H; /* first residue */
        int rc;
        if (j->per_residue) {
            rc = npy_put(&j->f, i * j->lmax * H * 4, h, L * H * 4);
        } else {
            memset(j->acc, 0, H * sizeof *j->acc);
            for (size_t t = 0; t < L; t++)
                for (size_t k = 0; k < H; k++)
                    j->acc[k] += h[t * H + k];
            for (size_t k = 0; k < H; k++)
                j->row[k] = (float)(j->acc[k] / (double)L);
            rc = npy_put(&j->f, i * H * 4, j->row, H * 4);
        }
        if (rc)
            return rc;
    }
    return TG_OK;
}

int cmd_embed(int argc, char **argv)
{
    embed_job j = {0};
    const inf_opt opts[] = {
        {"--per-residue", INF_FLAG, &j.per_residue, 0, "",
         "one vector per residue [N, L, H] plus OUT.lengths.npy, instead of the mean [N, H]"},
    };
    const inf_spec spec = {"embed", "--model DIR --input FILE --output OUT.npy [flags]", ABOUT,
                           opts, 1, 1, 0, 32};
    inf_ctx c;
    int rc = inf_begin(&c, argc, argv, &spec);
    if (rc != INF_GO)
        return rc;
    size_t N = c.in.n;
    j.H = (size_t)c.model.m->cfg.hidden_size;
    j.lmax = (size_t)c.in.max_ntok - 2;
    size_t shape[3] = {N, j.per_residue ? j.lmax : j.H, j.H};
    char *lpath = NULL;
    int32_t *lengths = NULL;
    j.row = tg_malloc(j.H * sizeof *j.row, "embedding row");
    j.acc = tg_malloc(j.H * sizeof *j.acc, "embedding sum");
    rc = !j.row || !j.acc ? TG_ERR_NOMEM
                          : npy_create(&j.f, c.output, "<f4", j.per_residue ? 3 : 2, shape);
    if (!rc) {
        rc = inf_each_batch(&c, RB_HIDDEN, embed_batch, &j);
        if (!rc && j.per_residue) {
            lpath = npy_sibling(c.output, "lengths");
            lengths = tg_malloc(N * sizeof *lengths, "lengths");
            if (!lpath || !lengths)
                rc = TG_ERR_NOMEM;
            for (size_t i = 0; i < N && !rc; i++)
                lengths[i] = c.in.ntok[i] - 2;
            if (!rc)
                rc = npy_write(lpath, "<i4", 1, &N, lengths);
        }
        if (!rc)
            rc = npy_write_records(c.output, c.in.ids, c.in.ntok, N);
        if (rc)
            npy_abort(&j.f);
        else
            rc = npy_commit(&j.f);
    }
    tg_free(lpath);
    tg_free(lengths);
    tg_free(j.row);
    tg_free(j.acc);
    return inf_end(&c, rc ? inf_fail(&c) : 0);
}
