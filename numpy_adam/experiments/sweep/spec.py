"""What a sweep runs: points over any ``numpy-adam train`` setting, each a validated
:class:`~numpy_adam.training.config.TrainConfig` with a folder name derived from its settings.

**The spec** (a JSON file; TOML too where Python has ``tomllib``, 3.11 and later), with three
optional parts::

    {
      "base":   {"model": "quadratic", "steps": 500},      every point's settings
      "grid":   {"seed": [0, 1, 2], "beta1": [0.9, 0.99]},  axes: their cartesian product
      "points": [{"optimizer": "adam", "lr": 0.01},         a list of points, each crossed
                 {"optimizer": "sgd", "lr": 0.1}]             with the grid
    }

The points are ``base`` ∪ ``point`` ∪ ``grid combination`` for every listed point (one empty
point when there is no list) and every combination of the grid axes (one empty combination
when there is no grid): the example gives 2 × 3 × 2 = 12 runs. A later part overrides an
earlier one, except that a setting may not be both a listed point's and a grid axis. Giving
``steps`` clears an earlier ``epochs`` and the other way round; a point with neither gets the
length ``numpy-adam train`` gives (1000 steps for the quadratic, one epoch for the CNN).
Settings are TrainConfig's fields (``x0`` and ``channels`` as lists), spelt with ``_`` or
``-``. The command line gives the same three parts: ``--set KEY=VALUE`` (base),
``--grid KEY=V1,V2,...`` (an axis; a value starting with ``[`` is a JSON list instead) and
``--point 'KEY=VALUE KEY=VALUE'`` (a listed point), layered over a spec file when both are
given; each VALUE is read as JSON when it parses (numbers, true/false, null, lists), else as
text. Every point is validated by TrainConfig before anything runs: a bad value stops the
sweep with a :class:`~numpy_adam.training.errors.SettingsError` naming the point.

**Names.** A point's folder name is a pure function of its settings, so the same point gets
the same folder in every invocation and in every spec that contains it: the settings that
differ from TrainConfig's defaults, in TrainConfig's field order, as ``key=value`` joined by
commas (numbers in Python's shortest round-trip form, integers given for float settings read
as floats), then ``-`` and the first 8 hex digits of the SHA-256 of those settings in JSON.
The readable part is for people (it leaves out ``label`` and ``extra`` and is cut at 120
characters); the digest keeps two points apart however they differ. Only non-default
settings enter, so a future setting with a default leaves existing names alone. Example:
``model=quadratic,lr=0.01,steps=500,seed=2-3c9a41f0``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ...training.config import TrainConfig
from ...training.errors import SettingsError

SPEC_PARTS = ("base", "grid", "points")
LENGTH = ("steps", "epochs")
QUADRATIC_STEPS = 1000  # the length `numpy-adam train` gives a quadratic run without --steps
CNN_EPOCHS = 1.0        # ... and a CNN run without --steps or --epochs
NAME_KEYS_MAX = 120     # characters of the readable part of a name
UNNAMED = ("label", "extra")  # in the digest, not in the readable part


def _field_defaults() -> dict:
    out = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        else:
            out[f.name] = f.default_factory()
    return out


DEFAULTS = _field_defaults()
FIELDS = tuple(DEFAULTS)
FLOAT_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig) if "float" in str(f.type))


@dataclass(frozen=True)
class Point:
    """One run of a sweep: its folder name and settings."""

    name: str
    config: TrainConfig

    @property
    def settings(self) -> dict:
        """The settings that differ from TrainConfig's defaults (JSON form)."""
        return non_default_settings(self.config)


# --- names -------------------------------------------------------------------------------------

def _canonical(name: str, value):
    """A setting's value in the form names are made from: JSON types, floats for float fields."""
    value = json.loads(json.dumps(value))  # tuples → lists
    if name in FLOAT_FIELDS:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, list):
            return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                    for v in value]
    return value


def non_default_settings(config: TrainConfig) -> dict:
    """{setting: value} of ``config`` where it differs from TrainConfig's default, in field
    order, in canonical JSON form (what a point's name and sweep.json are made of)."""
    data = config.to_json()
    out = {}
    for name in FIELDS:
        value, default = _canonical(name, data[name]), _canonical(name, DEFAULTS[name])
        if value != default:
            out[name] = value
    return out


