#!/usr/bin/env bash
# Builds tileos-coq-step: Kernel.v's step function with the error codes of
# KernelErrors.v and the frame mappings of KernelMap.v (kmstep) extracted to OCaml, with the line-format
# driver (driver.ml).
#
#   bash proofs/coq/extract/build.sh OUTDIR     -> OUTDIR/tileos-coq-step
#
# Needs coqc (Debian coq) and ocamlopt (Debian ocaml); `make deps` installs
# them. Works in a scratch directory; takes about 10 s.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUTDIR}"
for tool in coqc ocamlopt; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build.sh: $tool not found (make deps installs the Debian packages coq and ocaml)" >&2; exit 1; }
done
mkdir -p "$out"
work="$(mktemp -d /tmp/tileos-coq-extract.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cp "$here/../Model.v" "$here/../Kernel.v" "$here/../KernelErrors.v" "$here/../KernelMap.v" "$here/Extract.v" "$here/driver.ml" "$work"/
cd "$work"
coqc -Q . Tileos Model.v
coqc -Q . Tileos Kernel.v
coqc -Q . Tileos KernelErrors.v
coqc -Q . Tileos KernelMap.v
coqc -Q . Tileos Extract.v
# -w -a: the extracted code has unused bindings by construction.
ocamlopt -w -a kernel_model.mli kernel_model.ml driver.ml -o tileos-coq-step
cp tileos-coq-step "$out/tileos-coq-step"
