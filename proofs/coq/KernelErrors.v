(** * tileos capability system: the error codes of the kernel model

    [Kernel.kstep] refuses with [None], naming no reason. The kernel answers
    every refused invocation with an error code ([tileos_abi::InvocationError]).
    To compare codes in the refinement test, this file names the reason of a
    refused [kstep] with the kernel's code: [kerror_of] goes through the
    conditions of [kstep] in the order the kernel checks them
    (kernel/src/invoke/cnode.rs and untyped.rs; docs/abi.md's tables): for
    copy, mint, move and mutate the destination's lookup, the source (found
    and occupied), the destination's emptiness, then the derivation or the
    mutate's data; for rotate the destination's lookup, pivot and source,
    their distinctness, then the destination's emptiness; for retype the
    untyped, its type, each destination's CNode (live, in the thread's
    CSpace), each destination's index within that CNode (RangeError), the
    size and count ranges, the room for all the objects, then each
    destination's emptiness. It gives the code of the first that fails.
    [kstep_code] is [kstep] with that name on a refusal, and with the
    kernel's answer to the one operation [kstep] carries out that the kernel
    answers with an error ([kerror_after]: a [KBind] whose CSpace source the
    emptying of the TCB's root slot destroyed, InvalidCapability naming
    argument 1, [KErrAfter] with the changed state).
    proofs/model-checker/tests/decode_order.rs checks, by source text, that
    this order, the model checker's decoder's and the kernel's are the same.

    Proved here: [kstep_code] carries out (answering success or an error
    after the change) exactly when [kstep] does, with the same state, and
    refuses exactly when [kstep] does ([kstep_code_ok], [kstep_code_err]),
    so every theorem about [kstep] holds of it; an error after a change is
    only such a bind, with that code and argument, its TCB's root slot left
    empty ([kerror_bind_lost]); a DeleteFirst of copy, mint, move or mutate names a
    usable, occupied destination ([kerror_delete_first]); an
    InvalidArgument of rotate names a pivot equal to its source or
    destination, both source and pivot present ([kerror_rotate_invalid]); a
    RangeError is a retype with a destination index beyond its (live,
    reachable) CNode or a size or count out of the kernel's ranges
    ([retype_ok]), and [kstep] refuses it ([kerror_range]); a DeleteFirst of
    a retype has every destination usable and its ranges valid, and [kstep]
    refuses it ([kerror_retype_delete_first]); so has a NotEnoughMemory of a
    retype, and [kstep] refuses it ([kerror_retype_not_enough_memory]: the
    room for all the objects is the watermark the loop reaches,
    [kretype_loop_no_room]).
    Not proved: that the code named is the kernel's; that is what the
    refinement test checks, operation by operation.

    [DeletionInProgress] ([KDeletionInProgress], [zombie_error]) is named,
    as the kernel names it, for a zombie ([Kernel.v], "Preempted deletion")
    used as the source of a copy, mint, move or mutate (after the source's
    lookup, before the destination's emptiness), as a rotate's pivot or
    source (after both were found occupied, before their distinctness), as
    the target of a revoke or a one-unit revoke, or as a retype's untyped
    (before its type); [KernelDeletion.kerror_deletion_in_progress] proves
    that it names a slot holding a zombie.

    What has no code of its own ([KUnnamed]): a refusal for a reason the
    kernel has no counterpart of (the next object id is in use, an object
    missing from [kobjs] while a capability names it; neither happens in a
    state the abstraction builds), and every refusal of [KSend], [KReply],
    [KBind], [KMap] and [KUnmap]: the kernel refuses those in its system-call,
    TCB and IPC layers, which the host test does not run (it compares the
    capability changes of send, reply and bind, and their refusals only as
    refusals: docs/model-checker.md, "The refinement link"). The
    kernel's frame map and unmap are compared through [KernelMap.v]'s
    [KMapFrame] and [KUnmapFrame], which name their codes. *)

From Coq Require Import List Arith Bool Lia.
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
| KRangeError
| KUnnamed
| KDeletionInProgress
(** InvalidCapability naming argument [arg] (the kernel's [wrong_cap]:
    argument [i + 1] for extra capability [i]). *)
| KInvalidCapabilityArg (arg : nat).

