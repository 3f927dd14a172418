from setuptools import setup
setup(cffi_modules=["native/bisuna_c/build_ffi.py:ffibuilder"])
