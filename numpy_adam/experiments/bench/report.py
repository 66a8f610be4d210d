"""The bench report as text: a header, then Markdown tables (paste-able into the README)."""
from __future__ import annotations


def _fmt(value, spec=".2f") -> str:
    return "—" if value is None else format(value, spec)


def _header(report: dict) -> list[str]:
    s = report["system"]
    lines = [f"numpy {s['numpy']}, numba {s['numba']} (threading layer "
             f"{s['numba_threading_layer']}, {s['numba_threads']} threads), "
             f"{s['cpu_count']} CPUs, Python {s['python']}"]
    if "torch" in s:
        lines.append(f"torch {s['torch']} ({s['torch_threads']} threads); baseline: "
                     f"{report.get('baseline_method')}")
    else:
        lines.append("torch: not installed (torch columns omitted)")
    for blas in s["blas"]:
        lines.append("BLAS: " + ", ".join(f"{k}={v}" for k, v in blas.items() if k != "prefix"))
    lines.append("env: " + ", ".join(f"{k}={v}" for k, v in s["env"].items()))
    lines.append(f"allocator policy (numpy_adam/nn/allocator.py): {s.get('allocator_policy')}")
    lanes = s.get("lanes")
    if lanes is not None:
        lines.append(f"lanes (numpy_adam/nn/lanes.py): {lanes['count']}, FastCifarCNN's step over "
                     f"them from batch {lanes['from_batch']} up")
    return lines


def _cnn_table(report: dict) -> list[str]:
    torch = report["torch_available"]
    head = ("| batch | ours ms/step | plain layers ms/step | with --batch-spread / ours | "
            "with the plain probe / ours | with im2col convs / ours | with direct convs / ours | with threaded Adam / ours | "
            "without lanes / ours |")
    rule = "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    head += " page faults/step: ours |"
    rule += " ---: |"
    same = any("ours_vs_torch_same_allocator" in row for row in report["cnn_step"])
    if torch:
        head += " torch ms/step | page faults/step | ours / torch | plain / torch |"
        rule += " ---: | ---: | ---: | ---: |"
    if same:
        head += " torch, our allocator policy, ms/step | page faults/step | ours / that |"
        rule += " ---: | ---: | ---: |"
    lines = ["", "CNN training step (forward, backward, Adam with statistics), median of "
             "interleaved rounds", "", head, rule]
    for row in report["cnn_step"]:
        ms, faults = row["ms"], row["minor_faults_per_step"]
        line = (f"| {row['batch']} | {ms['numpy']:.1f} | {ms['numpy_plain_layers']:.1f} | "
                f"{row['batch_spread_vs_ours']:.2f}× | {row['plain_batch_spread_vs_ours']:.2f}× | "
                f"{row['im2col_convs_vs_ours']:.2f}× | "
                f"{row['direct_convs_vs_ours']:.2f}× | {row['threaded_adam_vs_ours']:.2f}× | "
                f"{row['without_lanes_vs_ours']:.2f}× | {faults['numpy']:.0f} |")
        if torch:
            r = row["ratio_vs_torch"]
            line += (f" {ms['torch']:.1f} | {faults['torch']:.0f} | {r['numpy']:.2f}× | "
                     f"{r['numpy_plain_layers']:.2f}× |")
        if same:
            line += (f" {ms['torch_same_allocator']:.1f} | {faults['torch_same_allocator']:.0f} | "
                     f"{row['ours_vs_torch_same_allocator']:.2f}× |")
        lines.append(line)
    return lines


def _breakdown_table(report: dict) -> list[str]:
    if "layer_breakdown" not in report:
        return []
    batches = list(report["layer_breakdown"])
    lines = ["", "Per-stage breakdown of our step (ms, median)", "",
             "| stage | " + " | ".join(f"batch {b}" for b in batches) + " |",
             "| --- | " + " | ".join("---:" for _ in batches) + " |"]
    for stage in report["layer_breakdown"][batches[0]]:
        values = " | ".join(f"{report['layer_breakdown'][b][stage]:.2f}" for b in batches)
        lines.append(f"| {stage} | {values} |")
    return lines


