"""Figure 7's Markdown section carries exactly the numbers of its dict."""
from numpy_adam.experiments.one_axis_report import one_axis_markdown


def _numbers(label, unit, curve, rms=None, element=None, layer=None, sign=1.0):
    return {"label": label, "unit": unit, "curve": curve, "steps": 80, "warmup": 20,
            "median_gamma": 5.506, "test_accuracy": 0.5033, "sign_agreement": sign,
            "exact": {"passed": 7680, "values": 7680}, "element_residual": element,
            "layer_residual": layer, "rms": rms}


def test_each_method_is_one_row_with_its_numbers():
    text = one_axis_markdown({
        "adam": _numbers("Adam α=0.001", "|Δθ|/α", "1/√(γ²+1)",
                         element={"median": 4.8e-6, "p90": 2.2e-5},
                         layer={"median": 0.029, "p90": 0.124}),
        "rmsprop": _numbers("RMSprop α=0.0003", "|Δθ|/α", None, sign=0.658,
                            rms={"rms": 0.9651, "max_bin_residual": 0.1009})})
    assert "(80 steps per method, measured from step 21)" in text
    assert ("| Adam α=0.001 | \\|Δθ\\|/α | 1/√(γ²+1) | 5.51 | 7680/7680 | 4.8e-06 / 2.2e-05 | "
            "0.029 / 0.12 | – | 100 % | 0.503 |") in text
    assert "| RMSprop α=0.0003 | \\|Δθ\\|/α | – | 5.51 | 7680/7680 | – | – | 0.965 (worst γ bin " \
           "0.10 off) | 66 % | 0.503 |" in text