def _shown(value) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "_".join(_shown(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "".join(c if c.isalnum() or c in "-._+" else "_" for c in text)


def run_name(config: TrainConfig) -> str:
    """The folder name of the run ``config`` describes (see the module docstring)."""
    settings = non_default_settings(config)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()[:8]
    readable = ",".join(f"{k}={_shown(v)}" for k, v in settings.items() if k not in UNNAMED)
    readable = readable[:NAME_KEYS_MAX].rstrip(",")
    return f"{readable}-{digest}" if readable else f"defaults-{digest}"


# --- reading a spec ---------------------------------------------------------------------------

def _key(name, where: str) -> str:
    if not isinstance(name, str):
        raise SettingsError(f"{where}: setting names must be text, got {name!r}")
    key = name.strip().replace("-", "_")
    if key not in DEFAULTS:
        raise SettingsError(f"{where}: unknown setting {name!r} (the settings are "
                            f"numpy-adam train's: {', '.join(FIELDS)})")
    return key


def _settings(table, where: str) -> dict:
    if not isinstance(table, dict):
        raise SettingsError(f"{where} must be a table of settings, got {table!r}")
    out = {}
    for name, value in table.items():
        key = _key(name, where)
        if key in out:
            raise SettingsError(f"{where}: {key} is given twice")
        out[key] = value
    return out


def normalise_spec(spec, where: str = "the sweep spec") -> dict:
    """``spec`` checked and with its setting names normalised: {"base": {}, "grid": {}, "points":
    []}; raises SettingsError naming what is wrong."""
    if not isinstance(spec, dict):
        raise SettingsError(f"{where} must be a table with base, grid and points, got {spec!r}")
    unknown = sorted(set(spec) - set(SPEC_PARTS))
    if unknown:
        raise SettingsError(f"{where}: unknown part(s) {unknown}; a spec has "
                            f"{', '.join(SPEC_PARTS)}")
    base = _settings(spec.get("base", {}), f"{where}, base")
    grid = _settings(spec.get("grid", {}), f"{where}, grid")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SettingsError(f"{where}, grid: {key} must be a non-empty list of values, got "
                                f"{values!r}")
    points = spec.get("points", [])
    if not isinstance(points, list):
        raise SettingsError(f"{where}: points must be a list of tables, got {points!r}")
    points = [_settings(p, f"{where}, points[{i}]") for i, p in enumerate(points)]
    for i, p in enumerate(points):
        both = sorted(set(p) & set(grid))
        if both:
            raise SettingsError(f"{where}: points[{i}] sets {', '.join(both)}, which the grid "
                                "sweeps; set it in one place")
    return {"base": base, "grid": grid, "points": points}


def load_spec(path) -> dict:
    """Read a spec file (.json, or .toml with Python's tomllib); SettingsError when it cannot."""
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"sweep spec {path} does not exist (give a JSON or TOML file)")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:
            raise SettingsError(f"sweep spec {path}: reading TOML needs Python 3.11 or later "
                                "(tomllib); write the spec as JSON") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"sweep spec {path} is not valid TOML: {error}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SettingsError(f"sweep spec {path} is not valid JSON: {error}") from None
    return normalise_spec(data, f"sweep spec {path}")


def parse_value(text: str):
    """A command-line value: JSON when it parses (numbers, true/false, null, lists), else text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value


def _pair(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SettingsError(f"{option} takes KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def spec_from_options(sets=(), grids=(), points=()) -> dict:
    """The spec that ``--set KEY=VALUE``, ``--grid KEY=V1,V2`` and ``--point 'K=V K=V'`` give."""
    base = {}
    for text in sets:
        key, value = _pair(text, "--set")
        base[key] = parse_value(value)
    grid = {}
    for text in grids:
        key, value = _pair(text, "--grid")
        if value.startswith("["):
            values = parse_value(value)
            if not isinstance(values, list):
                raise SettingsError(f"--grid {key}: {value!r} is not a JSON list")
        else:
            values = [parse_value(v.strip()) for v in value.split(",") if v.strip()]
        grid[key] = values
    listed = []
    for text in points:
        point = {}
        for item in text.split():
            key, value = _pair(item, "--point")
            point[key] = parse_value(value)
        listed.append(point)
    return {"base": base, "grid": grid, "points": listed}


def merge_specs(first: dict, second: dict) -> dict:
    """``second`` layered over ``first`` (both normalised): its base settings override, its axes
    replace axes of the same setting, its listed points are appended."""
    return normalise_spec({"base": {**first["base"], **second["base"]},
                           "grid": {**first["grid"], **second["grid"]},
                           "points": first["points"] + second["points"]})


# --- points ----------------------------------------------------------------------------------

def _overlay(settings: dict, layer: dict) -> dict:
    out = dict(settings)
    for key, value in layer.items():
        if key in LENGTH:  # steps and epochs exclude each other: the later one wins
            out.pop("epochs" if key == "steps" else "steps", None)
        out[key] = value
    return out


def _describe(settings: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in settings.items()) or "no settings"


def config_of(settings: dict, where: str = "sweep point") -> TrainConfig:
    """The TrainConfig of a point's merged settings, with train's default length; raises
    SettingsError naming the point and the setting TrainConfig refuses."""
    data = dict(settings)
    if data.get("steps") is None and data.get("epochs") is None:
        data.pop("steps", None), data.pop("epochs", None)
        quadratic = data.get("model", DEFAULTS["model"]) == "quadratic"
        data["steps" if quadratic else "epochs"] = QUADRATIC_STEPS if quadratic else CNN_EPOCHS
    try:
        return TrainConfig.from_json(data)
    except (TypeError, ValueError) as error:
        raise SettingsError(f"{where} ({_describe(settings)}): {error}") from None


def expand(spec: dict) -> list[Point]:
    """Every point of a normalised spec, validated, in order (listed points outer, grid axes in
    the order given, the last fastest); raises SettingsError for a bad point or a duplicate."""
    spec = normalise_spec(spec)
    axes = list(spec["grid"].items())
    combos = [dict(zip([k for k, _ in axes], values))
              for values in itertools.product(*[v for _, v in axes])]
    points, seen = [], {}
    for i, listed in enumerate(spec["points"] or [{}]):
        for combo in combos:
            settings = _overlay(_overlay(spec["base"], listed), combo)
            where = f"sweep point {len(points) + 1}"
            config = config_of(settings, where)
            point = Point(run_name(config), config)
            if point.name in seen:
                raise SettingsError(f"{where} ({_describe(settings)}) is the same run as sweep "
                                    f"point {seen[point.name] + 1}; every point must differ")
            seen[point.name] = len(points)
            points.append(point)
    return points


def point_from_settings(settings: dict, where: str) -> Point:
    """A point rebuilt from the settings sweep.json keeps for it."""
    config = config_of(_settings(settings, where), where)
    return Point(run_name(config), config)
