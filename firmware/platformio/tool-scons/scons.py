"""SCons entry point for PlatformIO, run from the PyPI `scons` package instead of PlatformIO's registry.

PlatformIO starts its build by running `<python> <core_dir>/packages/tool-scons/scons.py` with the Python
that runs PlatformIO itself. The registry's tool-scons bundles a copy of SCons next to this file; edgekit
installs SCons from PyPI into that same Python (`pip install edgekit[platformio]`), so this launcher only
imports it. Nothing here touches the network.
"""
import sys

try:
    import SCons.Script
except ImportError:
    sys.stderr.write(
        "Error: SCons is not installed in %s; install it with `%s -m pip install scons` "
        "(or `pip install edgekit[platformio]`)\n" % (sys.executable, sys.executable)
    )
    sys.exit(2)

if __name__ == "__main__":
    SCons.Script.main()
