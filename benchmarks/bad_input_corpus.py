"""How much of the hostile-input corpus (tests/bad_input_corpus.py) ends cleanly, by class.

Each case runs in a forked child under a memory limit (``--mem-mib``, address space) and a time
limit, so a hang or a runaway read on an old checkout is counted, not suffered. Goal: every case
clean. Run against any checkout::

    PYTHONPATH=src python benchmarks/bad_input_corpus.py [--failures]
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/bad_input_corpus.py
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bad_input_corpus import Case, cases, run_case  # noqa: E402


def _in_child(case: Case, mem_bytes: int) -> tuple[bool, str]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: limits, the case, one line back
        os.close(read)
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
        tmp = Path(tempfile.mkdtemp())
        try:
            ok, why = run_case(case, tmp)
        except BaseException as e:  # noqa: BLE001 - the case's setup itself failed
            ok, why = False, f"crash: {type(e).__name__}"
        os.write(write, (("1" if ok else "0") + why.replace("\n", " "))[:500].encode())
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.005)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(read)
        return False, "killed after 20 s"
    answer = os.read(read, 1000).decode(errors="replace")
    os.close(read)
    if not answer:
        return False, f"child died (status {status})"
    return answer[0] == "1", answer[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", action="store_true", help="list every case that did not end cleanly")
    parser.add_argument("--mem-mib", type=int, default=1024, help="address-space limit per case")
    parser.add_argument("-k", default="", help="only cases whose id contains this")
    args = parser.parse_args()
    import llmsize.cli  # noqa: F401 - imported once, before the forks

    total, clean, failures = Counter(), Counter(), []
    for case in cases():
        if args.k not in case.id:
            continue
        ok, why = _in_child(case, args.mem_mib * 2**20)
        for tag in (*case.tags, "all"):
            total[tag] += 1
            clean[tag] += ok
        if not ok:
            failures.append((case.id, why))
    print(f"{'class':<8} {'cases':>6} {'clean':>6} {'fraction':>9}   goal 100%")
    for tag in ("config", "file", "option", "argv", "all"):
        if total[tag]:
            print(f"{tag:<8} {total[tag]:>6} {clean[tag]:>6} {clean[tag] / total[tag]:>9.1%}")
    if args.failures:
        for cid, why in failures:
            print(f"  {cid}: {why}")


if __name__ == "__main__":
    main()
