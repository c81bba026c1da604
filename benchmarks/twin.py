"""What the PyTorch programs of benchmarks/ share: their command line (--threads, --warmup,
--steps, --precision, --profile; the same seed) and the clock, timed as `zoo bench` times a
configuration (untimed warm-up steps, then the mean of the timed ones)."""
import argparse
import contextlib
import json
import time

import torch

# The matrix products and convolutions whose floating-point operations LibTorch's profiler counts
# (with_flops). Each counts its own call: a backward pass's products are mm/bmm calls of their own.
# A convolution's backward (aten::convolution_backward) has no count of its own: it is counted as
# twice the forward of the same shapes (input and weight gradients), and only where it ran, so a
# frozen trunk (under no_grad) counts its forward once. The first convolution of a network, whose
# input needs no gradient, is counted one forward too many (its backward forms the weight's only).
PRODUCT_OPS = {"aten::mm": 1, "aten::addmm": 1, "aten::bmm": 1, "aten::baddbmm": 1, "aten::conv2d": 1}
CONVOLUTION_BACKWARD = "aten::convolution_backward"
PROFILED_STEPS = 3

_options = argparse.Namespace(precision="fp32", profile="")


def parse_args(parser: argparse.ArgumentParser, warmup: int, steps: int, threads: int = 0) -> argparse.Namespace:
    """Adds --threads (default `threads`, or PyTorch's count when 0), --warmup, --steps, --precision
    and --profile to the script's own options, parses them, and sets the threads and seed 0."""
    parser.add_argument("--threads", type=int, default=threads or torch.get_num_threads())
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: the step under torch.autocast('cpu', torch.bfloat16), as zoo bench --precision bf16")
    parser.add_argument("--profile", default="", metavar="PREFIX",
                        help=f"after the timed steps, profile {PROFILED_STEPS} more: PREFIX.trace.json (Chrome trace) and "
                             "PREFIX.flops.json (the matrix products' GFLOP per step)")
    args = parser.parse_args()
    _options.precision, _options.profile = args.precision, args.profile
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return args


def _autocast():
    if _options.precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def product_flops(events) -> float:
    """The FLOPs of the PRODUCT_OPS among profiler events (each with name, flops, thread,
    time_range and, for convolutions, input_shapes), and of the convolutions' backward passes.
    Under autocast an operator can be recorded twice, the call autocast intercepts and, inside it,
    the same operator on the cast inputs (convolutions always, a backward's mm at times), and the
    legacy profiler's microsecond stamps can leave the inner one ending after the outer: on one
    thread two events of one name that overlap at all are one call, counted once."""
    counted = set(PRODUCT_OPS) | {CONVOLUTION_BACKWARD}
    total, last_end = 0.0, {}
    convolution_flops = {}  # (input shape, weight shape) -> the forward's FLOPs
    for e in sorted((e for e in events if e.name in counted), key=lambda e: e.time_range.start):
        key = (e.name, e.thread)
        if key in last_end and e.time_range.start < last_end[key]:
            last_end[key] = max(last_end[key], e.time_range.end)
            continue
        last_end[key] = e.time_range.end
        if e.name == "aten::conv2d" and e.flops:
            convolution_flops[(str(e.input_shapes[0]), str(e.input_shapes[1]))] = e.flops
        if e.name == CONVOLUTION_BACKWARD:
            # convolution_backward(grad_output, input, weight, ...): both gradients, 2x the forward.
            total += 2 * convolution_flops.get((str(e.input_shapes[1]), str(e.input_shapes[2])), 0)
        elif e.flops:
            total += e.flops * PRODUCT_OPS[e.name]
    return total


def _profile(step) -> None:
    """PROFILED_STEPS steps under the profiler (the legacy one, which this build has without
    Kineto): the trace, and the GFLOP per step of the matrix products and convolutions."""
    with torch.autograd.profiler.profile(use_kineto=False, with_flops=True, record_shapes=True) as profile:
        for _ in range(PROFILED_STEPS):
            with _autocast():
                step()
    profile.export_chrome_trace(_options.profile + ".trace.json")
    flops = product_flops(profile.function_events)
    with open(_options.profile + ".flops.json", "w") as out:
        json.dump({"gflop_per_step": flops / PROFILED_STEPS / 1e9, "counted": sorted(PRODUCT_OPS),
                   "profiled_steps": PROFILED_STEPS, "precision": _options.precision}, out)


def seconds_per_step(step, warmup: int, steps: int) -> float:
    """Runs `step` warmup times untimed, then `steps` times; the mean seconds of a timed step.
    With --profile, then a profile of a few more, untimed."""
    for _ in range(warmup):
        with _autocast():
            step()
    t0 = time.perf_counter()
    for _ in range(steps):
        with _autocast():
            step()
    seconds = (time.perf_counter() - t0) / steps
    if _options.profile:
        _profile(step)
    return seconds


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
