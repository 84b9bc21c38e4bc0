/* The op table: one row per op, indexed by the TG_OP_* ids. */
#include "tg_internal.h"

extern const tg_opdef tg_op_matmul, tg_op_add, tg_op_sub, tg_op_mul, tg_op_scale,
    tg_op_layer_norm, tg_op_gelu, tg_op_tanh, tg_op_softmax, tg_op_dropout, tg_op_embedding,
    tg_op_reshape, tg_op_permute, tg_op_concat, tg_op_slice, tg_op_cross_entropy, tg_op_sum,
    tg_op_mean, tg_op_linear, tg_op_attention, tg_op_gelu_new, tg_op_cache_write, tg_op_relu,
    tg_op_attention_decode;

const tg_opdef *const tg_optable[TG_OP_COUNT] = {
    [TG_OP_MATMUL] = &tg_op_matmul,
    [TG_OP_ADD] = &tg_op_add,
    [TG_OP_SUB] = &tg_op_sub,
    [TG_OP_MUL] = &tg_op_mul,
    [TG_OP_SCALE] = &tg_op_scale,
    [TG_OP_LAYER_NORM] = &tg_op_layer_norm,
    [TG_OP_GELU] = &tg_op_gelu,
    [TG_OP_TANH] = &tg_op_tanh,
    [TG_OP_SOFTMAX] = &tg_op_softmax,
    [TG_OP_DROPOUT] = &tg_op_dropout,
    [TG_OP_EMBEDDING] = &tg_op_embedding,
    [TG_OP_RESHAPE] = &tg_op_reshape,
    [TG_OP_PERMUTE] = &tg_op_permute,
    [TG_OP_CONCAT] = &tg_op_concat,
    [TG_OP_SLICE] = &tg_op_slice,
    [TG_OP_CROSS_ENTROPY] = &tg_op_cross_entropy,
    [TG_OP_SUM] = &tg_op_sum,
    [TG_OP_MEAN] = &tg_op_mean,
    [TG_OP_LINEAR] = &tg_op_linear,
    [TG_OP_ATTENTION] = &tg_op_attention,
    [TG_OP_GELU_NEW] = &tg_op_gelu_new,
    [TG_OP_CACHE_WRITE] = &tg_op_cache_write,
    [TG_OP_RELU] = &tg_op_relu,
    [TG_OP_ATTENTION_DECODE] = &tg_op_attention_decode,
};
