(** * tileos capability system: frame map and unmap as the kernel does them

    [Kernel.v]'s [KMap] and [KUnmap] are the authority-level view of a
    mapping: a frame under a page-table root at an address, nothing else.
    The kernel (kernel/src/invoke/vspace.rs over [tileos_kernel::vspace])
    does more, and refuses more:
    - an invoked zombie (a CNode's deletion under way in its slot) is
      refused with DeletionInProgress whatever the method (the kernel's
      decoder checks it before the type);
    - a frame capability records the one place it is mapped, as (ASID,
      address); a map of a capability mapped elsewhere is refused
      (IllegalOperation), an unmap names the capability, not the address,
      and removes only an entry that still holds that frame;
    - the address space is a PML4 with a live ASID (another capability:
      InvalidCapability); the address must be page-aligned
      (AlignmentError) and in the user half (InvalidArgument); the frame
      needs the read right (InvalidArgument); a page table must already
      cover the address (FailedLookup); the entry must be free unless it
      is this frame's own re-map (DeleteFirst);
    - deleting a mapped frame capability unmaps it (the paging case of the
      kernel's [finalise]); [Kernel.v] keeps the mapping while the frame
      lives.

    This file adds that state around a [kstate] ([kmstate]: the live ASIDs,
    the 2 MiB regions a page table covers, the mapping each frame
    capability records, by CDT node) and a step function [kmstep] over the
    operations of [Kernel.v] ([KMOp]) and two more, [KMapFrame] and
    [KUnmapFrame] (4 KiB frames, all rights requested, no attributes), with
    the kernel's error code of every refusal in the kernel's order of
    checks. It is extracted for the refinement test
    (proofs/model-checker/src/refinement.rs) in place of
    [KernelErrors.kstep_code].

    Not modelled: mapping and unmapping paging structures (the regions
    covered are an input, changed only by the deletion of their root),
    2 MiB frames, requested rights narrower than the capability's,
    attributes, IOSpaces, ASID allocation.

    Proved here: on [Kernel.v]'s operations [kmstep] refuses exactly when
    [kstep] does, with [kerror_of]'s code, and otherwise has [kstep]'s
    slots and objects with a subset of its mappings ([kmstep_op_ok],
    [kmstep_op_err]); a mapping [KMapFrame] adds is one [KMap] could add:
    the thread can name the VSpace and frame slots, the VSpace is a page
    table, the frame has the read right, the write bit is the frame's write
    right, and every other mapping was there before ([kmap_frame_auth]);
    [KUnmapFrame] only removes mappings and changes no slot
    ([kunmap_frame_shrinks]); an AlignmentError names an unaligned address
    ([kmerror_alignment]); an InvalidCapability names a VSpace slot whose
    capability is not the root of a live ASID ([kmerror_invalid_capability]);
    a DeleteFirst of a map names an address in use ([kmerror_map_delete_first]);
    an IllegalOperation of a map names a non-frame invoked capability or a
    frame capability recording another place ([kmerror_map_illegal]); a
    DeletionInProgress of a map or unmap names an invoked zombie
    ([kmerror_map_deletion_in_progress]). [Kernel.v]'s one-unit deletions
    ([KDeleteStep], [KRevokeStep]) are [KMOp]s like the others: a frame
    capability a unit removes is unmapped by [settle].
    Not proved: that these are the kernel's checks and codes; that is what
    the refinement test checks. *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model Kernel KernelErrors.

(** The state: [kms] the capability state with its mappings ([kmaps]:
    (root object, address, frame object, writable)); [kasids]: (ASID,
    root object) of every live ASID; [kcover]: (root object, address /
    2 MiB) of every region a page table covers; [krec]: (CDT node of a frame
    capability, (ASID, address)) of every frame capability that records a
    mapping (also one whose ASID is gone: the kernel does not forget it). *)
Record kmstate := mkKM {
  kms : kstate;
  kasids : list (nat * nat);
  kcover : list (nat * nat);
  krec : list (nat * (nat * nat))
}.

Inductive kmop :=
| KMOp (o : kop)
| KMapFrame (t : nat) (fr vs : slot) (va : nat)
| KUnmapFrame (t : nat) (fr : slot).

(** The codes: [kerror]'s, and two only the mapping operations give. *)
Inductive kmerror :=
| KMErr (e : kerror)
| KAlignmentError
| KInvalidCapability.

(** Carried out; refused, the state unchanged; or answered with an error
    after the state changed ([KernelErrors.KErrAfter]). *)
Inductive kmresult :=
| KMOk (s : kmstate)
| KMFail (e : kmerror)
| KMFailAfter (e : kmerror) (s : kmstate).

Definition page_bytes : nat := 2 ^ 12.
Definition region_bytes : nat := 2 ^ 21.
(** The end of the user half ([vspace::USER_TOP]). *)
Definition user_top : nat := 2 ^ 47.

(** [va] is a multiple of the page size; the page at [va] lies in the user
    half. (Left folded by [simpl] in the proofs below.) *)
Definition aligned (va : nat) : bool := va =? va / page_bytes * page_bytes.
Definition in_user_half (va : nat) : bool := va + page_bytes <=? user_top.
Arguments aligned : simpl never.
Arguments in_user_half : simpl never.

Definition asid_of_root (s : kmstate) (v : nat) : option nat :=
  option_map fst (find (fun p => snd p =? v) (kasids s)).

Definition root_of_asid (s : kmstate) (a : nat) : option nat :=
  option_map snd (find (fun p => fst p =? a) (kasids s)).

Definition rec_of (s : kmstate) (n : nat) : option (nat * nat) :=
  option_map snd (find (fun p => fst p =? n) (krec s)).

Definition covered (s : kmstate) (v va : nat) : bool :=
  existsb (fun p => (fst p =? v) && (snd p =? va / region_bytes)) (kcover s).

Definition mapped_at (st : kstate) (v va : nat) : option kmap :=
  find (fun m => (m_vs m =? v) && (m_va m =? va)) (kmaps st).

Definition set_kmaps (st : kstate) (l : list kmap) : kstate :=
  mkK (kobjs st) (kctes st) (klbl st) (kwm st) l (kbind st) (knext_obj st) (knext_node st).

Definition drop_rec (n : nat) (l : list (nat * (nat * nat))) : list (nat * (nat * nat)) :=
  filter (fun p => negb (fst p =? n)) l.

(** The entry at [va] of root [v], if it maps frame [f]. *)
Definition holds (v va f : nat) (m : kmap) : bool :=
  (m_vs m =? v) && (m_va m =? va) && (m_frame m =? f).

(** The mapping the capability of node [n] (to frame [f]) records is
    removed: its entry if the ASID is live and the entry still holds [f]
    ([vspace::unmap_frame]), and the record. *)
Definition unmap_rec (s : kmstate) (n f : nat) : kmstate :=
  let st := kms s in
  match rec_of s n with
  | Some (a, va) =>
      let l := match root_of_asid s a with
               | Some v => filter (fun m => negb (holds v va f m)) (kmaps st)
               | None => kmaps st
               end in
      mkKM (set_kmaps st l) (kasids s) (kcover s) (drop_rec n (krec s))
  | None => s
  end.

Definition ok_map (s : kmstate) (xf : cte) (v a va : nat) : kmresult :=
  let st := kms s in
  KMOk (mkKM (set_kmaps st (mkMap v va (c_obj (e_cap xf)) (r_write (c_rights (e_cap xf)))
                             :: filter (fun m => negb ((m_vs m =? v) && (m_va m =? va))) (kmaps st)))
             (kasids s) (kcover s) ((e_node xf, (a, va)) :: drop_rec (e_node xf) (krec s))).

(** The code of an invoked capability that is not a frame's: a zombie's
    DeletionInProgress (the kernel's decoder refuses any method of a zombie,
    before it looks at the type: [decode::decode]), else IllegalOperation.
    (A zombie is never a frame's, so refusing a zombie here, after the type
    check, gives the kernel's code in the kernel's order.) *)
Definition not_frame_error (c : cap) : kerror :=
  if is_zombie c then KDeletionInProgress else KIllegalOperation.

(** FrameMap of the frame capability at [fr] at [va] in the address space
    of the capability at [vs], in the kernel's order: the invoked slot
    (FailedLookup), its type (DeletionInProgress for a zombie, else IllegalOperation), the VSpace slot
    (FailedLookup), its type (InvalidCapability), alignment, the user half,
    the recorded mapping, the read right, the covering page table, the
    entry. *)
Definition kmap_frame (s : kmstate) (t : nat) (fr vs : slot) (va : nat) : kmresult :=
  let st := kms s in
  if negb (usable st t fr) then KMFail (KMErr KFailedLookup) else
  match lookup (kctes st) fr with
  | None => KMFail (KMErr KFailedLookup)
  | Some xf =>
    if negb (otype_eqb (c_type (e_cap xf)) FrameObj) then KMFail (KMErr (not_frame_error (e_cap xf))) else
    if negb (usable st t vs) then KMFail (KMErr KFailedLookup) else
    match lookup (kctes st) vs with
    | None => KMFail (KMErr KFailedLookup)
    | Some xv =>
      let v := c_obj (e_cap xv) in
      match (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s v else None) with
      | None => KMFail KInvalidCapability
      | Some a =>
        if negb (aligned va) then KMFail KAlignmentError else
        if negb (in_user_half va) then KMFail (KMErr KInvalidArgument) else
        let remap := match rec_of s (e_node xf) with Some _ => true | None => false end in
        if match rec_of s (e_node xf) with
           | Some (a', va') => negb ((a' =? a) && (va' =? va))
           | None => false
           end then KMFail (KMErr KIllegalOperation) else
        if negb (r_read (c_rights (e_cap xf))) then KMFail (KMErr KInvalidArgument) else
        if negb (covered s v va) then KMFail (KMErr KFailedLookup) else
        match mapped_at st v va with
        | Some m => if remap && (m_frame m =? c_obj (e_cap xf)) then ok_map s xf v a va
                    else KMFail (KMErr KDeleteFirst)
        | None => ok_map s xf v a va
        end
      end
    end
  end.

(** FrameUnmap of the frame capability at [fr]: the invoked slot
    (FailedLookup), its type (DeletionInProgress for a zombie, else IllegalOperation); an unmapped capability
    is left as it is. *)
Definition kunmap_frame (s : kmstate) (t : nat) (fr : slot) : kmresult :=
  let st := kms s in
  if negb (usable st t fr) then KMFail (KMErr KFailedLookup) else
  match lookup (kctes st) fr with
  | None => KMFail (KMErr KFailedLookup)
  | Some xf =>
    if negb (otype_eqb (c_type (e_cap xf)) FrameObj) then KMFail (KMErr (not_frame_error (e_cap xf)))
    else KMOk (unmap_rec s (e_node xf) (c_obj (e_cap xf)))
  end.

Definition has_node (l : list cte) (n : nat) : bool := existsb (fun e => e_node e =? n) l.

(** The frame object of the capability of node [n] in [l] (none: 0, which
    the records of a state built by the abstraction never need). *)
Definition frame_of (l : list cte) (n : nat) : nat :=
  match find (fun e => e_node e =? n) l with Some e => c_obj (e_cap e) | None => 0 end.

(** After an operation of [Kernel.v] took [kms s] to [st']: every frame
    capability gone is unmapped ([finalise]), then the ASIDs and regions of
    dead roots and the records of gone capabilities are dropped. *)
Definition settle (s : kmstate) (st' : kstate) : kmstate :=
  let gone := filter (fun p => negb (has_node (kctes st') (fst p))) (krec s) in
  let l := filter (fun m => negb (existsb (fun p =>
             match root_of_asid s (fst (snd p)) with
             | Some v => holds v (snd (snd p)) (frame_of (kctes (kms s)) (fst p)) m
             | None => false
             end) gone)) (kmaps st') in
  mkKM (set_kmaps st' l)
       (filter (fun p => alive (kobjs st') (snd p)) (kasids s))
       (filter (fun p => alive (kobjs st') (fst p)) (kcover s))
       (filter (fun p => has_node (kctes st') (fst p)) (krec s)).

Definition kmstep (s : kmstate) (o : kmop) : kmresult :=
  match o with
  | KMOp o =>
      match kstep_code (kms s) o with
      | KOk st' => KMOk (settle s st')
      | KErr e => KMFail (KMErr e)
      | KErrAfter e st' => KMFailAfter (KMErr e) (settle s st')
      end
  | KMapFrame t fr vs va => kmap_frame s t fr vs va
  | KUnmapFrame t fr => kunmap_frame s t fr
  end.

(** ** Kernel.v's operations: the same acceptance, code, slots and objects,
    fewer mappings *)

Theorem kmstep_op_ok : forall s o s',
  (kmstep s (KMOp o) = KMOk s' \/ exists e, kmstep s (KMOp o) = KMFailAfter e s') ->
  exists st', kstep (kms s) o = Some st' /\
    kobjs (kms s') = kobjs st' /\ kctes (kms s') = kctes st' /\ kbind (kms s') = kbind st' /\
    incl (kmaps (kms s')) (kmaps st').
Proof.
  intros s o s' H; simpl in H.
  destruct (kstep_code (kms s) o) as [st'|e|e st'] eqn:E;
    destruct H as [H|[e' H]]; try discriminate; inversion H; subst; clear H;
    (exists st'; split; [apply kstep_code_ok; eauto|]);
    simpl; repeat split; auto;
    intros m Hm; apply filter_In in Hm; tauto.
Qed.

Theorem kmstep_op_err : forall s o e,
  kmstep s (KMOp o) = KMFail e <-> (kstep (kms s) o = None /\ e = KMErr (kerror_of (kms s) o)).
Proof.
  intros s o e; simpl; unfold kstep_code.
  destruct (kstep (kms s) o); [destruct (kerror_after (kms s) o)|]; split; intro H;
    try discriminate; try (destruct H; discriminate).
  - inversion H; auto.
  - destruct H as [_ ->]; reflexivity.
Qed.

(** ** Map *)

Lemma ok_map_maps : forall s xf v a va s' m,
  ok_map s xf v a va = KMOk s' -> In m (kmaps (kms s')) ->
  m = mkMap v va (c_obj (e_cap xf)) (r_write (c_rights (e_cap xf))) \/ In m (kmaps (kms s)).
Proof.
  intros s xf v a va s' m H Hm; unfold ok_map in H; inversion H; subst; clear H.
  simpl in Hm; destruct Hm as [<-|Hm]; [left; auto|right].
  apply filter_In in Hm; tauto.
Qed.

Lemma ok_map_ctes : forall s xf v a va s',
  ok_map s xf v a va = KMOk s' -> kctes (kms s') = kctes (kms s).
Proof. intros s xf v a va s' H; unfold ok_map in H; inversion H; reflexivity. Qed.

(** The authority a map adds is [KMap]'s: thread [t] can name both slots,
    the VSpace capability is a page table's, the frame capability a
    frame's with the read right, and the new mapping is writable only with
    the frame's write right. Slots are unchanged. *)
Theorem kmap_frame_auth : forall s t fr vs va s',
  kmstep s (KMapFrame t fr vs va) = KMOk s' ->
  kctes (kms s') = kctes (kms s) /\
  forall m, In m (kmaps (kms s')) -> In m (kmaps (kms s)) \/
    exists xv xf, lookup (kctes (kms s)) vs = Some xv /\ lookup (kctes (kms s)) fr = Some xf /\
      usable (kms s) t vs = true /\ usable (kms s) t fr = true /\
      c_type (e_cap xv) = PageTableObj /\ c_type (e_cap xf) = FrameObj /\
      r_read (c_rights (e_cap xf)) = true /\
      m = mkMap (c_obj (e_cap xv)) va (c_obj (e_cap xf)) (r_write (c_rights (e_cap xf))).
Proof.
  intros s t fr vs va s' H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr) eqn:Uf; simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|] eqn:Lf; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj) eqn:Tf; simpl in H; try discriminate.
  destruct (usable (kms s) t vs) eqn:Uv; simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|] eqn:Lv; try discriminate.
  destruct (otype_eqb (c_type (e_cap xv)) PageTableObj) eqn:Tv; try discriminate.
  destruct (asid_of_root s (c_obj (e_cap xv))) as [a|]; try discriminate.
  destruct (aligned va); simpl in H; try discriminate.
  destruct (in_user_half va); simpl in H; try discriminate.
  match goal with |- ?G =>
    assert (K : ok_map s xf (c_obj (e_cap xv)) a va = KMOk s' -> r_read (c_rights (e_cap xf)) = true -> G) end.
  { intros Hok R.
    split; [apply (ok_map_ctes _ _ _ _ _ _ Hok)|].
    intros m Hm; destruct (ok_map_maps _ _ _ _ _ _ m Hok Hm) as [->|Hm']; [right|left; auto].
    exists xv, xf; repeat split; auto.
    - apply otype_eqb_true; auto.
    - apply otype_eqb_true; auto. }
  destruct (rec_of s (e_node xf)) as [[a' va']|];
    [destruct ((a' =? a) && (va' =? va)); simpl in H; try discriminate|].
  all: destruct (r_read (c_rights (e_cap xf))) eqn:R; simpl in H; try discriminate.
  all: destruct (covered s (c_obj (e_cap xv)) va); simpl in H; try discriminate.
  all: destruct (mapped_at (kms s) (c_obj (e_cap xv)) va) as [m|]; simpl in H; try discriminate.
  all: try (destruct (m_frame m =? c_obj (e_cap xf)); simpl in H; try discriminate).
  all: apply K; auto.
Qed.

(** Case analysis of every [if] and [match] on an option in hypothesis [H]
    (of the form [_ = KMFail _]), discarding the branches that contradict it. *)
Ltac split_in H :=
  repeat match type of H with
  | context [if ?b then _ else _] => destruct b; simpl in H; try discriminate
  | context [let (_, _) := ?q in _] => destruct q; simpl in H; try discriminate
  | context [match ?x with Some _ => _ | None => _ end] =>
      let p := fresh "p" in destruct x as [p|]; [try destruct p|]; simpl in H; try discriminate
  end.

(** An AlignmentError names an address that is not a multiple of the page size. *)
Theorem kmerror_alignment : forall s t fr vs va,
  kmstep s (KMapFrame t fr vs va) = KMFail KAlignmentError -> aligned va = false.
Proof.
  intros s t fr vs va H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
  destruct (usable (kms s) t vs); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  destruct (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s (c_obj (e_cap xv)) else None);
    try discriminate.
  destruct (aligned va) eqn:A; simpl in H.
  - exfalso; unfold ok_map in H; split_in H.
  - reflexivity.
Qed.

(** An InvalidCapability names a usable VSpace slot holding a capability
    that is not a page-table root with a live ASID. *)
Theorem kmerror_invalid_capability : forall s t fr vs va,
  kmstep s (KMapFrame t fr vs va) = KMFail KInvalidCapability ->
  exists xv, usable (kms s) t vs = true /\ lookup (kctes (kms s)) vs = Some xv /\
    (c_type (e_cap xv) <> PageTableObj \/ asid_of_root s (c_obj (e_cap xv)) = None).
Proof.
  intros s t fr vs va H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
  destruct (usable (kms s) t vs) eqn:Uv; simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  exists xv; split; auto; split; auto.
  destruct (otype_eqb (c_type (e_cap xv)) PageTableObj) eqn:T.
  - destruct (asid_of_root s (c_obj (e_cap xv))) eqn:R; [|right; auto].
    exfalso; unfold ok_map in H; split_in H.
  - left; intro E; rewrite E in T; discriminate.
Qed.

(** A DeleteFirst of a map names an address of the address space at which a
    frame is mapped. *)
Theorem kmerror_map_delete_first : forall s t fr vs va,
  kmstep s (KMapFrame t fr vs va) = KMFail (KMErr KDeleteFirst) ->
  exists xv m, lookup (kctes (kms s)) vs = Some xv /\ mapped_at (kms s) (c_obj (e_cap xv)) va = Some m.
Proof.
  intros s t fr vs va H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H;
    [|unfold not_frame_error in H; destruct (is_zombie (e_cap xf)); discriminate].
  destruct (usable (kms s) t vs); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  exists xv.
  destruct (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s (c_obj (e_cap xv)) else None)
    as [a|]; try discriminate.
  destruct (aligned va); simpl in H; try discriminate.
  destruct (in_user_half va); simpl in H; try discriminate.
  destruct (rec_of s (e_node xf)) as [[a' va']|];
    [destruct ((a' =? a) && (va' =? va)); simpl in H; try discriminate|].
  all: destruct (r_read (c_rights (e_cap xf))); simpl in H; try discriminate.
  all: destruct (covered s (c_obj (e_cap xv)) va); simpl in H; try discriminate.
  all: destruct (mapped_at (kms s) (c_obj (e_cap xv)) va) as [m|]; [exists m; auto|].
  all: unfold ok_map in H; discriminate.
Qed.

(** An IllegalOperation of a map names an invoked capability that is not a
    frame's, or a frame capability that records a mapping at another place
    than the one asked for (the ASID of the address space, the address). *)
Theorem kmerror_map_illegal : forall s t fr vs va,
  kmstep s (KMapFrame t fr vs va) = KMFail (KMErr KIllegalOperation) ->
  exists xf, lookup (kctes (kms s)) fr = Some xf /\
    (c_type (e_cap xf) <> FrameObj \/
     exists xv a a' va', lookup (kctes (kms s)) vs = Some xv /\
       asid_of_root s (c_obj (e_cap xv)) = Some a /\
       rec_of s (e_node xf) = Some (a', va') /\ (a' <> a \/ va' <> va)).
Proof.
  intros s t fr vs va H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  exists xf; split; auto.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj) eqn:T; simpl in H.
  2: { left; intro E; rewrite E in T; discriminate. }
  right.
  destruct (usable (kms s) t vs); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xv)) PageTableObj); try discriminate.
  destruct (asid_of_root s (c_obj (e_cap xv))) as [a|] eqn:A; try discriminate.
  destruct (aligned va); simpl in H; try discriminate.
  destruct (in_user_half va); simpl in H; try discriminate.
  destruct (rec_of s (e_node xf)) as [[a' va']|] eqn:R.
  - destruct ((a' =? a) && (va' =? va)) eqn:E.
    + exfalso; simpl in H; unfold ok_map in H; split_in H.
    + exists xv, a, a', va'; repeat split; auto.
      apply andb_false_iff in E; destruct E as [E|E]; apply Nat.eqb_neq in E; auto.
  - exfalso; simpl in H; unfold ok_map in H; split_in H.
Qed.

(** A DeletionInProgress of a map or an unmap names an invoked slot the
    thread can name that holds a zombie (a CNode's deletion under way in it:
    [Kernel.v], "Preempted deletion"). *)
Theorem kmerror_map_deletion_in_progress : forall s o,
  match o with KMapFrame _ _ _ _ | KUnmapFrame _ _ => True | KMOp _ => False end ->
  kmstep s o = KMFail (KMErr KDeletionInProgress) ->
  exists t fr xf, (o = KUnmapFrame t fr \/ exists vs va, o = KMapFrame t fr vs va) /\
    usable (kms s) t fr = true /\ lookup (kctes (kms s)) fr = Some xf /\ is_zombie (e_cap xf) = true.
Proof.
  intros s o Ho H; destruct o as [o|t fr vs va|t fr]; [contradiction| |].
  - exists t, fr; simpl in H; unfold kmap_frame in H.
    destruct (usable (kms s) t fr) eqn:U; simpl in H; try discriminate.
    destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
    exists xf; repeat split; eauto.
    destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H.
    + exfalso; split_in H; unfold ok_map in H; discriminate.
    + unfold not_frame_error in H; destruct (is_zombie (e_cap xf)); auto; discriminate.
  - exists t, fr; simpl in H; unfold kunmap_frame in H.
    destruct (usable (kms s) t fr) eqn:U; simpl in H; try discriminate.
    destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
    exists xf; repeat split; eauto.
    destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
    unfold not_frame_error in H; destruct (is_zombie (e_cap xf)); auto; discriminate.
Qed.

(** ** Unmap *)

(** An unmap changes no slot and only removes mappings. *)
Theorem kunmap_frame_shrinks : forall s t fr s',
  kmstep s (KUnmapFrame t fr) = KMOk s' ->
  kctes (kms s') = kctes (kms s) /\ incl (kmaps (kms s')) (kmaps (kms s)).
Proof.
  intros s t fr s' H; simpl in H; unfold kunmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
  inversion H; subst; clear H; unfold unmap_rec.
  destruct (rec_of s (e_node xf)) as [[a va]|]; [|split; [reflexivity|intros m Hm; exact Hm]].
  split; [reflexivity|].
  destruct (root_of_asid s a); simpl; [|intros m Hm; exact Hm].
  intros m Hm; apply filter_In in Hm; tauto.
Qed.
