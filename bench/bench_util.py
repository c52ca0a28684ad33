"""What the benchmark scripts share.

mitogen_bench.py and mitogen_ssh_bench.py (in the master process only: they
import this module below their __main__ guard, so the children Mitogen
serves their source to never ask for it): timed call batches and starts,
median/min key=value lines, numeric arguments.

bench/run.sh's reports (local and ssh): reading the rounds' key=value
output, the table and the JSON line.
"""
import json
import statistics
import sys
import time


# -- the Mitogen scripts -------------------------------------------------------

def int_arg(args, i, default):
    """args[i] as an int, or `default` when there are not that many."""
    return int(args[i]) if len(args) > i else default


def us_per_call(secs, batch):
    return secs * 1e6 / batch


def per_second(secs, batch):
    return batch / secs


def call_batches(ctx, fn, arg, expect, calls, batch, warmup, figure):
    """Calls ctx.call(fn, arg) `warmup` times, asserting that it returns
    `expect`, then (unchecked) in batches of `batch` calls until `calls` are
    done; returns figure(seconds, batch) of each batch."""
    for _ in range(warmup):
        assert ctx.call(fn, arg) == expect
    per_batch = []
    done = 0
    while done < calls:
        t0 = time.perf_counter()
        for _ in range(batch):
            ctx.call(fn, arg)
        per_batch.append(figure(time.perf_counter() - t0, batch))
        done += batch
    return per_batch


def rtt_batches(ctx, echo, calls, batch=200):
    """Microseconds per Context.call(echo, 64-byte str), one figure a batch,
    after 200 warm-up calls (which also load the module in the child)."""
    s = "x" * 64
    return call_batches(ctx, echo, s, s, calls, batch, 200, us_per_call)


def start_ms(starts, start):
    """Milliseconds until start(i) returns a context, for each i below
    `starts`; each context is shut down, untimed, before the next start."""
    ms = []
    for i in range(starts):
        t0 = time.perf_counter()
        ctx = start(i)
        ms.append((time.perf_counter() - t0) * 1e3)
        ctx.shutdown(wait=True)
    return ms


def print_median_min(name, unit, xs):
    """Prints NAME_UNIT=median and NAME_min_UNIT=min (each %.3f)."""
    print("%s_%s=%.3f" % (name, unit, statistics.median(xs)))
    print("%s_min_%s=%.3f" % (name, unit, min(xs)))


# -- bench/run.sh's reports -------------------------------------------------------

def read_rounds(paths):
    """Reads the key=value lines of the rounds' output files. Returns
    (samples, text, v): every numeric value of each key, the last value of
    each key as text, and each key's median (cpu_busy_pct: the worst round's).
    """
    samples = {}
    text = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                key, sep, val = line.strip().partition("=")
                if not sep:
                    continue
                text[key] = val
                try:
                    x = float(val)
                except ValueError:
                    continue  # e.g. mitogen_version
                samples.setdefault(key, []).append(x)
    v = {k: statistics.median(xs) for k, xs in samples.items()}
    v["cpu_busy_pct"] = max(samples["cpu_busy_pct"])  # the worst round
    return samples, text, v


def require(v, required):
    """Exits 1, naming them, when figures in `required` are missing from v."""
    missing = [k for k in required if k not in v]
    if missing:
        sys.stderr.write("bench: missing figures: %s\n" % ", ".join(missing))
        sys.exit(1)


def num(x):
    if x is None:
        return "-"
    if float(x).is_integer():
        return "%d" % x
    return "%.1f" % x if abs(x) >= 100 else "%.3g" % x


def print_table(rows):
    """Prints rows of (metric, ours, baseline, ratio, target, result)
    strings as columns under a header and a rule."""
    table = [("metric", "ours", "baseline", "ratio", "target", "result")] + rows
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def print_target_rows(rows):
    """Prints rows of (metric, ours, baseline name, baseline, ratio, target
    text, ok) as a table (baseline and ratio may be None) and returns the
    metrics whose target failed."""
    print_table([(name, num(ours),
                  "-" if base is None else "%s (%s)" % (num(base), bname),
                  "-" if ratio is None else "%.2fx" % ratio,
                  target, "pass" if ok else "FAIL")
                 for name, ours, bname, base, ratio, target, ok in rows])
    return [r[0] for r in rows if not r[6]]


def warn_if_busy(v, what="the wake-up-bound figures"):
    """Prints a warning when the CPUs were over 20 % busy before a round."""
    busy = v.get("cpu_busy_pct", 0.0)
    if busy > 20:
        print("warning: CPUs were up to %.0f%% busy before a round (%d cpus): other jobs "
              "skew %s; run again on a quiet machine" % (busy, v.get("cpus", 0), what))


def json_value(x):
    return int(x) if float(x).is_integer() else round(x, 3)


def print_json(result, rounds, pin, failed):
    """Prints `result` with rounds, pinned and targets_failed added, as one
    JSON line."""
    result["rounds"] = rounds
    result["pinned"] = 0 if pin == "none" else 1
    result["targets_failed"] = len(failed)
    print(json.dumps(result, separators=(",", ":")))
