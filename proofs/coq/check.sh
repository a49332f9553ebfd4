#!/usr/bin/env bash
# Machine-check the Coq model of the tileos capability system.
#
#   bash proofs/coq/check.sh
#
# 1. installs Debian `coq` if `coqc` is missing;
# 2. rejects any .v file that uses Admitted, admit, Axiom, Parameter,
#    Conjecture or Hypothesis (comments excluded);
# 3. compiles every .v file here in dependency order (in a scratch
#    directory, so no build products land in the repository);
# 4. runs `Print Assumptions` on each main theorem and fails unless Coq
#    answers "Closed under the global context".
# Prints one line per theorem checked.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib=Tileos

# Main theorems (fully qualified); see README.md.
THEOREMS=(
  Invariants.reachable_inv
  Invariants.step_inv
  Theorems.rights_never_grow
  Theorems.rights_never_grow_desc
  Theorems.revoke_complete
  Theorems.revoke_frame
  Theorems.no_overlap
  Badges.badges_stable
  KernelInvariants.kstep_inv
  KernelInvariants.kreachable_inv
  KernelTheorems.krights_never_grow
  KernelTheorems.kbadges_stable
  KernelTheorems.krevoke_frame
  KernelTheorems.krevoke_complete
  KernelTheorems.revoke_destroys_own_cnode
  KernelObjects.kstep_kobj
  KernelObjects.kno_overlap
  KernelObjects.boot_disjoint_two
  KernelErrors.kstep_code_ok
  KernelErrors.kstep_code_err
  KernelErrors.kerror_delete_first
  KernelErrors.kerror_rotate_invalid
  KernelErrors.kerror_range
  KernelErrors.kerror_retype_delete_first
  KernelErrors.kerror_retype_not_enough_memory
  KernelErrors.kerror_bind_lost
  KernelMap.kmstep_op_ok
  KernelMap.kmstep_op_err
  KernelMap.kmap_frame_auth
  KernelMap.kunmap_frame_shrinks
  KernelMap.kmerror_alignment
  KernelMap.kmerror_invalid_capability
  KernelMap.kmerror_map_delete_first
  KernelMap.kmerror_map_illegal
  KernelMap.kmerror_map_deletion_in_progress
  KernelMap.kmstep_table_derive_refused
  KernelMap.kmap_table_auth
  KernelMap.kunmap_table_shrinks
  KernelMap.kmerror_table_revoke_first
  KernelMap.kmerror_table_delete_first
  KernelMap.kmerror_table_illegal
  KernelMap.kmap_frame_covered
  KernelMapAuthority.kmconfinement_step
  KernelMapAuthority.kmconfinement_run
  KernelDeletion.kunit_progress
  KernelDeletion.kdelete_step_progress
  KernelDeletion.krevoke_step_progress
  KernelDeletion.kdecr_wf
  KernelDeletion.kerror_deletion_in_progress
  KernelDeletion.kerror_deletion_in_progress_refused
  KernelDeletion.preempted_deletion_example
  KernelDeletion.nested_deletion_example
  Authority.transfer_within
  Authority.root_eqv
  KernelInvariants.kbind_root_kinv
  Examples.tile_bind_revoke
  Authority.confinement_step
  Authority.confinement_run
  Authority.confinement
  Authority.wfb_sound
  Authority.withinb_sound
  Examples.tile_within
  Examples.tile_confined
  IoSpace.io_confinement_step
  IoSpace.io_confinement_run
  IoSpace.io_confinement
  IoSpace.delete_last_unmaps
  IoSpace.io_unmap_frame
  IoSpace.io_issue_child
  IoSpace.io_revoke_control
  Examples.io_within
  Examples.io_confined
  Mapping.minv_step
  Mapping.minv_run
  Mapping.mapping_frames_backed
  Mapping.mapping_tables_backed
  Mapping.thread_mappings_backed
)

start=$(date +%s)

if ! command -v coqc >/dev/null 2>&1; then
  echo "check.sh: coqc not found, installing Debian coq" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq coq >&2
fi
echo "coq: $(coqc --version | head -n 1)"

shopt -s nullglob
files=("$here"/*.v)
if [ "${#files[@]}" -eq 0 ]; then echo "check.sh: no .v files" >&2; exit 1; fi

# --- forbidden commands -------------------------------------------------
bad=0
for f in "${files[@]}"; do
  # strip (non-nested) comments, then look for the forbidden words
  hits=$(perl -0777 -pe 's/\(\*.*?\*\)/ /gs' "$f" |
         grep -nwE 'Admitted|admit|Axiom|Axioms|Parameter|Parameters|Conjecture|Hypothesis|Hypotheses' || true)
  if [ -n "$hits" ]; then
    echo "FAIL $(basename "$f"): forbidden command:" >&2
    echo "$hits" >&2
    bad=1
  fi
done
[ "$bad" -eq 0 ] || exit 1

# --- compile in dependency order ------------------------------------------
work="$(mktemp -d /tmp/tileos-coq.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cp "${files[@]}" "$work"/
cd "$work"
order=$(coqdep -Q . "$lib" -sort ./*.v)
for f in $order; do
  f="${f#./}"
  if ! coqc -Q . "$lib" "$f" >"$work/out.log" 2>&1; then
    echo "FAIL compile $f" >&2
    cat "$work/out.log" >&2
    exit 1
  fi
done
echo "compiled: $(echo $order | sed 's#\./##g')"

# --- assumptions of each main theorem ---------------------------------------
imports=$(for f in $order; do b="$(basename "$f" .v)"; printf '%s ' "$b"; done)
fail=0
for t in "${THEOREMS[@]}"; do
  printf 'From %s Require Import %s.\nPrint Assumptions %s.%s.\n' "$lib" "$imports" "$lib" "$t" > pa.v
  out=$(coqc -Q . "$lib" pa.v 2>&1 || true)
  norm=$(echo "$out" | tr -s '[:space:]' ' ' | sed 's/^ //; s/ $//')
  if [ "$norm" = "Closed under the global context" ]; then
    echo "ok   $t: Closed under the global context"
  else
    echo "FAIL $t: $norm"
    fail=1
  fi
done

echo "time: $(( $(date +%s) - start ))s"
[ "$fail" -eq 0 ] || { echo "check.sh: FAILED" >&2; exit 1; }
echo "check.sh: all theorems checked"
