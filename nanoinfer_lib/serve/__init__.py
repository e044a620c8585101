"""The OpenAI-compatible HTTP server on the serving ``Engine`` (``python -m nanoinfer_lib.serve``).

- ``protocol``: a completion request checked into token ids and ``SamplingParams``; the response
  bodies, stream chunks and errors in OpenAI's shape;
- ``engine_loop``: one thread steps the one ``Engine`` that every request shares;
- ``app``: the Starlette app (``/v1/completions``, ``/v1/models``, ``/health``, ``/stats``);
- ``__main__``: the command line (uvicorn);
- ``background``: the server in a process of its own, for notebooks, tests and benchmarks.

Importing this package imports no web framework: ``app`` and ``__main__`` need the ``serve`` extra
(``pip install "nanoinfer_lib[serve]"``), and ``background_server`` only starts the command.
"""
from .background import BackgroundServer, background_server, free_port

__all__ = ["BackgroundServer", "background_server", "free_port"]
