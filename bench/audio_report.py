"""The tables bench/audio_fanout.py prints: the sweep, the fit (fixed cost a, cost per listener-packet b) and
the recording windows."""

from __future__ import annotations

import numpy as np
from audio_load import RECORD_MODES, percentile


def fit(points: list[dict]) -> tuple[float, float]:
    """Least squares of CPU (core fraction) against listeners: returns (a, b per listener)."""
    n = np.array([p["n"] for p in points], dtype=float)
    cpu = np.array([p["server"]["cpu"] / p["server"]["wall"] for p in points])
    if len(points) < 2:
        return float(cpu[0]) if len(cpu) else float("nan"), float("nan")
    b, a = np.polyfit(n, cpu, 1)
    return float(a), float(b)


def report_recording(results: dict) -> None:
    """--record: a room's CPU with recording off, on, and on with a declined voice, windows in turn."""
    print("\nRecording (13 speakers, 3 probe listeners; windows alternate off / record / declined):")
    print(f"{'mode':>9} {'process cpu% (median of windows)':>40} {'tick CPU µs':>12} {'recording µs/tick':>18}")
    base_cpu = base_tick = 0.0
    for mode in RECORD_MODES:
        windows = results["recording"][mode]
        cpus = [w["cpu"] / w["wall"] * 100 for w in windows]
        tick = float(np.median([w["tick_cpu_ms_mean"] for w in windows])) * 1000
        tap = float(np.median([w["tap_cpu_us_per_tick"] for w in windows]))
        cpu = float(np.median(cpus))
        if mode == "off":
            base_cpu, base_tick = cpu, tick
        shown = f"{cpu:.2f} ({' '.join(f'{c:.1f}' for c in cpus)})"
        print(f"{mode:>9} {shown:>40} {tick:>12.1f} {tap:>18.2f}   = {tap * 50 / 1e4:.3f}% of a core")
    print(
        f"  process CPU and tick CPU move with the machine's other load; the last column is the recording's own "
        f"CPU (media.recorder.RoomTap.tick), per 20 ms tick, and what 50 ticks a second cost. Base: {base_cpu:.2f}% "
        f"of a core, {base_tick:.0f} µs a tick, in the same run."
    )


def report(results: dict) -> None:
    packets_per_second = 50.0
    print("\nEngine (shared Opus packets, RTP+SRTP+sendto loop):")
    print(f"{'N':>6} {'cpu%':>6} {'delivered':>10} {'gaps':>6} {'silent':>6} {'tick p50 ms wall/cpu':>20} "
          f"{'pacing p99 ms srv/cli':>22} {'latency p50/p95 ms':>19} {'server p50/p95':>14} "
          f"{'join ms cpu gross/net':>21} {'join MB':>8}")  # fmt: skip
    all_latency: list[float] = []
    all_mixer: list[float] = []
    joins_cpu, joins_net, joins_mem = [], [], []
    previous_rate = None
    for p in results["engine"]:
        s = p["server"]
        delivered = p["received"] / p["expected"] if p["expected"] else float("nan")
        lat = p["latency_ms"]
        all_latency += lat
        mixer = p["mixer_latency_ms"]
        all_mixer += mixer
        j = p["join"]
        rate = s["cpu"] / s["wall"]
        join_ms = join_net = join_mb = float("nan")
        if j["new"] > 0:
            cpu = j["after"]["cpu"] - j["before"]["cpu"]
            join_ms = cpu / j["new"] * 1000
            # Net: without the fan-out that kept running for the listeners already in the room while
            # the new ones joined (the room's CPU rate, taken halfway between the two windows).
            running = (rate + (previous_rate if previous_rate is not None else rate)) / 2
            join_net = (cpu - running * (j["after"]["wall"] - j["before"]["wall"])) / j["new"] * 1000
            join_mb = (j["after"]["rss"] - j["before"]["rss"]) / j["new"] / 2**20
            joins_cpu.append(join_ms)
            joins_net.append(join_net)
            joins_mem.append(join_mb)
        previous_rate = rate
        print(
            f"{p['n']:>6} {s['cpu'] / s['wall'] * 100:>6.1f} {delivered:>10.4f} {p['gaps']:>6} "
            f"{p['silent_listeners']:>6} {s['tick_ms_p50']:>11.2f} / {s['tick_cpu_ms_p50']:>6.2f} "
            f"{s['pacing_p99_ms']:>10.2f} / {p['client_pacing_p99_ms']:>9.2f} "
            f"{percentile(lat, 50):>9.1f} / {percentile(lat, 95):>7.1f} "
            f"{percentile(mixer, 50):>6.1f} / {percentile(mixer, 95):>5.1f} {join_ms:>11.2f} / {join_net:>7.2f} "
            f"{join_mb:>8.3f}"
        )
    a, b = fit(results["engine"])
    per_packet_us = b / packets_per_second * 1e6
    per_core = (0.70 - a) / b if b > 0 else float("inf")
    print("\nStock aiortc (an encoder per RTCRtpSender, frames relayed):")
    for p in results["stock"]:
        s = p["server"]
        delivered = p["received"] / p["expected"] if p["expected"] else float("nan")
        print(f"{p['n']:>6} {s['cpu'] / s['wall'] * 100:>6.1f} {delivered:>10.4f} {p['gaps']:>6}")
    stock_a, stock_b = fit(results["stock"]) if len(results["stock"]) > 1 else (float("nan"), float("nan"))
    stock_us = stock_b / packets_per_second * 1e6
    print("\nSummary")
    print(f"  µs per listener-packet (b)          {per_packet_us:8.2f}   (stock aiortc: {stock_us:.1f}, "
          f"{stock_us / per_packet_us:.0f}x)")  # fmt: skip
    tick_points = [(p["n"], p["server"]["tick_cpu_ms_p50"]) for p in results["engine"]]
    if len(tick_points) > 1:
        tick_b, tick_a = np.polyfit(*zip(*tick_points, strict=True), 1)
        print(f"    of which in the tick (fan-out)    {tick_b * 1000:8.2f}   (tick CPU at N=0: {tick_a:.2f} ms)")
    print(f"  listeners per core at 70% CPU       {per_core:8.0f}   (stock: {(0.7 - stock_a) / stock_b:.0f})")
    print(f"  room fixed cost (a)                 {a * 100:8.2f} % of a core (13 speakers)")
    print(
        f"  added latency p50 / p95             {percentile(all_latency, 50):8.1f} / "
        f"{percentile(all_latency, 95):.1f} ms ({len(all_latency)} bursts, speaker to listener)"
    )
    print(f"  through the server p50 / p95        {percentile(all_mixer, 50):8.1f} / "
          f"{percentile(all_mixer, 95):.1f} ms ({len(all_mixer)} bursts, speaker to server send)")  # fmt: skip
    print(f"  join CPU per listener (median)      {np.median(joins_cpu) if joins_cpu else float('nan'):8.2f} ms "
          f"({np.median(joins_net) if joins_net else float('nan'):.2f} ms net of the running fan-out)")  # fmt: skip
    print(f"  memory per listener (median)        {np.median(joins_mem) if joins_mem else float('nan'):8.3f} MB")
