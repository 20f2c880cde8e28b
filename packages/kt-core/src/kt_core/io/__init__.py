"""kt_core's asyncio layer: the asyncio connection and pool, and the runner of the asyncio clients.

The only part of kt_core that imports ``asyncio``. It speaks through the same sans-I/O readers
(kt_core.reader) and runs the same commands (kt_core.command) as the blocking connection.
"""
