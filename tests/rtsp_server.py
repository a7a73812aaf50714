#!/usr/bin/env python3
"""A tiny live H.264 RTSP server on loopback, for the test suite.

Run with the *system* Python (``/usr/bin/python3``), which has PyGObject and
the GStreamer RTSP server typelib; the project venv does not::

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --mount /night

Once the server is listening it prints ``READY rtsp://127.0.0.1:PORT/MOUNT``
on stdout.  It exits 0 on SIGTERM/SIGINT, and with EXIT_BIND_FAILED (3) and
a message on stderr when it cannot listen on the port (e.g. it is taken).

``tests/rtsp.py`` drives this script; see ``RtspServer`` there.
"""
from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

HOST = "127.0.0.1"
# Distinct from argparse's 2 so the driver can tell "port taken" from a bug.
EXIT_BIND_FAILED = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    p.add_argument("--mount", default="/night", help="mount point, e.g. /night")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=int, default=30)
    args = p.parse_args(argv)
    if not args.mount.startswith("/"):
        args.mount = "/" + args.mount
    if not 0 < args.port < 65536:
        p.error(f"--port {args.port}: out of range")
    if min(args.width, args.height, args.fps) <= 0:
        p.error("--width, --height and --fps must be positive")
    return args


def launch_line(width: int, height: int, fps: int) -> str:
    """The gst-launch description of the media every client gets."""
    # key-int-max=fps: a keyframe every second, so a client that (re)connects
    # mid-stream can start decoding within a second instead of waiting for
    # x264's default 250-frame GOP.
    return (
        "( videotestsrc is-live=true "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; return the process exit status."""
    args = parse_args(argv)
    Gst.init(None)

    server = GstRtspServer.RTSPServer()
    server.set_address(HOST)
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.width, args.height, args.fps))
    # Shared: every client reads the same running pipeline, so several readers
    # (and a reader that reconnects) do not each spawn an encoder.
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)

    loop = GLib.MainLoop()
    # attach() binds the listening socket (GstRtspServer sets SO_REUSEADDR, so
    # a restart on the same port is not blocked by TIME_WAIT) and returns 0
    # when it cannot, e.g. the port is already in use.
    try:
        source_id = server.attach(None)
    except GLib.Error as exc:
        print(f"rtsp_server: cannot listen on {HOST}:{args.port}: {exc.message}",
              file=sys.stderr, flush=True)
        return EXIT_BIND_FAILED
    if source_id == 0:
        print(f"rtsp_server: cannot listen on {HOST}:{args.port} (port in use?)",
              file=sys.stderr, flush=True)
        return EXIT_BIND_FAILED

    def on_signal(*_: object) -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    # GLib's unix signal sources run the handler inside the main loop; a plain
    # Python signal handler would not run while loop.run() blocks in C.
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, on_signal)

    print(f"READY rtsp://{HOST}:{server.get_bound_port()}{args.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
