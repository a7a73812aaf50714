#!/usr/bin/env python3
"""The RTSP output's server process: GStreamer's RTSP server fed raw RGB frames on stdin.

Run by :class:`pipeline.streaming.rtsp_out.RtspSink` with the *system* Python, which has
PyGObject and the GStreamer RTSP server typelib (``python3-gi``,
``gir1.2-gst-rtsp-server-1.0``); it imports nothing from the project, nor numpy. Protocol:
raw ``width * height * 3`` RGB frames on stdin, back to back; ``READY rtsp://...`` on stdout
once listening, then ``CLIENTS n`` each time a client connects or goes; exit 3 with one line on stderr when the port cannot be bound, 4 when a
GStreamer part is missing; end of stdin ends the server.

Every client reads one shared pipeline (``appsrc`` → x264 ``zerolatency`` → RTP), so clients
do not each cost an encoder. The appsrc is leaky: when the encoder or the network falls
behind, the oldest queued frame is dropped, never the caller's.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

EXIT_BIND_FAILED = 3
EXIT_MISSING = 4


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mount", default="/live")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--bitrate", type=int, default=4000, help="kbit/s")
    args = p.parse_args(argv)
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as exc:
        print(f"missing python3-gi or gir1.2-gst-rtsp-server-1.0 ({exc})", file=sys.stderr)
        return EXIT_MISSING
    Gst.init(None)
    missing = [e for e in ("appsrc", "videoconvert", "x264enc", "rtph264pay")
               if Gst.ElementFactory.find(e) is None]
    if missing:
        print(f"missing GStreamer elements {', '.join(missing)} (gstreamer1.0-plugins-base, "
              "-good, -ugly)", file=sys.stderr)
        return EXIT_MISSING
    frame_bytes = args.width * args.height * 3
    caps = (f"video/x-raw,format=RGB,width={args.width},height={args.height},"
            f"framerate={args.fps}/1")
    launch = (f"( appsrc name=src is-live=true format=time do-timestamp=true block=false "
              f"max-buffers=2 leaky-type=downstream caps={caps} ! videoconvert "
              f"! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast "
              f"key-int-max={args.fps} bitrate={args.bitrate} "
              f"! rtph264pay name=pay0 pt=96 config-interval=1 )")
    sources: list = []
    lock = threading.Lock()

    def configured(_factory: object, media: object) -> None:
        src = media.get_element().get_child_by_name("src")  # type: ignore[attr-defined]
        with lock:
            sources.append(src)

        def unprepared(*_: object) -> None:
            with lock:
                if src in sources:
                    sources.remove(src)
        media.connect("unprepared", unprepared)  # type: ignore[attr-defined]

    clients: set = set()

    def client_connected(_server: object, client: object) -> None:
        def closed(*_: object) -> None:
            clients.discard(client)
            print(f"CLIENTS {len(clients)}", flush=True)
        clients.add(client)
        client.connect("closed", closed)  # type: ignore[attr-defined]
        print(f"CLIENTS {len(clients)}", flush=True)

    server = GstRtspServer.RTSPServer()
    server.connect("client-connected", client_connected)
    server.set_address(args.host)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    factory.connect("media-configure", configured)
    server.get_mount_points().add_factory(args.mount, factory)
    try:
        source_id = server.attach(None)
    except GLib.Error as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.message}", file=sys.stderr)
        return EXIT_BIND_FAILED
    if source_id == 0:
        print(f"cannot listen on {args.host}:{args.port} (port in use?)", file=sys.stderr)
        return EXIT_BIND_FAILED
    loop = GLib.MainLoop()

    def feed() -> None:
        stdin = sys.stdin.buffer
        while True:
            data = stdin.read(frame_bytes)
            if len(data) < frame_bytes:
                break  # end of stream: the pipeline closed the sink
            with lock:
                targets = list(sources)
            for src in targets:
                src.emit("push-buffer", Gst.Buffer.new_wrapped(data))
        GLib.idle_add(loop.quit)

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, lambda *_: loop.quit() or False)
    threading.Thread(target=feed, daemon=True).start()
    print(f"READY rtsp://{args.host}:{server.get_bound_port()}{args.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
