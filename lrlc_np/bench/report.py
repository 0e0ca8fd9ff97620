"""``lrlc bench``'s report: the measurements of ``bench.measure`` as text, or as a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

NOTES = {
    "flops": "GFLOP/s count useful flops: forward 2*N*P*C_out*C_in*kh*kw (P = H_out*W_out "
             "output positions), backward twice that (dx and dW). LC needs the same count as "
             "conv. LRLC is counted as the same conv-equivalent layer whatever its rank or "
             "route: the 'conv' route actually computes K convolutions plus the mixing over K, "
             "and the 'lc' route builds per-position kernels first, so an LRLC rate below "
             "conv's shows the price of its rank and route, not a slower matrix product.",
    "percent": "% mm = that rate as a percentage of the float32 matmul rate above.",
    "route": "route: how the LRLC layer computed (its `method`, 'auto' resolved): 'conv' = one "
             "convolution with K*C_out filters then a per-position mix; 'lc' = per-position "
             "effective kernels sum_k alpha_k B_k fed to the LC product.",
    "profile": "step profile: medians over the timed steps of each layer's forward and backward "
               "pass inside a training step (the same step as the training rows); GFLOP/s and "
               "% mm for the conv, LC and LRLC layers count useful flops as above (the first "
               "layer's backward includes its dx, which the network does not need but the "
               "layer computes).",
    "memory": "peak MB: tracemalloc's peak during one training step of a freshly built network "
              "(activations, caches, gradients, temporaries; the parameters and optimiser state "
              "existed before and are not counted; BLAS's own buffers are not traced).",
}


def _ms(seconds):
    return "-" if seconds is None else f"{1000 * seconds:.2f}" if seconds < 0.1 else f"{1000 * seconds:.0f}"


def _num(value, fmt):
    return "-" if value is None else format(value, fmt)


def _table(header, rows, align):
    """Plain-text table: ``align`` is a string of '<' / '>' per column."""
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    line = lambda r: "  ".join(f"{str(v):{a}{w}}" for v, a, w in zip(r, align, widths)).rstrip()
    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *map(line, rows)])


def _blas_text(blas):
    name = " ".join(str(v) for v in (blas.get("name"), blas.get("version")) if v) or "unknown"
    if blas.get("threads") is not None:
        threads = f"{blas['threads']} threads"
    else:
        threads = "threads unknown (install threadpoolctl to see them)"
    arch = f", {blas['architecture']} kernel" if blas.get("architecture") else ""
    return f"{name}{arch}; {threads}; via {blas.get('source')}"


def format_report(result) -> str:
    """The readable report: machine, layers, reference vs vectorised, training, notes."""
    s, m, mm = result["settings"], result["machine"], result["machine"]["matmul"]
    out = [f"lrlc bench{' --quick' if s.get('quick') else ''}: backend {m['backend']}, float32, "
           f"medians of {s['repeats']} after {s['warmup']} warm-up (took {result['elapsed_s']:.0f} s)", ""]

    out.append("== machine ==")
    env = ", ".join(f"{k}={v if v is not None else 'unset'}" for k, v in m["env"].items())
    out += [f"Python {m['python']}, NumPy {m['numpy']}, {m['platform']}",
            f"CPU cores (os.cpu_count): {m['cpu_count']}" + (f"; GPU: {m['gpu']}" if "gpu" in m else ""),
            f"BLAS: {_blas_text(m['blas'])}",
            f"thread variables: {env}",
            f"matmul {mm['n']}x{mm['n']} {mm['dtype']} @: {_ms(mm['seconds'])} ms = "
            f"{_num(mm['gflops'], '.1f')} GFLOP/s (2n^3 flops, best of 3 medians of {mm['repeats']}): "
            f"the practical limit the layers are measured against", ""]

    tier_names = s["tiers"]
    if result["layers"]:
        out_hw = s["size"] - s["kernel"] + 1
        for tier in tier_names:
            out.append(f"== layers, {tier} tier: N={s['batch']}, {s['channels']}->{s['channels']} channels, "
                       f"{s['size']}x{s['size']} -> {out_hw}x{out_hw}, {s['kernel']}x{s['kernel']} valid ==")
            rows = [(r["name"], r["route"] or "-", _ms(r["forward_s"]), _num(r["forward_gflops"], ".1f"),
                     _num(r["forward_pct"], ".0f"), _ms(r["backward_s"]), _num(r["backward_gflops"], ".1f"),
                     _num(r["backward_pct"], ".0f"), _ms(r["total_s"]), _num(r["relative_to_conv"], ".2f"))
                    for r in result["layers"] if r["tier"] == tier]
            header = ("layer", "route", "fwd ms", "GFLOP/s", "% mm", "bwd ms", "GFLOP/s", "% mm",
                      "total ms", "x conv")
            out += [_table(header, rows, "<<>>>>>>>>"), ""]
        if len(tier_names) == 2:
            out.append(f"== the two tiers side by side: forward + backward ms, {tier_names[1]} / {tier_names[0]} ==")
            pairs = _pair_rows(result["layers"], tier_names, "total_s")
            rows = [(name, _ms(a), _ms(b), _num(b / a if a else None, ".2f") + "x") for name, a, b in pairs]
            out += [_table(("layer", f"{tier_names[0]} ms", f"{tier_names[1]} ms", "ratio"), rows, "<>>>"), ""]

        rs = result["reference"]
        out.append(f"== reference loops vs vectorised ops (forward, float64): N={s['reference_batch']}, "
                   f"{s['reference_channels']}->{s['reference_channels']} channels, "
                   f"{s['reference_size']}x{s['reference_size']}, {s['kernel']}x{s['kernel']} valid ==")
        header = ["layer", "reference ms"]
        for tier in tier_names:
            header += [f"{tier} ms", "speed-up", "max |diff|"]
        rows = [(r["name"], _ms(r["reference_s"]), *[v for tier in tier_names for v in (
                    _ms(r["tiers"][tier]["vectorised_s"]), _num(r["tiers"][tier]["speedup"], ",.0f") + "x",
                    f"{r['tiers'][tier]['max_abs_diff']:.1e}")]) for r in rs]
        out += [_table(tuple(header), rows, "<" + ">" * (len(header) - 1)), ""]

        out.append(f"== training: the paper's network ({s['train_filters']} filters), batch "
                   f"{s['train_batch']}, float32, random data (N, 1, 28, 28); forward + loss + "
                   f"backward + SGD step ==")
        rows = [(r["name"], r["tier"], _num(r["images_per_s"], ",.0f"), _ms(r["step_s"]),
                 _num(r["peak_traced_mb"], ".1f"), _num(r["params_mb"], ".2f")) for r in result["training"]]
        out += [_table(("network", "tier", "images/s", "step ms", "peak MB", "params MB"), rows, "<<>>>>"), ""]
    for prof in result.get("profile", []):
        out += format_profile(prof), ""
    out.append("notes:")
    out += [f"- {text}" for text in result["notes"].values()]
    return "\n".join(out)


def format_profile(prof) -> str:
    """One step profile (``step_profile``) as a table: a row per layer and pass."""
    head = (f"== step profile, {prof['tier']} tier: {prof['name']}, batch {prof['batch']}, "
            f"{_ms(prof['step_s'])} ms per step ({_num(prof['batch'] / prof['step_s'], ',.0f')} images/s) ==")
    rows, total = [], 0.0
    for r in prof["rows"]:
        both = r["forward_s"] + (r["backward_s"] or 0.0)
        total += both
        rows.append(("" if r["index"] is None else str(r["index"]), r["layer"], r["shape"],
                     _ms(r["forward_s"]), _num(r["forward_gflops"], ".0f"), _num(r["forward_pct"], ".0f"),
                     _ms(r["backward_s"]), _num(r["backward_gflops"], ".0f"), _num(r["backward_pct"], ".0f"),
                     _num(100 * both / prof["step_s"], ".0f")))
    rows.append(("", "sum", "", "", "", "", "", "", "", _num(100 * total / prof["step_s"], ".0f")))
    header = ("#", "layer", "shape", "fwd ms", "GFLOP/s", "% mm", "bwd ms", "GFLOP/s", "% mm", "% step")
    return "\n".join([head, _table(header, rows, "<<<>>>>>>>")])


def _pair_rows(rows, tier_names, key):
    """[(name, value on the first tier, value on the second)] for the names both tiers timed."""
    first, second = ({r["name"]: r[key] for r in rows if r["tier"] == t} for t in tier_names)
    return [(name, value, second[name]) for name, value in first.items() if name in second]


def write_json(result, path) -> Path:
    """Write ``result`` as JSON atomically: a temporary file in the same folder, then os.replace.

    A crash mid-write leaves either the old file or none, never half a file. Values that
    JSON cannot hold (NaN, infinity) are rejected rather than written as invalid JSON.
    """
    from .._atomic import atomic_write

    text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)
