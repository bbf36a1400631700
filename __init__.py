"""ovdemo: video analytics demos on OpenVINO.

`ovdemo.load(model, **options)` gives a predictor callable on BGR images, with `stream(source)` for video;
see `ovdemo.api`. Importing ovdemo alone loads nothing heavy.
"""

__version__ = "0.1.0"
__all__ = ["Predictor", "load"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'ovdemo' has no attribute {name!r}")
