"""nst: Gatys, Ecker & Bethge (CVPR 2016) neural style transfer in TensorFlow 2.

    import nst
    result = nst.transfer("photo.jpg", "painting.jpg", image_size=256)
    result.image    # HxWx3 uint8 array
    result.record   # the run's record, the dict the `nst` command writes as JSON
    new_style = nst.combine_scales("coarse.jpg", "fine.jpg", image_size=256).image

Options have the `nst` command's flag names and defaults (`nst.PRESETS`); bad input
raises `nst.UserError` with the command's one-line message and, in `.option`, the
name of the option it is about. TensorFlow is imported on the first run, not by
`import nst`.
"""

from nst.config import DEFAULT_PRESET, OPTIONS, PRESETS
from nst.errors import UserError
from nst.runs.combined import combine_scales
from nst.runs.plan import Result, RunError, transfer

__all__ = ["transfer", "combine_scales", "Result", "UserError", "RunError", "PRESETS",
           "OPTIONS", "DEFAULT_PRESET"]
