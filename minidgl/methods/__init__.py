"""Training methods by name: unimodal, joint, uniform, dgl, ogm-ge, ogm, mmpareto."""
from ..errors import InvalidType, InvalidValue
from ..routing import Routing
from .base import Method
from .dgl import DGL
from .joint import Joint, Uniform, Unimodal
from .mmpareto import MMPareto
from .ogm_ge import OGM, OGMGE

METHODS = {"joint": Joint, "uniform": Uniform, "dgl": DGL, "unimodal": Unimodal, "ogm-ge": OGMGE, "ogm": OGM,
           "mmpareto": MMPareto}


def get_method(method, **options):
    """A `Method` from a name (`"dgl"`, `"unimodal:audio"`, ...), a `Routing`, or a `Method` (returned as is).

    `options` go to the method's constructor, e.g. `get_method("dgl", alpha=4)`.
    """
    if isinstance(method, Method):
        return method
    if isinstance(method, Routing):
        return Method(method, **options)
    if not isinstance(method, str):
        raise InvalidType(f"method must be a name, a Routing or a Method, got {type(method).__name__}")
    name, _, modality = method.partition(":")
    if name not in METHODS:
        raise InvalidValue(f"unknown method '{method}'; choose one of {sorted(METHODS)} "
                           f"(unimodal as 'unimodal:<modality>')")
    if name == "unimodal":
        if not modality and "modality" not in options:
            raise InvalidValue("unimodal training needs a modality: write 'unimodal:<modality>', e.g. 'unimodal:audio'")
        return Unimodal(modality or options["modality"])
    if modality:
        raise InvalidValue(f"only unimodal takes a ':<modality>' suffix, got '{method}'")
    return METHODS[name](**options)


__all__ = ["DGL", "METHODS", "MMPareto", "OGM", "OGMGE", "Joint", "Method", "Uniform", "Unimodal", "get_method"]
