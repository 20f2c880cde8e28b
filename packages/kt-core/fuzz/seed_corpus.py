"""Write a fuzz seed corpus from testdata/vectors: every recorded request and response frame, and each
HTTP response body alone (TSV, for kt_decode_tsv). Usage: python seed_corpus.py DIR"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors"


def seeds() -> list[bytes]:
    out: list[bytes] = []
    for name in ("kt-binary.json", "kt-http.json", "tt-binary.json"):
        for vec in json.loads((VECTORS / name).read_text()):
            for field in ("request_hex", "response_hex"):
                if vec.get(field):
                    out.append(bytes.fromhex(vec[field]))
            resp = bytes.fromhex(vec.get("response_hex") or "")
            if resp.startswith(b"HTTP/1.") and b"\r\n\r\n" in resp:
                out.append(resp.split(b"\r\n\r\n", 1)[1])
    return out


def main() -> None:
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    n = 0
    for data in seeds():
        (target / hashlib.sha1(data).hexdigest()).write_bytes(data)
        n += 1
    print(f"{n} seeds -> {target}")


if __name__ == "__main__":
    main()
