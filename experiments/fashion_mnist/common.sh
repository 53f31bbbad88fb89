# Sourced by the Fashion-MNIST scripts (after they set `here`): the repository root, the data
# check and the evonas binary (EVONAS, or a release build of this checkout).
root="$(cd "$here/../.." && pwd)"
data="${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
if [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
  echo "Fashion-MNIST not found in $data; install it with: sudo apt-get install dataset-fashion-mnist (or set FASHION_MNIST to its folder)" >&2
  exit 1
fi
if [ -z "${EVONAS:-}" ]; then
  cargo build --release --manifest-path "$root/Cargo.toml"
fi
evonas="${EVONAS:-$root/target/release/evonas}"
