(** * tileos capability system: the error codes of the kernel model

    [Kernel.kstep] refuses with [None], naming no reason. The kernel answers
    every refused invocation with an error code ([tileos_abi::InvocationError]).
    To compare codes in the refinement test, this file names the reason of a
    refused [kstep] with the kernel's code: [kerror_of] goes through the
    conditions of [kstep] in the order the kernel's decoder checks them
    (proofs/model-checker/src/op.rs, [decode]: the destination before the
    source for copy, mint, move and mutate; source, pivot, their equality,
    then the destination for rotate; the untyped, its type, the destination,
    then the room left for retype) and gives the code of the first that
    fails. [kstep_code] is [kstep] with that name on a refusal.

    Proved here: [kstep_code] accepts exactly when [kstep] does, with the
    same state ([kstep_code_ok], [kstep_code_err]), so every theorem about
    [kstep] holds of it; a DeleteFirst of copy, mint, move or mutate names a
    usable, occupied destination ([kerror_delete_first]); an
    InvalidArgument of rotate names a pivot equal to its source or
    destination, both source and pivot present ([kerror_rotate_invalid]).
    Not proved: that the code named is the kernel's; that is what the
    refinement test checks, operation by operation.

    What has no code of its own ([KUnnamed]): a refusal for a reason the
    kernel has no counterpart of (the next object id is in use, an object
    missing from [kobjs] while a capability names it; neither happens in a
    state the abstraction builds), and every refusal of [KSend], [KReply],
    [KBind], [KMap] and [KUnmap]: the kernel does those in its invocation
    and IPC layer, which the host test cannot run (docs/model-checker.md,
    "The refinement link"), so no code of theirs could be compared. *)

From Coq Require Import List Arith Bool.
Import ListNotations.
From Tileos Require Import Model Kernel.

(** The kernel's error codes that the compared operations can give (the
    names of [tileos_abi::InvocationError]), and [KUnnamed]. *)
Inductive kerror :=
| KFailedLookup
| KDeleteFirst
| KIllegalOperation
| KInvalidArgument
| KNotEnoughMemory
| KUnnamed.

(** A step's result with the refusal's code. *)
Inductive kresult :=
| KOk (st : kstate)
| KErr (e : kerror).

(** The slot is usable and empty: a destination; otherwise its code. *)
Definition dest_error (st : kstate) (t : nat) (d : slot) : option kerror :=
  if negb (usable st t d) then Some KFailedLookup
  else if negb (kempty st d) then Some KDeleteFirst
  else None.

(** The slot is usable and holds a capability: a source; otherwise its code. *)
Definition source_error (st : kstate) (t : nat) (s : slot) : option kerror :=
  if negb (usable st t s) then Some KFailedLookup
  else match lookup (kctes st) s with
       | Some _ => None
       | None => Some KFailedLookup
       end.

(** The first of two checks that fails. *)
Definition first_error (a : option kerror) (b : unit -> option kerror) : option kerror :=
  match a with Some e => Some e | None => b tt end.

Definition or_unnamed (e : option kerror) : kerror :=
  match e with Some e => e | None => KUnnamed end.

