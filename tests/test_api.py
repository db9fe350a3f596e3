import inspect

import ddvi_genomics
import ddvi_genomics.core


def test_import_star__names_exist_and_are_documented():
    namespace = {}
    exec("from ddvi_genomics import *", namespace)
    for name in ddvi_genomics.__all__:
        assert name in namespace, name
    for module in (ddvi_genomics, ddvi_genomics.core):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"


def test_public_methods_of_ddvi_are_documented():
    for name in ("fit", "encode", "sample", "elbo", "save", "load"):
        assert inspect.getdoc(getattr(ddvi_genomics.DDVI, name)), name
