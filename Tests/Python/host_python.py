"""Describes the interpreter that runs this script as the files an image would need to run it elsewhere: the real
binary behind it (not a venv's link), its standard library and extension modules (without what a function never
uses: the test suite, IDLE, tkinter, the C headers, pip's bootstrap, caches), and the installed files of the
distributions named as arguments with everything they require, from this interpreter's site-packages. Prints one
JSON object on stdout; the test support code (AlbatrossTestKit's TestImages) lays the files out.

{"version": "3.11", "executable": "/usr/bin/python3.11",
 "stdlib": {"root": "/usr/lib/python3.11", "files": [["os.py", 420], ...]},
 "dynload": {"root": "/usr/lib/python3.11/lib-dynload", "files": [["_ssl.cpython-311-x86_64-linux-gnu.so", 420]]},
 "packages": {"root": ".../site-packages", "files": [["awslambdaric/__init__.py", 420], ...]}}

Every mode is the host file's permission bits.
"""
import importlib.metadata
import json
import os
import re
import stat
import sys
import sysconfig

# Top-level parts of the standard library no Lambda function needs.
PRUNED_TOP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "distutils", "venv",
              "unittest", "site-packages", "dist-packages", "lib-dynload"}
# Extension modules of the test suite, of terminals and of old databases.
PRUNED_EXTENSIONS = ("_test", "_ctypes_test", "xx", "_xx", "_curses", "readline", "_dbm", "nis", "ossaudiodev")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode) & 0o755


def walk(root, keep_top=lambda name: True):
    files = []
    for directory, subdirectories, names in os.walk(root):
        relative = os.path.relpath(directory, root)
        if relative == ".":
            subdirectories[:] = [name for name in subdirectories if keep_top(name)]
        subdirectories[:] = sorted(name for name in subdirectories if name not in ("__pycache__", "test", "tests"))
        for name in sorted(names):
            if relative == "." and not keep_top(name):
                continue
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                files.append([os.path.normpath(os.path.join(relative, name)), mode(path)])
    return files


def distribution_files(names):
    """The files of `names` and of every distribution they require (extras left out), relative to site-packages."""
    seen = set()
    pending = list(names)
    files = {}
    root = None
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        distribution = importlib.metadata.distribution(name)
        for requirement in distribution.requires or []:
            if "extra ==" in requirement:
                continue
            pending.append(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))
        for file in distribution.files or []:
            parts = file.parts
            if parts[0] == ".." or "__pycache__" in parts or "tests" in parts:
                continue
            if parts[0].endswith(".dist-info"):
                continue
            path = str(file.locate())
            base = path[: -len(str(file))].rstrip("/")
            root = root or base
            if base == root and os.path.isfile(path):
                files[str(file)] = mode(path)
    return {"root": root, "files": sorted([name, bits] for name, bits in files.items())}


def main():
    version = "%d.%d" % sys.version_info[:2]
    stdlib = sysconfig.get_path("stdlib")
    dynload = sysconfig.get_config_var("DESTSHARED") or os.path.join(sysconfig.get_path("platstdlib"), "lib-dynload")
    extensions = [item for item in walk(dynload) if not item[0].startswith(PRUNED_EXTENSIONS)]

    def keep_top(name):
        return name not in PRUNED_TOP and not name.startswith("config-")

    print(json.dumps({
        "version": version,
        "executable": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        "stdlib": {"root": stdlib, "files": walk(stdlib, keep_top)},
        "dynload": {"root": dynload, "files": extensions},
        "packages": distribution_files(sys.argv[1:]),
    }))


main()
