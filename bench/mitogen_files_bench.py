#!/usr/bin/python3
"""Mitogen's figure for small files, the comparison of bench/run.sh files.

Run with Debian's python3 and python3-mitogen (0.3.3). Writes 1,000 files of
1 KiB in 10 directories (as mitosis-bench-files does), registers them with
Mitogen's FileService in the master, and times one call in the target that
fetches every file with FileService.get() (Ansible's way of moving files)
into a part file it then renames. Prints key=value lines.

  mitogen_files_bench.py local WORKDIR
    mitogen_small1000_local_ms   to a local child
  mitogen_files_bench.py ssh HOST PORT KEY KNOWN_HOSTS WORKDIR
    mitogen_small1000_ms         over one ssh hop
"""
import os
import sys
import time

import mitogen.core
import mitogen.master
import mitogen.service
import mitogen.utils

PYTHON = ["/usr/bin/python3"]


def fetch_tree(ctx, paths, src_root, dst_root):
    # Runs in the target: every file through the master's FileService.
    import mitogen.service as service
    for p in paths:
        out = dst_root + p[len(src_root):]
        d = os.path.dirname(out)
        if not os.path.isdir(d):
            os.makedirs(d)
        tmp = out + ".part"
        with open(tmp, "wb") as fp:
            ok, _ = service.FileService.get(ctx, p, fp)
        if not ok:
            raise RuntimeError("transfer of %s interrupted" % p)
        os.rename(tmp, out)
    return len(paths)


def make_tree(root):
    paths = []
    kib = bytearray(b"k" * 1024)
    for d in range(10):
        sub = os.path.join(root, "d%d" % d)
        os.makedirs(sub, exist_ok=True)
        for f in range(100):
            kib[0], kib[1] = f, d
            p = os.path.join(sub, "f%d" % f)
            with open(p, "wb") as fp:
                fp.write(kib)
            paths.append(p)
    return paths


def run(router, ctx, work, key):
    src = os.path.join(work, "mitogen-small")
    paths = make_tree(src)
    fs = mitogen.service.FileService(router)
    pool = mitogen.service.Pool(router, services=[fs])
    try:
        for p in paths:
            fs.register(p)
        me = router.myself()
        # Untimed: the first call imports mitogen.service in the target.
        ctx.call(fetch_tree, me, paths[:1], src, os.path.join(work, "mitogen-warm"))
        t = time.monotonic()
        n = ctx.call(fetch_tree, me, paths, src, os.path.join(work, "mitogen-small.out"))
        ms = (time.monotonic() - t) * 1000.0
        assert n == 1000
        print("%s=%.1f" % (key, ms))
        sys.stdout.flush()
    finally:
        pool.stop()


def main(router):
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "local":
        ctx = router.local(name="files", python_path=PYTHON)
        run(router, ctx, args[0], "mitogen_small1000_local_ms")
    elif mode == "ssh":
        host, port, key, kh, work = args[0], int(args[1]), args[2], args[3], args[4]
        ctx = router.ssh(hostname=host, port=port, username="root", identity_file=key,
                         check_host_keys="enforce",
                         ssh_args=["-o", "UserKnownHostsFile=" + kh,
                                   "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"],
                         python_path=PYTHON)
        run(router, ctx, work, "mitogen_small1000_ms")
    else:
        sys.exit("usage: mitogen_files_bench.py local WORKDIR | ssh HOST PORT KEY KH WORKDIR")


if __name__ == "__main__":
    mitogen.utils.run_with_router(main)
