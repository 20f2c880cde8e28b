"""kt_core's I/O layer: everything that moves bytes.

The blocking connection, its pool and the client runner built on them (``connection``, ``pool``,
``pooled``), the retry policy, the pipeline's send/receive loop, and the asyncio connection, pool
and runner (``aio_connection``, ``aio_pooled``, ``aio_tasks``). Only this folder imports ``socket``,
``threading`` or ``asyncio``. It speaks through the sans-I/O readers of ``kt_core.codec`` and runs
the commands of ``kt_core.command``.
"""
