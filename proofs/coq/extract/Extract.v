(** Extraction of [KernelMap.kmstep] ([Kernel.kstep] with the code of a
    refusal, [KernelErrors.kstep_code], and the kernel's frame map and unmap
    around it) to OCaml, for the refinement test
    (proofs/model-checker/tests/refinement.rs, via driver.ml).

    Trusted, beyond Coq's extraction itself: [nat] becomes OCaml's 63-bit
    [int] (ExtrOcamlNatInt; every number in the test is far below 2^62) and
    [Nat.div] becomes OCaml's division (guarded for a zero divisor, which
    Coq defines as 0), under both of its names: the model's [/] is
    [PeanoNat.Nat.div], which the [Init.Nat.div] realisation alone did not
    reach (the division then ran in unary, in time linear in its operand).
    Likewise [PeanoNat.Nat.mul] (OCaml's multiplication) and
    [PeanoNat.Nat.pow] (repeated OCaml multiplication): [KernelMap.v]'s
    [2 ^ 47] in unary overflowed the stack. *)
From Coq Require Import Extraction ExtrOcamlBasic ExtrOcamlNatInt PeanoNat.
From Tileos Require Import Model Kernel KernelErrors KernelMap.

Extraction Language OCaml.
Extract Constant Nat.div => "(fun x y -> if y = 0 then 0 else x / y)".
Extract Constant PeanoNat.Nat.div => "(fun x y -> if y = 0 then 0 else x / y)".
Extract Constant PeanoNat.Nat.mul => "( * )".
Extract Constant PeanoNat.Nat.pow => "(fun b e -> let rec p e = if e <= 0 then 1 else b * p (e - 1) in p e)".
Extraction "kernel_model.ml" kmstep.
