#!/usr/bin/python3
"""Mitogen's figures for the local method, the comparison of DESIGN.md s.9.

Run with Debian's python3 and python3-mitogen (0.3.3). Prints key=value lines:
  mitogen_rtt_us    Context.call(echo, 64-byte str) round trip, median of batches
  mitogen_start_ms  router.local() until it returns, median over fresh contexts
  mitogen_mib_s     Context.call(sink, 1 MiB bytes), median of batches

Usage: mitogen_bench.py [rtt_calls] [starts] [mib_calls]

echo and sink live in this module: Mitogen serves the __main__ module's
source to its children, so they can import and run them.
"""
import statistics
import sys
import time

import mitogen.core
import mitogen.master
import mitogen.utils


def echo(s):
    return s


def sink(b):
    return len(b)


def _arg(i, default):
    return int(sys.argv[i]) if len(sys.argv) > i else default


def bench_rtt(router, calls, batch=200):
    ctx = router.local(name="rtt")
    s = "x" * 64
    for _ in range(200):  # warm-up (also loads the module in the child)
        assert ctx.call(echo, s) == s
    per_batch = []
    done = 0
    while done < calls:
        t0 = time.perf_counter()
        for _ in range(batch):
            ctx.call(echo, s)
        per_batch.append((time.perf_counter() - t0) * 1e6 / batch)
        done += batch
    ctx.shutdown(wait=True)
    return per_batch


def bench_start(router, starts):
    ms = []
    for i in range(starts):
        t0 = time.perf_counter()
        ctx = router.local(name="start.%d" % i)
        ms.append((time.perf_counter() - t0) * 1e3)
        ctx.shutdown(wait=True)
    return ms


def bench_mib(router, calls, batch=5):
    ctx = router.local(name="sink")
    data = b"y" * (1024 * 1024)
    for _ in range(3):  # warm-up
        assert ctx.call(sink, data) == len(data)
    per_batch = []
    done = 0
    while done < calls:
        t0 = time.perf_counter()
        for _ in range(batch):
            ctx.call(sink, data)
        per_batch.append(batch / (time.perf_counter() - t0))
        done += batch
    ctx.shutdown(wait=True)
    return per_batch


def main(router):
    rtt_calls = _arg(1, 2000)
    starts = _arg(2, 10)
    mib_calls = _arg(3, 20)
    rtt = bench_rtt(router, rtt_calls)
    print("mitogen_rtt_us=%.3f" % statistics.median(rtt))
    print("mitogen_rtt_min_us=%.3f" % min(rtt))
    print("mitogen_rtt_calls=%d" % rtt_calls)
    start = bench_start(router, starts)
    print("mitogen_start_ms=%.3f" % statistics.median(start))
    print("mitogen_start_min_ms=%.3f" % min(start))
    print("mitogen_starts=%d" % starts)
    mib = bench_mib(router, mib_calls)
    print("mitogen_mib_s=%.1f" % statistics.median(mib))
    print("mitogen_version=%s" % ".".join(str(x) for x in mitogen.__version__))
    sys.stdout.flush()


if __name__ == "__main__":
    mitogen.utils.run_with_router(main)
