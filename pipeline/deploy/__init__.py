"""Models onto the target: ONNX export, TensorRT engine build and runtime, engine sidecars.

``export`` writes a model's frame graph (uint8 in → uint8 out) and checks it against ONNX
Runtime; ``trt`` builds TensorRT engines (FP32/FP16/INT8 with calibration) and runs them with
pinned buffers and async transfers (``TrtRunner``); ``engine_info`` names engine files and reads
and writes the sidecar JSON that says how each was built. Built files go to the repository's
``engines/`` folder, not here. Entry point: ``build_engine.py`` →
:func:`pipeline.deploy.cli.main` (console script ``nocturne-build-engine``).
"""