def _conv_floor_table(report: dict) -> list[str]:
    if "conv_floor" not in report:
        return []
    torch = report["torch_available"]
    lines = ["", "Floor of each conv design: the step's conv work alone, im2col's GEMMs without "
             "and with im2col/col2im, the direct convolution, and our convs (im2col conv1, "
             "spectral conv2) (ms, median)"
             + (", and their ratio to PyTorch's whole step" if torch else ""), ""]
    parts = [k for k in report["conv_floor"][0]["ms"] if k != "torch step"]
    head = "| batch | " + " | ".join(parts) + (" | torch step | " + " | ".join(
        f"{p} / torch step" for p in parts) if torch else "") + " |"
    lines += [head, "|" + " ---: |" * (head.count("|") - 1)]
    for row in report["conv_floor"]:
        cells = [str(row["batch"])] + [f"{row['ms'][p]:.1f}" for p in parts]
        if torch:
            cells += [f"{row['ms']['torch step']:.1f}"]
            cells += [f"{row['ratio_vs_torch_step'][p]:.2f}×" for p in parts]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _conv_algorithms_table(report: dict) -> list[str]:
    if "conv_algorithms" not in report:
        return []
    rates = report["conv_algorithms"][0]["ns_per_multiply_add"]
    lines = ["", "Convolutions per layer and direction: im2col + GEMM, the direct and the spectral "
             "convolution (ms, median; ratios = medians of each / im2col); the direct floor is "
             "the multiply-adds at the direct kernels' in-cache rate on one core ("
             + ", ".join(f"{k} {v:.3f} ns" for k, v in rates.items()) + "), over the threads", "",
             "| batch | layer | direction | im2col ms | direct ms | spectral ms | direct / im2col "
             "| spectral / im2col | direct floor ms |",
             "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["conv_algorithms"]:
        ms, ratio = row["ms"], row["ratio_vs_im2col"]
        lines.append(f"| {row['batch']} | {row['layer']} | {row['direction']} | "
                     f"{ms['im2col']:.2f} | {ms['direct']:.2f} | {ms['spectral']:.2f} | "
                     f"{ratio['direct']:.2f}× | {ratio['spectral']:.2f}× | "
                     f"{row['direct_floor_ms']:.2f} |")
    return lines


def _compute_rate_lines(report: dict) -> list[str]:
    rate = report.get("optimizer_compute_rate")
    if rate is None:
        return []
    torch = "best_speed_vs_torch" in rate
    lines = ["", "Adam kernel arithmetic: one thread, in cache, ns/element (from "
             f"{rate['elements'][0]} and {rate['elements'][1]} elements); the floor it sets "
             f"for {rate['n_large']:.0e} elements on "
             f"{rate['threads']} threads" + (f", and the best speed vs torch's fused Adam "
                                            f"({rate['torch_ms']:.2f} ms) that floor allows"
                                            if torch else ""), "",
             "| kernel | ns/element | floor ms |" + (" best speed vs torch |" if torch else ""),
             "| --- | ---: | ---: |" + (" ---: |" if torch else "")]
    for name, ns in rate["ns_per_element"].items():
        line = f"| {name} | {ns:.2f} | {rate['floor_ms'][name]:.2f} |"
        if torch:
            line += f" {rate['best_speed_vs_torch'][name]:.2f}× |"
        lines.append(line)
    step = rate.get("step_floor")
    if step is not None:
        line = (f"| Adam.step() with statistics: the kernel's floor + the NaN/Inf check's read of "
                f"g at the measured bandwidth ({step['check_ms']:.2f} ms) | — | {step['ms']:.2f} |")
        if torch:
            line += f" {step['best_speed_vs_torch']:.2f}× |"
        lines.append(line)
    return lines


def _optimizer_table(report: dict) -> list[str]:
    torch = report["torch_available"]
    lines = ["", f"Optimizer core (Adam, float32), bandwidth {report['bandwidth']['gb_per_s']:.1f} GB/s "
             f"measured ({report['bandwidth']['method']}); % of bandwidth = elements/s ÷ "
             "(bandwidth / 28 B)", "",
             "| n | variant | ms/step | Gelem/s | % bandwidth |" + (" speed vs torch |" if torch else ""),
             "| ---: | --- | ---: | ---: | ---: |" + (" ---: |" if torch else "")]
    for row in report["optimizer_core"]:
        for name, ms in row["ms"].items():
            line = (f"| {row['n']:.0e} | {name} | {ms:.3f} | {row['elements_per_s'][name] / 1e9:.2f} | "
                    f"{row['pct_bandwidth'][name]:.0f} % |")
            if torch:
                speed = row["speed_vs_torch"].get(name)
                line += f" {_fmt(speed)}{'×' if speed is not None else ''} |"
            lines.append(line)
    return lines


def _cifar_lines(report: dict) -> list[str]:
    load, memory = report["cifar10"]["load"], report["cifar10"]["training_memory"]
    lines = [""]
    if "skipped" in load:
        lines.append(f"CIFAR-10 load: skipped ({load['skipped']})")
    else:
        lines.append(f"CIFAR-10 load: {load['seconds']:.2f} s for {load['images']} images")
    if "skipped" in memory:
        lines.append(f"Training peak RSS: skipped ({memory['skipped']})")
    else:
        lines.append(f"Training peak RSS: {memory['peak_rss_mb']:.0f} MB "
                     f"({memory['steps']} steps at batch {memory['batch_size']})")
    whole = report["cifar10"].get("whole_run", {"skipped": "not measured"})
    if "skipped" in whole:
        lines.append(f"Whole-run throughput: skipped ({whole['skipped']})")
    else:
        ms = whole["ms_per_step"]
        text = (f"Whole-run throughput, {whole['steps']} training steps at batch {whole['batch']} "
                f"on CIFAR-10 (each side in its own process): ours {ms['ours']:.1f} ms/step")
        if "torch" in ms:
            text += f", PyTorch {ms['torch']:.1f} ms/step, ours / PyTorch {whole['ratio_vs_torch']:.2f}×"
        faults = whole["minor_faults_per_step"]
        text += "; page faults per step: " + ", ".join(f"{side} {n:.0f}"
                                                      for side, n in faults.items())
        lines.append(text)
    return lines


def format_report(report: dict) -> str:
    """The whole report as text (the JSON report's content, formatted)."""
    lines = (_header(report) + _cnn_table(report) + _breakdown_table(report)
             + _conv_floor_table(report) + _conv_algorithms_table(report)
             + _optimizer_table(report)
             + _compute_rate_lines(report) + _cifar_lines(report))
    return "\n".join(lines) + "\n"
