"""The memory bench's measure of a process tree: summed RSS and summed PSS."""
import os
import sys

from benchmarks.bench_memory import peak_tree_rss


def test_the_tree_s_pss_is_counted_and_no_more_than_its_summed_rss():
    # A parent and a forked child touching 60 MB each: both measures see them, and PSS never exceeds RSS.
    script = ("import os, time\nx = bytearray(60_000_000)\nx[::4096] = b'1' * len(x[::4096])\n"
              "pid = os.fork()\ny = bytearray(60_000_000)\ny[::4096] = b'2' * len(y[::4096])\ntime.sleep(0.6)\n"
              "os._exit(0) if pid == 0 else os.waitpid(pid, 0)\nprint('done')\n")
    code, _seconds, summed_rss, largest, summed_pss, text = peak_tree_rss([sys.executable, "-c", script], dict(os.environ))
    assert code == 0 and text.strip() == "done"
    assert summed_pss > 150  # the parent's 120 MB and the child's own 60 MB, its shared 60 MB split in two
    assert summed_pss <= summed_rss + 1
    assert summed_rss >= largest  # (largest: wait4's high-water mark, which a forked pytest's own RSS can set)
