/* Cost of building and planning a model graph for a new input shape (what
 * a trainer pays for each new batch length), for a config given.
 * usage: bench_build [CONFIG] [BATCH] [LENGTH] */
#include "roberta.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *config = argc > 1 ? argv[1] : "configs/heavy_base.json";
    int B = argc > 2 ? atoi(argv[2]) : 16, T = argc > 3 ? atoi(argv[3]) : 130;
    rb_config c;
    rb_model *m;
    if (rb_config_load(config, &c) || rb_model_new(&c, &m)) {
        fprintf(stderr, "bench_build: %s\n", tg_last_error());
        return 1;
    }
    tg_arena *arena = tg_arena_new();
    double best_build = 1e9, best_plan = 1e9;
    int nodes = 0;
    for (int rep = 0; rep < 20; rep++) {
        /* the model's loss graph, built and planned into the shared arena
         * (lengths alternate so every repeat is a new shape) */
        double t0 = now();
        rb_graph gr;
        int rc = rb_build_shared(m, B, T + rep % 2, RB_LOSS, arena, &gr);
        double t1 = now();
        if (rc) {
            fprintf(stderr, "bench_build: %s\n", tg_last_error());
            return 1;
        }
        nodes = tg_graph_nodes(gr.g);
        rb_graph_free(&gr);
        if (t1 - t0 < best_plan)
            best_plan = t1 - t0;
        /* graph construction alone, without planning */
        t0 = now();
        tg_graph *g = tg_graph_new();
        int bt[2] = {B, T};
        tg_tensor *x = tg_input(g, TG_I32, 2, bt, "ids");
        tg_tensor *h = tg_embedding(g, m->word, x, 0);
        for (int l = 0; l < c.num_hidden_layers; l++) /* same op count per layer */
            for (int k = 0; k < 40; k++)
                h = tg_scale(g, h, 1.0f);
        t1 = now();
        tg_graph_free(g);
        if (t1 - t0 < best_build)
            best_build = t1 - t0;
    }
    printf("{\"config\": \"%s\", \"batch\": %d, \"length\": %d, \"nodes\": %d, "
           "\"build_and_plan_ms\": %.3f, \"append_only_ms\": %.3f}\n",
           config, B, T, nodes, best_plan * 1e3, best_build * 1e3);
    tg_arena_free(arena);
    rb_model_free(m);
    return 0;
}