(** A step's result with the refusal's code: carried out ([KOk]), refused
    with the state unchanged ([KErr]), or answered with an error after the
    state changed ([KErrAfter]: the kernel's TcbConfigure, which empties the
    TCB's slots before it finds its CSpace source gone, [kerror_after]). *)
Inductive kresult :=
| KOk (st : kstate)
| KErr (e : kerror)
| KErrAfter (e : kerror) (st : kstate).

(** The slot is usable and empty: a destination; otherwise its code. *)
Definition dest_error (st : kstate) (t : nat) (d : slot) : option kerror :=
  if negb (usable st t d) then Some KFailedLookup
  else if negb (kempty st d) then Some KDeleteFirst
  else None.

(** The slot is usable (the kernel's lookup of a slot argument), else FailedLookup. *)
Definition lookup_error (st : kstate) (t : nat) (s : slot) : option kerror :=
  if usable st t s then None else Some KFailedLookup.

(** The slot is empty, else DeleteFirst. *)
Definition empty_error (st : kstate) (d : slot) : option kerror :=
  if kempty st d then None else Some KDeleteFirst.

(** The slot is usable and holds a capability: a source; otherwise its code. *)
Definition source_error (st : kstate) (t : nat) (s : slot) : option kerror :=
  if negb (usable st t s) then Some KFailedLookup
  else match lookup (kctes st) s with
       | Some _ => None
       | None => Some KFailedLookup
       end.

(** The slot holds a zombie (a deletion in progress): DeletionInProgress,
    the kernel's answer to a use of it as a source ([source_slot] in
    kernel/src/invoke/cnode.rs), as a rotate's pivot or source, as the
    target of a revoke, or as the invoked capability. *)
Definition zombie_error (st : kstate) (s : slot) : option kerror :=
  match lookup (kctes st) s with
  | Some x => if is_zombie (e_cap x) then Some KDeletionInProgress else None
  | None => None
  end.

(** The first of two checks that fails. *)
Definition first_error (a : option kerror) (b : unit -> option kerror) : option kerror :=
  match a with Some e => Some e | None => b tt end.

Definition or_unnamed (e : option kerror) : kerror :=
  match e with Some e => e | None => KUnnamed end.

(** Why [kcreate] refuses destination [d], in the kernel's order
    (kernel/src/invoke/untyped.rs: the destination CNode's lookup, then
    [untyped::plan], then [ensure_empty]): not usable, no room left in the
    untyped (the kernel's [NotEnoughMemory]), occupied, or else unnamed. *)
Definition kcreate_error (st : kstate) (t : nat) (u : obj) (size : nat) (d : slot) : kerror :=
  if negb (usable st t d) then KFailedLookup
  else if negb (roundup (kwm st (o_id u)) size + size <=? o_size u) then KNotEnoughMemory
  else if negb (kempty st d) then KDeleteFirst
  else KUnnamed.

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

(** The CNode of destination [d] is live and in [t]'s CSpace: the kernel's
    lookup of a retype's destination CNode succeeds. Its index may still be
    beyond the CNode's slots ([slot_ok]), which the kernel answers with
    RangeError, not FailedLookup (kernel/src/invoke/untyped.rs: [offset >=
    slots || count > slots - offset]). *)
Definition dest_node_ok (st : kstate) (t : nat) (d : slot) : bool :=
  match root_of st t, find_obj (kobjs st) (fst d) with
  | Some r, Some o => reach st r (fst d) && otype_eqb (o_type o) CNodeObj
  | _, _ => false
  end.

(** The code of a refusal of [o] in [st], in the kernel's order of checks
    (meaningful when [kstep st o = None]). *)
Definition kerror_of (st : kstate) (o : kop) : kerror :=
  match o with
  | KCopy t src dst =>
      or_unnamed (first_error (lookup_error st t dst) (fun _ => first_error (source_error st t src) (fun _ =>
        first_error (zombie_error st src) (fun _ => first_error (empty_error st dst) (fun _ =>
        match lookup (kctes st) src with
        | Some x => match derive (e_cap x) all_rights 0 with None => Some KIllegalOperation | Some _ => None end
        | None => None
        end)))))
  | KMint t src dst r b =>
      or_unnamed (first_error (lookup_error st t dst) (fun _ => first_error (source_error st t src) (fun _ =>
        first_error (zombie_error st src) (fun _ => first_error (empty_error st dst) (fun _ =>
        match lookup (kctes st) src with
        | Some x => match derive (e_cap x) r b with None => Some KIllegalOperation | Some _ => None end
        | None => None
        end)))))
  | KMove t src dst =>
      or_unnamed (first_error (lookup_error st t dst) (fun _ => first_error (source_error st t src) (fun _ =>
        first_error (zombie_error st src) (fun _ => empty_error st dst))))
  | KMutate t src dst data =>
      or_unnamed (first_error (lookup_error st t dst) (fun _ => first_error (source_error st t src) (fun _ =>
        first_error (zombie_error st src) (fun _ => first_error (empty_error st dst) (fun _ =>
        match lookup (kctes st) src with
        | Some x => match kmutate (e_cap x) data with None => Some KIllegalOperation | Some _ => None end
        | None => None
        end)))))
  | KRotate t src piv dst =>
      or_unnamed (first_error (lookup_error st t dst) (fun _ =>
        first_error (source_error st t piv) (fun _ => first_error (source_error st t src) (fun _ =>
        first_error (zombie_error st piv) (fun _ => first_error (zombie_error st src) (fun _ =>
        if slot_eqb piv src || slot_eqb piv dst then Some KInvalidArgument
        else if slot_eqb dst src then None
        else dest_error st t dst))))))
  | KDelete t s => if usable st t s then KUnnamed else KFailedLookup
  | KRevoke t s | KRevokeStep t s =>
      if usable st t s then or_unnamed (zombie_error st s) else KFailedLookup
  | KDeleteStep t s => if usable st t s then KUnnamed else KFailedLookup
  | KRetype t ut ty size dsts =>
      if negb (usable st t ut) then KFailedLookup
      else match lookup (kctes st) ut with
           | None => KFailedLookup
           | Some x =>
               if is_zombie (e_cap x) then KDeletionInProgress else
               if negb (otype_eqb (c_type (e_cap x)) Untyped) then KIllegalOperation
               else if existsb (fun d => negb (dest_node_ok st t d)) dsts then KFailedLookup
               else if existsb (fun d => negb (usable st t d)) dsts then KRangeError
               else if negb (retype_ok ty size (length dsts)) then KRangeError
               else match find_obj (kobjs st) (c_obj (e_cap x)) with
                    | Some u =>
                        if otype_eqb (o_type u) Untyped then
                          let w := if has_child (kobjs st) (o_id u) then kwm st
                                   else upd (kwm st) (o_id u) 0 in
                          if negb (roundup (w (o_id u)) size + length dsts * size <=? o_size u)
                          then KNotEnoughMemory
                          else if existsb (fun d => negb (kempty st d)) dsts then KDeleteFirst
                          else kretype_error (mkK (kobjs st) (kctes st) (klbl st) w
                                                  (kmaps st) (kbind st) (knext_obj st) (knext_node st))
                                             t x u ty size dsts
                        else KUnnamed
                    | None => KUnnamed
                    end
           end
  | KSend _ _ _ _ _ _ | KReply _ _ _ _ _ _ | KBind _ _ _ | KMap _ _ _ _ | KUnmap _ _ _ => KUnnamed
  end.

(** The error the kernel answers after carrying out [o] (meaningful when
    [kstep st o <> None]): a [KBind] whose CSpace source the emptying of the
    TCB's root slot destroyed ([Kernel.kbind_lost]; [kstep] empties the
    slot and installs nothing) is answered InvalidCapability naming
    argument 1, the CSpace (kernel/src/invoke/tcb.rs: after [empty_slots],
    [transfer::changed_source] gives position 0, answered [wrong_cap(0)]).
    Every other operation [kstep] carries out is answered success. *)
Definition kerror_after (st : kstate) (o : kop) : option kerror :=
  match o with
  | KBind _ tcb cn =>
      match is_type st tcb TCBObj with
      | Some xt => if kbind_lost st (c_obj (e_cap xt)) cn then Some (KInvalidCapabilityArg 1) else None
      | None => None
      end
  | _ => None
  end.

(** [kstep] with the code of a refusal, and the error answered after a
    state change. *)
Definition kstep_code (st : kstate) (o : kop) : kresult :=
  match kstep st o with
  | Some st' =>
      match kerror_after st o with
      | Some e => KErrAfter e st'
      | None => KOk st'
      end
  | None => KErr (kerror_of st o)
  end.

(** [kstep_code] carries out exactly what [kstep] carries out (answering
    success, or an error after the change). *)
Theorem kstep_code_ok : forall st o st',
  (kstep_code st o = KOk st' \/ exists e, kstep_code st o = KErrAfter e st') <-> kstep st o = Some st'.
Proof.
  intros st o st'. unfold kstep_code.
  destruct (kstep st o) as [s|]; split.
  - destruct (kerror_after st o); intros [H|[e H]]; inversion H; reflexivity.
  - intro H; inversion H; subst s.
    destruct (kerror_after st o) as [e|]; [right; exists e|left]; reflexivity.
  - intros [H|[e H]]; discriminate.
  - intro H; discriminate.
Qed.

(** ... and refuses, the state unchanged, exactly what [kstep] refuses. *)
Theorem kstep_code_err : forall st o,
  (exists e, kstep_code st o = KErr e) <-> kstep st o = None.
Proof.
  intros st o. unfold kstep_code.
  destruct (kstep st o) as [s|]; split.
  - intros [e H]; destruct (kerror_after st o); discriminate.
  - intro H; discriminate.
  - intros _; reflexivity.
  - intros _; exists (kerror_of st o); reflexivity.
Qed.

Lemma collect_iter_kctes_sub : forall n st e, In e (kctes (collect_iter n st)) -> In e (kctes st).
Proof.
  induction n as [|n IH]; simpl; intros st e H; auto.
  apply IH in H; simpl in H; apply filter_In in H; tauto.
Qed.

(** An error after a state change is a bind whose CSpace source the
    emptying destroyed (or left holding no CNode capability), answered
    InvalidCapability naming argument 1; [kstep] carries it out, and the
    TCB's root slot is then empty: nothing was installed. *)
Theorem kerror_bind_lost : forall st o e st',
  kstep_code st o = KErrAfter e st' ->
  exists t tcb cn xt, o = KBind t tcb cn /\ is_type st tcb TCBObj = Some xt
    /\ kbind_lost st (c_obj (e_cap xt)) cn = true /\ e = KInvalidCapabilityArg 1
    /\ kstep st o = Some st' /\ lookup (kctes st') (tcb_root_slot (c_obj (e_cap xt))) = None.
Proof.
  intros st o e st' H. unfold kstep_code in H.
  destruct (kstep st o) as [s|] eqn:K; [|discriminate].
  destruct (kerror_after st o) as [e'|] eqn:A; [|discriminate].
  inversion H; subst e' s; clear H.
  destruct o as [t src dst|t src dst r b|t src dst|t src dst data|t src piv dst|t s|t s
                 |t ut ty size dsts|t ep src rcv rep dst|t ep src c cep dst|t tcb cn|t vs fr va|t vs va
                 |t s|t s];
    simpl in A; try discriminate.
  destruct (is_type st tcb TCBObj) as [xt|] eqn:T; [|discriminate].
  destruct (kbind_lost st (c_obj (e_cap xt)) cn) eqn:L; [|discriminate].
  inversion A; subst e; clear A.
  exists t, tcb, cn, xt; repeat split; auto.
  simpl in K. rewrite T in K.
  destruct (usable st t tcb && usable st t cn); [|discriminate].
  destruct (is_type st cn CNodeObj); [|discriminate].
  inversion K; subst st'; clear K.
  unfold kbind_lost in L. unfold kbind_root; simpl.
  set (l := kctes (collect (set_kctes st (remove_slot (tcb_root_slot (c_obj (e_cap xt))) (kctes st))))) in *.
  assert (N : lookup l (tcb_root_slot (c_obj (e_cap xt))) = None).
  { destruct (lookup l (tcb_root_slot (c_obj (e_cap xt)))) as [y|] eqn:Y; [|reflexivity].
    exfalso. unfold lookup in Y. apply find_some in Y. destruct Y as [Iy Sy].
    apply slot_eqb_true in Sy.
    unfold l, collect in Iy. apply collect_iter_kctes_sub in Iy. simpl in Iy.
    unfold remove_slot in Iy. apply filter_In in Iy. destruct Iy as [_ Ny].
    rewrite Sy, (proj2 (slot_eqb_true _ _) eq_refl) in Ny. discriminate. }
  destruct (lookup l cn) as [x|]; [|exact N].
  destruct (otype_eqb (c_type (e_cap x)) CNodeObj); [discriminate|exact N].
Qed.

(** ** Codes that name a condition that really fails
    Partial: only DeleteFirst (of the one-destination operations and of
    retype), InvalidArgument of rotate, RangeError and a retype's
    NotEnoughMemory (below) are proved to name a failing condition; the
    other codes (FailedLookup, IllegalOperation) are checked by the
    refinement test only. *)

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
  unfold or_unnamed, first_error, lookup_error, empty_error in H;
  destruct (usable st t dst) eqn:U; simpl in H; try discriminate;
  destruct (source_error st t src) as [e|] eqn:S;
  try (apply source_error_only_lookup in S; destruct S as [-> _]; discriminate);
  destruct (zombie_error st src) as [z|] eqn:Z;
  try (simpl in H; unfold zombie_error in Z; destruct (lookup (kctes st) src);
       [destruct (is_zombie _)|]; inversion Z; subst; discriminate);
  destruct (kempty st dst) eqn:E; simpl in H; auto; crush H.
Qed.

(** A rotate refused with InvalidArgument names a pivot equal to its source
    or destination, after both source and pivot were found. *)
Theorem kerror_rotate_invalid : forall st t src piv dst,
  kerror_of st (KRotate t src piv dst) = KInvalidArgument ->
  (slot_eqb piv src || slot_eqb piv dst) = true
  /\ source_error st t src = None /\ source_error st t piv = None.
Proof.
  intros st t src piv dst H. simpl in H. unfold or_unnamed, first_error, lookup_error in H.
  destruct (usable st t dst); simpl in H; [|discriminate].
  destruct (source_error st t piv) as [e|] eqn:P.
  - apply source_error_only_lookup in P; destruct P as [-> _]; discriminate.
  - destruct (source_error st t src) as [e|] eqn:S.
    + apply source_error_only_lookup in S; destruct S as [-> _]; discriminate.
    + destruct (zombie_error st piv) as [z|] eqn:Zp;
        [unfold zombie_error in Zp; destruct (lookup (kctes st) piv); [destruct (is_zombie _)|];
         inversion Zp; subst; simpl in *; congruence|].
      destruct (zombie_error st src) as [z|] eqn:Zs;
        [unfold zombie_error in Zs; destruct (lookup (kctes st) src); [destruct (is_zombie _)|];
         inversion Zs; subst; simpl in *; congruence|].
      destruct (slot_eqb piv src || slot_eqb piv dst) eqn:Q; auto.
      destruct (slot_eqb dst src); try discriminate.
      destruct (dest_error st t dst) as [e|] eqn:D; try discriminate.
      apply dest_error_cases in D. destruct D as [[-> _] | [-> _]]; discriminate.
Qed.

(** ** RangeError names an argument out of range *)

(** [kretype_error] never names RangeError: the ranges are checked before it. *)
Lemma kretype_error_not_range : forall ds st t x u ty size,
  kretype_error st t x u ty size ds <> KRangeError.
Proof.
  induction ds as [|d ds IH]; simpl; intros st t x u ty size; [discriminate|].
  destruct (kcreate st t x u ty size d); [apply IH|].
  unfold kcreate_error.
  destruct (negb (usable st t d)); [discriminate|].
  destruct (negb (_ <=? o_size u)); [discriminate|].
  destruct (negb (kempty st d)); discriminate.
Qed.

Lemma dest_error_not_range : forall st t d, dest_error st t d <> Some KRangeError.
Proof.
  intros st t d H; apply dest_error_cases in H; destruct H as [[H _] | [H _]]; discriminate.
Qed.

Lemma source_error_not_range : forall st t s, source_error st t s <> Some KRangeError.
Proof. intros st t s H; apply source_error_only_lookup in H; destruct H as [H _]; discriminate. Qed.

(** ** What a retype's loop meets

    [kcreate] keeps every object and every occupied slot, so a destination
    beyond a live CNode stays beyond it, and an occupied one stays occupied,
    while the loop goes on: either refuses the whole retype. *)
Lemma kcreate_keeps : forall st t x u ty size d st',
  kcreate st t x u ty size d = Some st' ->
  (forall c o, find_obj (kobjs st) c = Some o -> find_obj (kobjs st') c = Some o)
  /\ (forall s, kempty st s = false -> kempty st' s = false).
Proof.
  intros st t x u ty size d st' H. unfold kcreate in H.
  lazymatch type of H with context[if ?b then _ else _] => destruct b eqn:C end; [|discriminate].
  inversion H; subst; clear H.
  apply andb_prop in C; destruct C as [_ Un].
  split.
  - intros c o F. unfold find_obj; simpl.
    destruct (knext_obj st =? c) eqn:E; [|exact F].
    exfalso. apply Nat.eqb_eq in E; subst c.
    unfold find_obj in F. apply find_some in F. destruct F as [Hin Hid].
    unfold unused in Un. apply negb_true_iff in Un. rewrite !orb_false_iff in Un.
    destruct Un as [[[[U1 _] _] _] _].
    assert (existsb (fun o => o_id o =? knext_obj st) (kobjs st) = true)
      by (apply existsb_exists; exists o; auto).
    congruence.
  - intros s E. unfold kempty, is_empty, lookup in *; simpl.
    destruct (slot_eqb d s); [reflexivity|exact E].
Qed.

(** A destination beyond a live CNode refuses the loop. *)
Lemma kretype_loop_beyond : forall ds st t x u ty size d o,
  In d ds -> find_obj (kobjs st) (fst d) = Some o -> slot_ok st d = false ->
  kretype_loop st t x u ty size ds = None.
Proof.
  induction ds as [|d' ds IH]; intros st t x u ty size d o I F S; [destruct I|].
  simpl. destruct (kcreate st t x u ty size d') as [st'|] eqn:K; [|reflexivity].
  destruct I as [<-|I].
  - exfalso. unfold kcreate in K.
    lazymatch type of K with context[if ?b then _ else _] => destruct b eqn:C end; [|discriminate].
    unfold usable in C. destruct (root_of st t); [|discriminate].
    rewrite S, andb_false_r in C. discriminate.
  - destruct (kcreate_keeps _ _ _ _ _ _ _ _ K) as [Ko _].
    apply (IH st' t x u ty size d o I (Ko _ _ F)).
    unfold slot_ok in *. rewrite (Ko _ _ F). rewrite F in S. exact S.
Qed.

(** An occupied destination refuses the loop. *)
Lemma kretype_loop_occupied : forall ds st t x u ty size d,
  In d ds -> kempty st d = false -> kretype_loop st t x u ty size ds = None.
Proof.
  induction ds as [|d' ds IH]; intros st t x u ty size d I E; [destruct I|].
  simpl. destruct (kcreate st t x u ty size d') as [st'|] eqn:K; [|reflexivity].
  destruct I as [<-|I].
  - exfalso. unfold kcreate in K.
    lazymatch type of K with context[if ?b then _ else _] => destruct b eqn:C end; [|discriminate].
    rewrite E, andb_false_r in C. discriminate.
  - destruct (kcreate_keeps _ _ _ _ _ _ _ _ K) as [_ Ke].
    exact (IH st' t x u ty size d I (Ke _ E)).
Qed.

(** [kretype_error] names a code only where a [kcreate] of the loop refuses. *)
Lemma kretype_error_refused : forall ds st t x u ty size,
  kretype_error st t x u ty size ds <> KUnnamed -> kretype_loop st t x u ty size ds = None.
Proof.
  induction ds as [|d ds IH]; simpl; intros st t x u ty size H; [congruence|].
  destruct (kcreate st t x u ty size d); auto.
Qed.

(** A retype refused with RangeError has a destination index beyond its
    (live, reachable) CNode, or an object size or count out of the kernel's
    ranges ([retype_ok]), after the untyped and every destination's CNode
    were found; and [kstep] refuses it. Only retype names RangeError. *)
Theorem kerror_range : forall st o,
  kerror_of st o = KRangeError ->
  exists t ut ty size dsts x, o = KRetype t ut ty size dsts
    /\ usable st t ut = true /\ is_type st ut Untyped = Some x
    /\ forallb (dest_node_ok st t) dsts = true
    /\ (existsb (fun d => negb (usable st t d)) dsts = true
        \/ retype_ok ty size (length dsts) = false)
    /\ kstep st o = None.
Proof.
  intros st o H.
  destruct o as [t src dst|t src dst r b|t src dst|t src dst data|t src piv dst|t s|t s
                 |t ut ty size dsts|t ep src rcv rep dst|t ep src c cep dst|t tcb cn|t vs fr va|t vs va
                 |t s|t s];
    simpl in H.
  8: {
    destruct (usable st t ut) eqn:U; simpl in H; [|discriminate].
    destruct (lookup (kctes st) ut) as [x|] eqn:L; [|discriminate].
    destruct (is_zombie (e_cap x)) eqn:Zx; [discriminate|].
    destruct (otype_eqb (c_type (e_cap x)) Untyped) eqn:T; simpl in H; [|discriminate].
    destruct (existsb (fun d => negb (dest_node_ok st t d)) dsts) eqn:N; [discriminate|].
    assert (I : is_type st ut Untyped = Some x) by (unfold is_type; rewrite L, T; reflexivity).
    assert (FN : forallb (dest_node_ok st t) dsts = true).
    { apply forallb_forall; intros d Hd.
      destruct (dest_node_ok st t d) eqn:Dd; auto.
      assert (existsb (fun d => negb (dest_node_ok st t d)) dsts = true)
        by (apply existsb_exists; exists d; rewrite Dd; auto).
      congruence. }
    destruct (existsb (fun d => negb (usable st t d)) dsts) eqn:B.
    - exists t, ut, ty, size, dsts, x; repeat split; auto.
      apply existsb_exists in B. destruct B as [d [Hd Bd]].
      assert (Dn : dest_node_ok st t d = true) by (rewrite forallb_forall in FN; auto).
      unfold dest_node_ok in Dn. unfold usable in Bd.
      destruct (root_of st t) as [r|]; [|discriminate].
      destruct (find_obj (kobjs st) (fst d)) as [o|] eqn:F; [|discriminate].
      apply andb_prop in Dn; destruct Dn as [Re _]. rewrite Re in Bd. simpl in Bd.
      apply negb_true_iff in Bd.
      simpl; rewrite U, I.
      destruct (find_obj (kobjs st) (c_obj (e_cap x))) as [u|]; auto.
      destruct (otype_eqb (o_type u) Untyped); auto.
      destruct (retype_ok ty size (length dsts)); auto.
      eapply kretype_loop_beyond; [exact Hd| |].
      + simpl. exact F.
      + unfold slot_ok in *; simpl. rewrite F in Bd |- *. exact Bd.
    - simpl in H. destruct (retype_ok ty size (length dsts)) eqn:R; simpl in H.
      + exfalso. destruct (find_obj (kobjs st) (c_obj (e_cap x))) as [u|]; [|discriminate].
        destruct (otype_eqb (o_type u) Untyped); [|discriminate].
        lazymatch type of H with
        | context[if negb (?a <=? ?b) then _ else _] => destruct (a <=? b)
        end; simpl in H; [|discriminate].
        destruct (existsb (fun d => negb (kempty st d)) dsts); [discriminate|].
        eapply kretype_error_not_range; exact H.
      + exists t, ut, ty, size, dsts, x; repeat split; auto.
        simpl; rewrite U, I.
        destruct (find_obj (kobjs st) (c_obj (e_cap x))) as [u|]; auto.
        destruct (otype_eqb (o_type u) Untyped); auto; rewrite R; auto. }
  all: exfalso; try discriminate;
       unfold or_unnamed, first_error, lookup_error, empty_error, zombie_error in H; crush H;
       subst; try discriminate;
       match goal with
       | E : dest_error _ _ _ = Some KRangeError |- _ => exact (dest_error_not_range _ _ _ E)
       | E : source_error _ _ _ = Some KRangeError |- _ => exact (source_error_not_range _ _ _ E)
       end.
Qed.

(** A retype refused with DeleteFirst was found in range (every destination
    usable, size and count in range) and [kstep] refuses it: an occupied
    destination, named before any object is made. *)
Theorem kerror_retype_delete_first : forall st t ut ty size dsts,
  kerror_of st (KRetype t ut ty size dsts) = KDeleteFirst ->
  forallb (usable st t) dsts = true /\ retype_ok ty size (length dsts) = true
  /\ kstep st (KRetype t ut ty size dsts) = None.
Proof.
  intros st t ut ty size dsts H. simpl in H.
  destruct (usable st t ut) eqn:U; simpl in H; [|discriminate].
  destruct (lookup (kctes st) ut) as [x|] eqn:L; [|discriminate].
  destruct (is_zombie (e_cap x)) eqn:Zx; [discriminate|].
  destruct (otype_eqb (c_type (e_cap x)) Untyped) eqn:T; simpl in H; [|discriminate].
  destruct (existsb (fun d => negb (dest_node_ok st t d)) dsts); [discriminate|].
  destruct (existsb (fun d => negb (usable st t d)) dsts) eqn:B; [discriminate|].
  destruct (retype_ok ty size (length dsts)) eqn:R; simpl in H; [|discriminate].
  assert (I : is_type st ut Untyped = Some x) by (unfold is_type; rewrite L, T; reflexivity).
  repeat split.
  - apply forallb_forall; intros d Hd.
    destruct (usable st t d) eqn:Ud; auto.
    assert (existsb (fun d => negb (usable st t d)) dsts = true)
      by (apply existsb_exists; exists d; rewrite Ud; auto).
    congruence.
  - simpl; rewrite U, I.
    destruct (find_obj (kobjs st) (c_obj (e_cap x))) as [u|]; [|discriminate].
    destruct (otype_eqb (o_type u) Untyped); [|discriminate].
    rewrite R.
    lazymatch type of H with
    | context[if negb (?a <=? ?b) then _ else _] => destruct (a <=? b)
    end; simpl in H; [|discriminate].
    destruct (existsb (fun d => negb (kempty st d)) dsts) eqn:E.
    + apply existsb_exists in E. destruct E as [d [Hd Ed]]. apply negb_true_iff in Ed.
      eapply kretype_loop_occupied; [exact Hd|]. exact Ed.
    + apply kretype_error_refused. rewrite H. discriminate.
Qed.

(** ** NotEnoughMemory of a retype names a real refusal *)

(** Rounding up, then adding one object's size, stays rounded. *)
Lemma roundup_step : forall w a, roundup (roundup w a + a) a = roundup w a + a.
Proof.
  intros w a. unfold roundup. destruct (a =? 0) eqn:A; [reflexivity|].
  apply Nat.eqb_neq in A.
  set (q := (w + a - 1) / a).
  replace (q * a + a + a - 1) with ((a - 1) + (q + 1) * a) by nia.
  rewrite Nat.div_add by exact A. rewrite (Nat.div_small (a - 1) a) by lia. nia.
Qed.

(** A loop whose objects do not all fit, from the watermark [kwm s (o_id u)],
    refuses: each [kcreate] moves the watermark by one object's size. *)
Lemma kretype_loop_no_room : forall ds s t x u ty size d,
  o_size u < roundup (kwm s (o_id u)) size + S (length ds) * size ->
  kretype_loop s t x u ty size (d :: ds) = None.
Proof.
  induction ds as [|d' ds IH]; intros s t x u ty size d H; simpl.
  - destruct (kcreate s t x u ty size d) eqn:K; [|reflexivity].
    exfalso. unfold kcreate in K.
    lazymatch type of K with context[if ?b then _ else _] => destruct b eqn:C end; [|discriminate].
    apply andb_prop in C; destruct C as [C _]. apply andb_prop in C; destruct C as [_ C].
    apply Nat.leb_le in C. simpl in H. lia.
  - destruct (kcreate s t x u ty size d) as [s'|] eqn:K; [|reflexivity].
    apply (IH s' t x u ty size d').
    unfold kcreate in K.
    lazymatch type of K with context[if ?b then _ else _] => destruct b eqn:C end; [|discriminate].
    inversion K; subst; clear K. simpl. unfold upd. rewrite Nat.eqb_refl.
    rewrite roundup_step. simpl in H. simpl. lia.
Qed.

(** A retype refused with NotEnoughMemory was found in range (every
    destination usable, size and count in range) and [kstep] refuses it:
    the untyped has no room for all of its objects, or a [kcreate] of the
    loop refuses. *)
Theorem kerror_retype_not_enough_memory : forall st t ut ty size dsts,
  kerror_of st (KRetype t ut ty size dsts) = KNotEnoughMemory ->
  forallb (usable st t) dsts = true /\ retype_ok ty size (length dsts) = true
  /\ kstep st (KRetype t ut ty size dsts) = None.
Proof.
  intros st t ut ty size dsts H. simpl in H.
  destruct (usable st t ut) eqn:U; simpl in H; [|discriminate].
  destruct (lookup (kctes st) ut) as [x|] eqn:L; [|discriminate].
  destruct (is_zombie (e_cap x)) eqn:Zx; [discriminate|].
  destruct (otype_eqb (c_type (e_cap x)) Untyped) eqn:T; simpl in H; [|discriminate].
  destruct (existsb (fun d => negb (dest_node_ok st t d)) dsts); [discriminate|].
  destruct (existsb (fun d => negb (usable st t d)) dsts) eqn:B; [discriminate|].
  destruct (retype_ok ty size (length dsts)) eqn:R; simpl in H; [|discriminate].
  assert (I : is_type st ut Untyped = Some x) by (unfold is_type; rewrite L, T; reflexivity).
  repeat split.
  - apply forallb_forall; intros d Hd.
    destruct (usable st t d) eqn:Ud; auto.
    assert (existsb (fun d => negb (usable st t d)) dsts = true)
      by (apply existsb_exists; exists d; rewrite Ud; auto).
    congruence.
  - simpl; rewrite U, I.
    destruct (find_obj (kobjs st) (c_obj (e_cap x))) as [u|]; [|discriminate].
    destruct (otype_eqb (o_type u) Untyped); [|discriminate].
    rewrite R.
    lazymatch type of H with
    | context[if negb (?a <=? ?b) then _ else _] => destruct (a <=? b) eqn:Room
    end; simpl in H.
    + destruct (existsb (fun d => negb (kempty st d)) dsts); [discriminate|].
      apply kretype_error_refused. rewrite H. discriminate.
    + destruct dsts as [|d ds].
      * unfold retype_ok in R. apply andb_prop in R; destruct R as [R _].
        apply andb_prop in R; destruct R as [_ R]. simpl in R. discriminate.
      * apply kretype_loop_no_room. apply Nat.leb_gt in Room. simpl. simpl in Room. exact Room.
Qed.
