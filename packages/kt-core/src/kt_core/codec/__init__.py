"""kt_core's codec: the wire formats of both servers, with no I/O.

The scanners (``_scan``: the C module ``_ktcodec`` through ``_scan_c``, or the pure twin
``_scan_pure``), the buffer the readers work on (``reader``), and one module per protocol holding
its command table, request encoders, reply readers and the stand-ins' request parsers and reply
encoders (``tyrant``, ``kyoto_binary``, ``kyoto_http``, plus ``kyoto_lists``, ``kyoto_repl`` and
``tyrant_repl``). Encoders return bytes; readers are fed bytes. Nothing here imports ``socket``,
``select``, ``asyncio`` or ``threading``.
"""