(** Why [kcreate] refuses destination [d]: not usable or occupied, no room
    left in the untyped (the kernel's [NotEnoughMemory]), or else unnamed. *)
Definition kcreate_error (st : kstate) (t : nat) (u : obj) (size : nat) (d : slot) : kerror :=
  match dest_error st t d with
  | Some e => e
  | None =>
      if negb (roundup (kwm st (o_id u)) size + size <=? o_size u) then KNotEnoughMemory
      else KUnnamed
  end.

(** Why [kretype_loop] refuses: the error of the first destination
    [kcreate] refuses, in the state the earlier ones left. *)
Fixpoint kretype_error (st : kstate) (t : nat) (x : cte) (u : obj)
         (ty : otype) (size : nat) (ds : list slot) : kerror :=
  match ds with
  | [] => KUnnamed
  | d :: ds' =>
      match kcreate st t x u ty size d with
      | Some st' => kretype_error st' t x u ty size ds'
      | None => kcreate_error st t u size d
      end
  end.

(** The code of a refusal of [o] in [st], in the kernel's order of checks
    (meaningful when [kstep st o = None]). *)
Definition kerror_of (st : kstate) (o : kop) : kerror :=
  match o with
  | KCopy t src dst =>
      or_unnamed (first_error (dest_error st t dst) (fun _ => first_error (source_error st t src) (fun _ =>
        match lookup (kctes st) src with
        | Some x => match derive (e_cap x) all_rights 0 with None => Some KIllegalOperation | Some _ => None end
        | None => None
        end)))
  | KMint t src dst r b =>
      or_unnamed (first_error (dest_error st t dst) (fun _ => first_error (source_error st t src) (fun _ =>
        match lookup (kctes st) src with
        | Some x => match derive (e_cap x) r b with None => Some KIllegalOperation | Some _ => None end
        | None => None
        end)))
  | KMove t src dst =>
      or_unnamed (first_error (dest_error st t dst) (fun _ => source_error st t src))
  | KMutate t src dst data =>
      or_unnamed (first_error (dest_error st t dst) (fun _ => first_error (source_error st t src) (fun _ =>
        match lookup (kctes st) src with
        | Some x => match kmutate (e_cap x) data with None => Some KIllegalOperation | Some _ => None end
        | None => None
        end)))
  | KRotate t src piv dst =>
      or_unnamed (first_error (source_error st t src) (fun _ => first_error (source_error st t piv) (fun _ =>
        if slot_eqb piv src || slot_eqb piv dst then Some KInvalidArgument
        else if slot_eqb dst src then None
        else dest_error st t dst)))
  | KDelete t s | KRevoke t s => if usable st t s then KUnnamed else KFailedLookup
  | KRetype t ut ty size dsts =>
      if negb (usable st t ut) then KFailedLookup
      else match lookup (kctes st) ut with
           | None => KFailedLookup
           | Some x =>
               if negb (otype_eqb (c_type (e_cap x)) Untyped) then KIllegalOperation
               else match find_obj (kobjs st) (c_obj (e_cap x)) with
                    | Some u =>
                        if otype_eqb (o_type u) Untyped then
                          let w := if has_child (kobjs st) (o_id u) then kwm st
                                   else upd (kwm st) (o_id u) 0 in
                          kretype_error (mkK (kobjs st) (kctes st) (klbl st) w
                                             (kmaps st) (kbind st) (knext_obj st) (knext_node st))
                                        t x u ty size dsts
                        else KUnnamed
                    | None => KUnnamed
                    end
           end
  | KSend _ _ _ _ _ _ | KReply _ _ _ _ _ _ | KBind _ _ _ | KMap _ _ _ _ | KUnmap _ _ _ => KUnnamed
  end.

(** [kstep] with the code of a refusal. *)
Definition kstep_code (st : kstate) (o : kop) : kresult :=
  match kstep st o with
  | Some st' => KOk st'
  | None => KErr (kerror_of st o)
  end.

(** [kstep_code] carries out exactly what [kstep] carries out. *)
Theorem kstep_code_ok : forall st o st',
  kstep_code st o = KOk st' <-> kstep st o = Some st'.
Proof.
  intros st o st'. unfold kstep_code.
  destruct (kstep st o) as [s|]; split; intro H; try discriminate.
  - inversion H; reflexivity.
  - inversion H; reflexivity.
Qed.

(** ... and refuses exactly what [kstep] refuses. *)
Theorem kstep_code_err : forall st o,
  (exists e, kstep_code st o = KErr e) <-> kstep st o = None.
Proof.
  intros st o. unfold kstep_code.
  destruct (kstep st o) as [s|]; split.
  - intros [e H]; discriminate.
  - intro H; discriminate.
  - intros _; reflexivity.
  - intros _; exists (kerror_of st o); reflexivity.
Qed.

(** ** Two codes name a condition that really fails
    Partial: only DeleteFirst of the one-destination operations and
    InvalidArgument of rotate are proved to name a failing condition; the
    other codes are checked by the refinement test only. *)

(** Destructs the innermost match or condition of hypothesis [H] until it
    is a contradiction or none is left. *)
Ltac crush H :=
  repeat (simpl in H; match type of H with
  | context[if ?b then _ else _] =>
      lazymatch b with context[match _ with _ => _ end] => fail | _ => let E := fresh "E" in destruct b eqn:E end
  | context[match ?x with _ => _ end] =>
      lazymatch x with context[match _ with _ => _ end] => fail | _ => let E := fresh "E" in destruct x eqn:E end
  end); try discriminate H.

(** A destination named occupied is usable and occupied. *)
Lemma dest_error_delete_first : forall st t d,
  dest_error st t d = Some KDeleteFirst -> usable st t d = true /\ kempty st d = false.
Proof.
  intros st t d H. unfold dest_error in H.
  destruct (usable st t d); destruct (kempty st d); simpl in H; try discriminate; auto.
Qed.

Lemma dest_error_lookup : forall st t d,
  dest_error st t d = Some KFailedLookup -> usable st t d = false.
Proof.
  intros st t d H. unfold dest_error in H.
  destruct (usable st t d); destruct (kempty st d); simpl in H; try discriminate; auto.
Qed.

Lemma source_error_only_lookup : forall st t s e,
  source_error st t s = Some e -> e = KFailedLookup /\ (usable st t s = false \/ lookup (kctes st) s = None).
Proof.
  intros st t s e H. unfold source_error in H.
  destruct (usable st t s) eqn:U; simpl in H.
  - destruct (lookup (kctes st) s) eqn:L; try discriminate. inversion H; auto.
  - inversion H; auto.
Qed.

Lemma dest_error_cases : forall st t d e,
  dest_error st t d = Some e ->
  (e = KFailedLookup /\ usable st t d = false) \/ (e = KDeleteFirst /\ usable st t d = true /\ kempty st d = false).
Proof.
  intros st t d e H. unfold dest_error in H.
  destruct (usable st t d); destruct (kempty st d); simpl in H; inversion H; auto.
Qed.

(** For the operations with one destination, DeleteFirst names an occupied, usable destination. *)
Theorem kerror_delete_first : forall st o t src dst,
  (o = KCopy t src dst \/ (exists r b, o = KMint t src dst r b) \/ o = KMove t src dst
   \/ (exists data, o = KMutate t src dst data)) ->
  kerror_of st o = KDeleteFirst -> usable st t dst = true /\ kempty st dst = false.
Proof.
  intros st o t src dst Ho H.
  destruct Ho as [-> | [[r [b ->]] | [-> | [data ->]]]]; simpl in H;
  unfold or_unnamed, first_error in H;
  destruct (dest_error st t dst) as [e|] eqn:D;
  try (subst; apply dest_error_delete_first; exact D);
  try (destruct (source_error st t src) as [e'|] eqn:S;
       [ apply source_error_only_lookup in S; destruct S as [-> _]; simpl in H; discriminate
       | crush H ]).
Qed.

(** A rotate refused with InvalidArgument names a pivot equal to its source
    or destination, after both source and pivot were found. *)
Theorem kerror_rotate_invalid : forall st t src piv dst,
  kerror_of st (KRotate t src piv dst) = KInvalidArgument ->
  (slot_eqb piv src || slot_eqb piv dst) = true
  /\ source_error st t src = None /\ source_error st t piv = None.
Proof.
  intros st t src piv dst H. simpl in H. unfold or_unnamed, first_error in H.
  destruct (source_error st t src) as [e|] eqn:S.
  - apply source_error_only_lookup in S; destruct S as [-> _]; discriminate.
  - destruct (source_error st t piv) as [e|] eqn:P.
    + apply source_error_only_lookup in P; destruct P as [-> _]; discriminate.
    + destruct (slot_eqb piv src || slot_eqb piv dst) eqn:Q; auto.
      destruct (slot_eqb dst src); try discriminate.
      destruct (dest_error st t dst) as [e|] eqn:D; try discriminate.
      apply dest_error_cases in D. destruct D as [[-> _] | [-> _]]; discriminate.
Qed.
