"""Where models and sample videos come from, remembered between shells.

`make demo` runs with OVDEMO_MODELS_DIR / OVDEMO_SAMPLES_DIR pointing at local folders (../shared when it exists),
but those variables live only inside make: the next shell would download everything again (or fail offline). So
`make demo` writes the folders it used into `$OVDEMO_HOME/config.toml` (`python -m ovdemo.common.settings`), and
every lookup reads them from there when neither the option (`--models-dir`) nor the variable is given:

    models_dir = "/path/to/models"
    samples_dir = "/path/to/videos"
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path

from .errors import DemoError

MODELS_ENV, SAMPLES_ENV = "OVDEMO_MODELS_DIR", "OVDEMO_SAMPLES_DIR"
KEYS = {"models_dir": MODELS_ENV, "samples_dir": SAMPLES_ENV}


def ovdemo_home() -> Path:
    """The folder ovdemo keeps its downloads, caches and settings in."""
    return Path(os.environ.get("OVDEMO_HOME") or "~/.cache/ovdemo").expanduser()


def config_path() -> Path:
    return ovdemo_home() / "config.toml"


def remembered() -> dict[str, str]:
    """The settings file's folders ({} when there is none)."""
    path = config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise DemoError(f"cannot read the settings file {path}: {e}",
                        'fix it (models_dir = "FOLDER", samples_dir = "FOLDER") or delete it') from None
    return {key: data[key] for key in KEYS if isinstance(data.get(key), str) and data[key]}


def folder(key: str, option: str | Path | None = None) -> Path | None:
    """`models_dir` or `samples_dir`: the option, else its environment variable, else the settings file."""
    value = option or os.environ.get(KEYS[key]) or remembered().get(key)
    return Path(value).expanduser() if value else None


def remember(folders: dict[str, str]) -> Path:
    """Write these folders (absolute) into the settings file, keeping the ones not given; returns its path."""
    kept = {**remembered(), **{key: str(Path(value).expanduser().resolve()) for key, value in folders.items()}}
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # a JSON string is a TOML basic string: quotes, backslashes and control characters escaped alike
    text = "# written by `make demo`: the folders ovdemo reads models and sample videos from when neither\n" \
           "# --models-dir nor OVDEMO_MODELS_DIR / OVDEMO_SAMPLES_DIR is given\n" + \
           "".join(f"{key} = {json.dumps(value)}\n" for key, value in kept.items())
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)  # never half a file
    return path


def main() -> int:
    """Remember the folders OVDEMO_MODELS_DIR and OVDEMO_SAMPLES_DIR name now (those set and existing)."""
    given = {key: os.environ[env] for key, env in KEYS.items() if os.environ.get(env) and Path(
        os.environ[env]).expanduser().is_dir()}
    if not given:
        return 0
    try:
        path = remember(given)
    except (OSError, DemoError) as e:
        print(f"could not remember the models and samples folders: {e}", file=sys.stderr)
        return 2
    print(f"remembered in {path}: {', '.join(f'{k} {v}' for k, v in remembered().items())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
