# Sourced by check.sh and train.sh on the device machine: node on PATH (the machine's own if
# it is >= 20, else the carried one), node_modules unpacked from .devcarry, $OUT ready.
OUT=${OUT:-/tmp/hexa-gpu-out}
mkdir -p "$OUT"
unxz_to_stdout() {
  if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
if command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  :
elif [ -x /tmp/hexa-node/bin/node ]; then
  export PATH=/tmp/hexa-node/bin:$PATH
elif [ -s .devcarry/node.xz ]; then
  mkdir -p /tmp/hexa-node/bin && unxz_to_stdout .devcarry/node.xz > /tmp/hexa-node/bin/node && chmod +x /tmp/hexa-node/bin/node
  export PATH=/tmp/hexa-node/bin:$PATH
else
  echo "gpu: no node >= 20 here and no .devcarry/node.xz: run scripts/gpu/pack.sh and carry .devcarry" >&2
  exit 3
fi
for part in build test; do
  if [ ! -f "node_modules/.hexa-$part" ] && [ -s ".devcarry/nm-$part.tar.xz" ]; then
    unxz_to_stdout ".devcarry/nm-$part.tar.xz" | tar -xf - && touch "node_modules/.hexa-$part"
  fi
done
