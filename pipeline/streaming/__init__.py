"""The live stream and the file-to-file run: capture → enhance → write, one thread per stage.

Sources (``sources``: files, image folders, RTSP with reconnection, V4L2/CSI cameras), sinks
(``sinks``: MP4/MKV with audio copied, image frames, a window), the frame type (``frame``), the
runner that joins the stages with bounded queues (``runner.Pipeline``) and the live statistics
(``stats``). Entry point: ``run_stream.py`` → :func:`pipeline.streaming.cli.main`
(console script ``nocturne-stream``).
"""
