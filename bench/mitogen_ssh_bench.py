#!/usr/bin/python3
"""Mitogen's figures for the ssh method, the comparison of bench/run.sh ssh.

Run with Debian's python3 and python3-mitogen (0.3.3). Mitogen's ssh()
runs the OpenSSH client (/usr/bin/ssh) and boots a Python interpreter on
the target from what it sends; it keeps no cache there. Prints key=value
lines.

  mitogen_ssh_bench.py loopback PORT KEY KNOWN_HOSTS [starts] [rtt_calls]
    mitogen_start_ms   router.ssh() until it returns, median over fresh contexts
    mitogen_rtt_us     Context.call(echo, 64-byte str) over one ssh hop
    mitogen_rtt2_us    the same over two hops (the second via= the first)

  mitogen_ssh_bench.py fanout KEY KNOWN_HOSTS REPEATS HOST...
    mitogen_fanout<N>_ms  router.ssh() to N hosts at once (one thread each),
                          then one call on each; median of REPEATS

echo lives in this module: Mitogen serves the __main__ module's source to
its children, so they can import and run it.
"""
import os
import sys
import threading
import time

import mitogen.core
import mitogen.master
import mitogen.utils

PYTHON = ["/usr/bin/python3"]


def echo(s):
    return s


def ssh_kwargs(host, port, key, known_hosts):
    # check_host_keys='enforce' (StrictHostKeyChecking yes) against the
    # bench's known_hosts, as our runs and the OpenSSH runs do. Mitogen's
    # other defaults stay (ssh -o Compression yes, keepalives every 15 s).
    return dict(hostname=host, port=port, username="root", identity_file=key,
                check_host_keys="enforce",
                ssh_args=["-o", "UserKnownHostsFile=" + known_hosts,
                          "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"],
                python_path=PYTHON)


def loopback(router, args):
    port, key, kh = int(args[0]), args[1], args[2]
    starts = bench_util.int_arg(args, 3, 10)
    rtt_calls = bench_util.int_arg(args, 4, 2000)
    kw = ssh_kwargs("127.0.0.1", port, key, kh)

    first = router.ssh(name="warm", **kw)  # untimed: first use of everything
    assert first.call(echo, "w") == "w"

    ms = bench_util.start_ms(starts, lambda i: router.ssh(name="start.%d" % i, **kw))
    bench_util.print_median_min("mitogen_start", "ms", ms)
    print("mitogen_starts=%d" % starts)

    rtt = bench_util.rtt_batches(first, echo, rtt_calls)
    bench_util.print_median_min("mitogen_rtt", "us", rtt)
    second = router.ssh(name="hop2", via=first, **kw)
    rtt2 = bench_util.rtt_batches(second, echo, rtt_calls)
    bench_util.print_median_min("mitogen_rtt2", "us", rtt2)
    print("mitogen_rtt_calls=%d" % rtt_calls)
    second.shutdown(wait=True)
    first.shutdown(wait=True)


def fanout(router, args):
    key, kh, repeats, hosts = args[0], args[1], int(args[2]), args[3:]
    s = "f" * 64

    def one(host, i, out):
        try:
            ctx = router.ssh(name="fan.%d.%s" % (i, host), **ssh_kwargs(host, 22, key, kh))
            out[i] = ctx
        except Exception as e:  # reported below
            out[i] = e

    ms = []
    for r in range(repeats):
        t0 = time.perf_counter()
        ctxs = [None] * len(hosts)
        threads = [threading.Thread(target=one, args=(h, i, ctxs))
                   for i, h in enumerate(hosts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in ctxs:
            if isinstance(c, Exception):
                raise c
        recvs = [c.call_async(echo, s) for c in ctxs]
        for rv in recvs:
            assert rv.get().unpickle() == s
        ms.append((time.perf_counter() - t0) * 1e3)
        for c in ctxs:
            c.shutdown(wait=True)
    bench_util.print_median_min("mitogen_fanout%d" % len(hosts), "ms", ms)


def main(router):
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "loopback":
        loopback(router, args)
    elif mode == "fanout":
        fanout(router, args)
    else:
        raise SystemExit("usage: mitogen_ssh_bench.py loopback|fanout ...")
    print("mitogen_version=%s" % ".".join(str(x) for x in mitogen.__version__))
    sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    # Imported only here: Mitogen serves this module's source to its
    # children cut at this guard, so they never import (or fetch) it.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_util
    mitogen.utils.run_with_router(main)
