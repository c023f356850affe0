#!/usr/bin/env python3
"""cpu_of.py OUT COMMAND...: runs COMMAND (its output left as it is) and writes to OUT the user + system CPU
seconds it used (getrusage of the children this script waited for: COMMAND and whatever it waited for itself);
exits with COMMAND's status. The script's own start-up is not counted."""
import resource, subprocess, sys

out, command = sys.argv[1], sys.argv[2:]
status = subprocess.call(command)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as handle:
    handle.write(f"{usage.ru_utime + usage.ru_stime:.6f}\n")
sys.exit(status)
