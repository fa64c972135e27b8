#!/usr/bin/env bash
# Seeds the fuzz corpora (git-ignored fuzz/corpus/<target>/) from the
# committed test vectors and, when present, the shared GDeflate vectors
# ($DS_SHARED_DIR, else ../../shared relative to this folder):
# - decode_stream: every .gdef stream (valid and corrupt);
# - decode_tile: every tile payload of those streams, prefixed with its
#   uncompressed size as the target expects (3 bytes, little-endian);
# - roundtrip: the committed originals (first byte = level selector).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="${DS_SHARED_DIR:-$here/../../shared}/gdeflate/vectors"
vectors="$here/../gdeflate/tests/vectors"
# The decode corpora are rebuilt from scratch each time (inputs the fuzzer
# found earlier are dropped; crash inputs live in artifacts/ and, once
# fixed, in gdeflate/tests/fuzz_regressions).
rm -rf "$here/corpus/decode_stream" "$here/corpus/decode_tile"
mkdir -p "$here/corpus/decode_stream" "$here/corpus/decode_tile" "$here/corpus/roundtrip"

streams=("$vectors"/*.gdef)
if [ -d "$shared" ]; then
  # Streams up to 64 KiB (every reference level and corrupt case of the
  # small originals): big seeds slow every execution down.
  while IFS= read -r f; do streams+=("$f"); done < <(find "$shared/gdef" "$shared/corrupt" -name '*.gdef' -size -65k | sort)
else
  echo "seed-corpus: no shared vectors at $shared; using committed vectors only"
fi
for f in "${streams[@]}"; do
  cp "$f" "$here/corpus/decode_stream/$(basename "$(dirname "$f")")_$(basename "$f")"
done

# Tile payloads with their sizes (python3 is on every CI image here).
python3 - "$here/corpus/decode_tile" "${streams[@]}" <<'PY'
import os, struct, sys
out = sys.argv[1]
for path in sys.argv[2:]:
    d = open(path, "rb").read()
    if len(d) < 8 or d[0] != 4 or d[1] != 0xFB:
        continue
    n = struct.unpack_from("<H", d, 2)[0]
    w2 = struct.unpack_from("<I", d, 4)[0]
    last = (w2 >> 2) & 0x3FFFF
    start = 8 + 4 * n
    if n == 0 or len(d) < start:
        continue
    t = [struct.unpack_from("<I", d, 8 + 4 * i)[0] for i in range(n)]
    offs = [0] + t[1:]
    for i in range(min(n, 2)):
        end = offs[i + 1] if i + 1 < n else offs[i] + t[0]
        if not (offs[i] <= end <= len(d) - start):
            break
        size = 65536 if (i + 1 < n or last == 0) else last
        name = f"{os.path.basename(path)}.t{i}"
        with open(os.path.join(out, name), "wb") as f:
            f.write(struct.pack("<I", size)[:3] + d[start + offs[i]:start + end])
PY

for f in "$vectors"/*.bin; do
  { printf '\x09'; head -c 65536 "$f"; } > "$here/corpus/roundtrip/$(basename "$f")"
done
echo "seed-corpus: $(ls "$here/corpus/decode_stream" | wc -l) streams, $(ls "$here/corpus/decode_tile" | wc -l) tiles, $(ls "$here/corpus/roundtrip" | wc -l) originals"
