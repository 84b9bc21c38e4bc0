/* AdamW as torch.optim.AdamW (the Hugging Face Trainer default, "adamw_torch")
 * and global-norm gradient clipping as torch.nn.utils.clip_grad_norm_, on
 * flat float buffers (independent of the graph).
 *
 * Per element of a segment, at optimizer step t (1-based, counted here):
 *   p *= 1 - lr*wd                       (decoupled; wd = 0 for no-decay segments)
 *   m  = b1*m + (1-b1)*g
 *   v  = b2*v + (1-b2)*g*g
 *   p -= (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * which is torch's _single_tensor_adamw order of operations (the scalar
 * factors are computed in double, the element math in float).
 */
#ifndef OPT_ADAMW_H
#define OPT_ADAMW_H

#include <stddef.h>
#include <stdint.h>

/* A run of parameters in the flat buffers, e.g. one tensor. Elements of the
 * buffers not covered by any segment are never touched (frozen). */
typedef struct {
    size_t offset, count;
    int decay; /* 1: apply weight decay; 0: no decay (biases, LayerNorm) */
} opt_segment;

typedef struct {
    double beta1, beta2, eps, weight_decay; /* HF: 0.9, 0.999, 1e-8, 0.0 */
} opt_adamw_config;

typedef struct {
    opt_adamw_config cfg;
    size_t n;          /* length of the parameter / gradient buffers */
    float *m, *v;      /* first and second moments: one allocation, m then v */
    opt_segment *seg;  /* copy of the segments */
    int nseg;
    long step;         /* optimizer steps taken */
} opt_adamw;

/* HF TrainingArguments defaults: beta1 0.9, beta2 0.999, eps 1e-8, wd 0. */
opt_adamw_config opt_adamw_defaults(void);

/* Prepares an optimizer for buffers of n floats with the given segments
 * (each must lie inside [0, n); segments must not overlap). Moments start
 * at zero, step at 0. Returns TG_OK, TG_ERR_ARG (bad config or segment,
 * message names the segment index) or TG_ERR_NOMEM. */
int opt_adamw_init(opt_adamw *o, const opt_adamw_config *cfg, size_t n,
                   const opt_segment *seg, int nseg);
/* Releases the moments and segments. Safe on a zeroed struct. */
void opt_adamw_free(opt_adamw *o);

/* One AdamW step with learning rate lr on params (n floats) from grads.
 * Increments o->step first (torch semantics). Parallel over elements with
 * OpenMP; the result does not depend on the thread count. */
int opt_adamw_step(opt_adamw *o, float *params, const float *grads, double lr);

/* The Hugging Face Trainer rule for weight decay by parameter name
 * (Trainer.get_decay_parameter_names): no decay when the lowercased name
 * contains "bias", "layernorm" or "rmsnorm", or when the parameter belongs
 * to a LayerNorm module (is_layernorm_module != 0). Returns 1 for decay. */
int opt_hf_decay(const char *name, int is_layernorm_module);

/* L2 norm of grads[0..n) accumulated in double over fixed-size blocks, so
 * it is the same for every thread count. */
double opt_grad_norm(const float *grads, size_t n);
/* torch.nn.utils.clip_grad_norm_ on one flat gradient buffer: computes the
 * total norm, coef = max_norm / (norm + 1e-6), and scales grads by coef
 * only when coef < 1. max_norm <= 0 disables clipping (HF skips clipping
 * then). Returns the norm before clipping (for the grad_norm log); a
 * non-finite norm leaves the gradients unchanged. */
double opt_clip_grad_norm(float *grads, size_t n, double max_norm);

/* Saves the state to `path` atomically as safetensors (the HF Trainer's
 * optimizer file is optimizer.pt; ours is optimizer.safetensors): F32
 * tensors "exp_avg" and "exp_avg_sq" [n], I64 "segments" [nseg, 3]
 * (offset, count, decay), and __metadata__ format "ablm-adamw", step,
 * beta1, beta2, eps, weight_decay. n must fit in an int. Returns a status. */
int opt_adamw_save(const opt_adamw *o, const char *path);
/* Loads a state written by opt_adamw_save into an initialised optimizer
 * whose buffer size and segments must match (the message says which
 * differs). The hyperparameters in o->cfg are kept (the caller's flags
 * win, as in HF resume). Returns TG_OK, TG_ERR_IO or TG_ERR_FORMAT; o is
 * unchanged on failure. */
int opt_adamw_load(opt_adamw *o, const char *path);

#endif
