"""What the PyTorch programs of benchmarks/ share: their command line (--threads, --warmup,
--steps; the same seed) and the clock, timed as `zoo bench` times a configuration (untimed warm-up
steps, then the mean of the timed ones)."""
import argparse
import time

import torch


def parse_args(parser: argparse.ArgumentParser, warmup: int, steps: int, threads: int = 0) -> argparse.Namespace:
    """Adds --threads (default `threads`, or PyTorch's count when 0), --warmup and --steps to the
    script's own options, parses them, and sets the threads and seed 0."""
    parser.add_argument("--threads", type=int, default=threads or torch.get_num_threads())
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--steps", type=int, default=steps)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return args


def seconds_per_step(step, warmup: int, steps: int) -> float:
    """Runs `step` warmup times untimed, then `steps` times; the mean seconds of a timed step."""
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def ema_pairs(online: torch.nn.Module, target: torch.nn.Module):
    """The tensors an EMA target follows, paired by name: every target parameter and floating-point
    buffer with its online twin (lists for torch._foreach_* ops)."""
    to, source = [], []
    online_tensors = {**dict(online.named_parameters()), **dict(online.named_buffers())}
    for name, tensor in [*target.named_parameters(), *target.named_buffers()]:
        if tensor.is_floating_point():
            to.append(tensor)
            source.append(online_tensors[name])
    return to, source


@torch.no_grad()
def clip_step_ema(params, optimizer, ema_to, ema_from, momentum=0.996, clip=3.0):
    """The end of a self-supervised step: clip_grad_norm_, the optimizer's step, then the EMA
    target <- momentum target + (1 - momentum) online in two fused _foreach passes."""
    torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    torch._foreach_mul_(ema_to, momentum)
    torch._foreach_add_(ema_to, ema_from, alpha=1 - momentum)


@torch.no_grad()
def clip_grad_norm_(params, max_norm: float) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_ over foreach kernels (its foreach= option is PyTorch 2's):
    the total 2-norm of the gradients from one _foreach_norm, then one _foreach_mul_ when above
    max_norm. Returns the norm before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    torch._foreach_mul_(grads, scale.item())
    return total
