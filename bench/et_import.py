"""Time and memory of loading the ExecuTorch runtime, with and without the compiler package.

    .venv/bin/python bench/et_import.py normal      # `from executorch.runtime import Runtime`
    .venv/bin/python bench/et_import.py stand-in    # runtime.executorch_backend.import_runtime

Run each in a fresh process (the figure is the import); prints seconds to import and
Runtime.get(), whether torch._dynamo and executorch.exir were loaded, and the peak RSS.
"""

import resource
import sys
import time
import warnings

warnings.simplefilter("ignore")
start = time.perf_counter()
if sys.argv[1:] == ["stand-in"]:
    from echo_edge.runtime.executorch_backend import import_runtime

    Runtime = import_runtime()
else:
    from executorch.runtime import Runtime
Runtime.get()
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
loaded = [m for m in ("torch._dynamo", "executorch.exir") if m in sys.modules]
print(f"{sys.argv[1:] or ['normal']}: {seconds:.2f} s, peak RSS {rss:.0f} MB, loaded {loaded}")
