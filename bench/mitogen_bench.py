#!/usr/bin/python3
"""Mitogen's figures for the local method, the comparison in docs/benchmarks.md.

Run with Debian's python3 and python3-mitogen (0.3.3). Prints key=value lines:
  mitogen_rtt_us    Context.call(echo, 64-byte str) round trip, median of batches
  mitogen_start_ms  router.local() until it returns, median over fresh contexts
  mitogen_mib_s     Context.call(sink, 1 MiB bytes), median of batches

Usage: mitogen_bench.py [rtt_calls] [starts] [mib_calls]

echo and sink live in this module: Mitogen serves the __main__ module's
source to its children, so they can import and run them.
"""
import os
import statistics
import sys

import mitogen.core
import mitogen.master
import mitogen.utils


def echo(s):
    return s


def sink(b):
    return len(b)


def bench_rtt(router, calls):
    ctx = router.local(name="rtt")
    per_batch = bench_util.rtt_batches(ctx, echo, calls)
    ctx.shutdown(wait=True)
    return per_batch


def bench_mib(router, calls, batch=5):
    ctx = router.local(name="sink")
    data = b"y" * (1024 * 1024)
    per_batch = bench_util.call_batches(ctx, sink, data, len(data), calls, batch,
                                        3, bench_util.per_second)  # 3 warm-up calls
    ctx.shutdown(wait=True)
    return per_batch


def main(router):
    rtt_calls = bench_util.int_arg(sys.argv, 1, 2000)
    starts = bench_util.int_arg(sys.argv, 2, 10)
    mib_calls = bench_util.int_arg(sys.argv, 3, 20)
    rtt = bench_rtt(router, rtt_calls)
    bench_util.print_median_min("mitogen_rtt", "us", rtt)
    print("mitogen_rtt_calls=%d" % rtt_calls)
    start = bench_util.start_ms(starts, lambda i: router.local(name="start.%d" % i))
    bench_util.print_median_min("mitogen_start", "ms", start)
    print("mitogen_starts=%d" % starts)
    mib = bench_mib(router, mib_calls)
    print("mitogen_mib_s=%.1f" % statistics.median(mib))
    print("mitogen_version=%s" % ".".join(str(x) for x in mitogen.__version__))
    sys.stdout.flush()


if __name__ == "__main__":
    # Imported only here: Mitogen serves this module's source to its
    # children cut at this guard, so they never import (or fetch) it.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_util
    mitogen.utils.run_with_router(main)
