(** * tileos capability system: preempted deletion in the kernel model

    [Kernel.v]'s [KDeleteStep] and [KRevokeStep] do one unit of deletion
    work ([Kernel.kunit]), as one kernel entry of a CNode Delete or Revoke
    given one unit of work (kernel/src/cspace.rs, [delete_step],
    [revoke_step]). What is proved here about them:
    - progress ([kunit_progress], [kdelete_step_progress],
      [krevoke_step_progress]): a unit of work on an occupied slot, and so
      a successful [KDeleteStep] of an occupied slot or [KRevokeStep] of a
      capability with a descendant, decreases the measure ([knz], [kzw])
      lexicographically: the number of capabilities that are not zombies,
      then the work left in the zombies (each zombie's count plus one, and
      one more for a zombie not yet part of an outer deletion);
    - termination ([kdecr_wf]): that order is well-founded, so a deletion
      (or a revoke) repeated step after step reaches a state where the slot
      is empty (or the capability has no descendant left);
    - [kerror_deletion_in_progress], [kerror_deletion_in_progress_refused]:
      the code DeletionInProgress ([KernelErrors.kerror_of]) is named only
      when a slot the operation names ([op_slots]) holds a zombie, and
      [kstep] refuses the operation.
    The invariants the other theorems use ([KernelInvariants.KInv],
    [KernelObjects.KObj], [Authority.within]) hold after the new steps too:
    [kstep_inv], [kstep_kobj] and [confinement_step] are proved for every
    operation, [KDeleteStep] and [KRevokeStep] included ([kunit_kinv],
    [kunit_kobj], [kunit_within]), so every theorem stated for states
    reached by [krun] covers states with zombies.

    Not proved: the per-unit bound of slot accesses (the model has no cost;
    proofs/model-checker/src/work.rs checks it by test), and that [kunit]
    does what the kernel's unit does (the refinement test compares them,
    where the kernel's state has an abstraction: docs/model-checker.md). *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model Invariants Kernel KernelErrors.

(** ** The measure *)

Fixpoint wsum (w : cte -> nat) (l : list cte) : nat :=
  match l with [] => 0 | e :: l' => w e + wsum w l' end.

Definition nz_w (e : cte) : nat := if is_zombie (e_cap e) then 0 else 1.

Definition zw_w (wm : nat -> nat) (e : cte) : nat :=
  if is_zombie (e_cap e) then S (wm (c_obj (e_cap e))) + (if is_top (e_cap e) then 1 else 0)
  else 0.

(** The capabilities that are not zombies. *)
Definition knz (st : kstate) : nat := wsum nz_w (kctes st).

(** The work left in the zombies: each zombie's count ([kwm] of its CNode)
    plus one, plus one more for a zombie not yet part of an outer deletion
    (the unit that makes it part of one). *)
Definition kzw (st : kstate) : nat := wsum (zw_w (kwm st)) (kctes st).

(** [st'] is below [st]: ([knz], [kzw]) decreases lexicographically. *)
Definition kdecr (st' st : kstate) : Prop :=
  knz st' < knz st \/ (knz st' <= knz st /\ kzw st' < kzw st).

(** ** Sums over slot lists *)

Lemma wsum_filter : forall w p l, wsum w (filter p l) <= wsum w l.
Proof. induction l as [|e l IH]; simpl; auto; destruct (p e); simpl; lia. Qed.

Lemma wsum_remove : forall w s l x,
  In x l -> e_slot x = s -> wsum w (remove_slot s l) + w x <= wsum w l.
Proof.
  intros w s l x; induction l as [|e l IH]; simpl; intros Hx Hs; [contradiction|].
  unfold remove_slot in *; simpl.
  destruct Hx as [->|Hx].
  - assert (E : slot_eqb (e_slot x) s = true) by (apply slot_eqb_true; auto).
    rewrite E; simpl. pose proof (wsum_filter w (fun e => negb (slot_eqb (e_slot e) s)) l). lia.
  - specialize (IH Hx Hs). destruct (negb (slot_eqb (e_slot e) s)); simpl; lia.
Qed.

Lemma wsum_pointwise : forall w w' l,
  (forall e, In e l -> w' e <= w e) -> wsum w' l <= wsum w l.
Proof.
  induction l as [|e l IH]; simpl; intros H; auto.
  specialize (H e (or_introl eq_refl)) as He.
  assert (wsum w' l <= wsum w l) by (apply IH; auto). lia.
Qed.

Lemma wsum_pointwise_lt : forall w w' l x,
  (forall e, In e l -> w' e <= w e) -> In x l -> w' x < w x -> wsum w' l < wsum w l.
Proof.
  induction l as [|e l IH]; simpl; intros x H Hx Hlt; [contradiction|].
  destruct Hx as [->|Hx].
  - assert (wsum w' l <= wsum w l) by (apply wsum_pointwise; auto). lia.
  - assert (w' e <= w e) by auto. assert (wsum w' l < wsum w l) by (apply (IH x); auto). lia.
Qed.

(** Reclamation only filters the slot list and keeps the counts. *)
Lemma collect_sums : forall w st,
  wsum w (kctes (collect st)) <= wsum w (kctes st) /\ kwm (collect st) = kwm st.
Proof.
  intros w st; unfold collect; generalize (2 * S (length (kobjs st))).
  intros n; revert st; induction n as [|n IH]; simpl; intros st; [split; auto|].
  destruct (IH (collect_pass st)) as [A B]; split.
  - eapply Nat.le_trans; [exact A|]; unfold collect_pass; simpl; apply wsum_filter.
  - rewrite B; reflexivity.
Qed.

Lemma kdel_sums : forall w st s,
  wsum w (kctes (kdel st s)) <= wsum w (remove_slot s (kctes st)) /\ kwm (kdel st s) = kwm st.
Proof.
  intros w st s; unfold kdel.
  destruct (collect_sums w (set_kctes st (remove_slot s (kctes st)))) as [A B]; auto.
Qed.

(** ** Progress *)

(** Removing a capability that is not a zombie: [knz] decreases. *)
Lemma kdel_nz : forall st p y,
  In y (kctes st) -> e_slot y = p -> is_zombie (e_cap y) = false -> knz (kdel st p) < knz st.
Proof.
  intros st p y Hy Hp Z; unfold knz.
  assert (Rn := wsum_remove nz_w p (kctes st) y Hy Hp).
  assert (Ny : nz_w y = 1) by (unfold nz_w; rewrite Z; reflexivity).
  destruct (kdel_sums nz_w st p) as [A _]; lia.
Qed.

(** Replacing a capability that is not a zombie by a zombie: [knz] decreases. *)
Lemma zombify_nz : forall st p y inner n,
  In y (kctes st) -> e_slot y = p -> is_zombie (e_cap y) = false ->
  knz (zombify st p y inner n) < knz st.
Proof.
  intros st p y inner n Hy Hp Z; unfold knz.
  assert (Rn := wsum_remove nz_w p (kctes st) y Hy Hp).
  assert (Ny : nz_w y = 1) by (unfold nz_w; rewrite Z; reflexivity).
  change (wsum nz_w (kctes (zombify st p y inner n)))
    with (nz_w (mkCte p (zombie_of inner (e_cap y)) (e_node y) (e_anc y))
          + wsum nz_w (remove_slot p (kctes st))).
  assert (nz_w (mkCte p (zombie_of inner (e_cap y)) (e_node y) (e_anc y)) = 0)
    by (destruct inner; reflexivity).
  lia.
Qed.

(** A zombie made part of an outer deletion: [knz] stays, [kzw] decreases. *)
Lemma rezombie_zw : forall st p y,
  In y (kctes st) -> e_slot y = p -> is_zombie (e_cap y) = true -> is_top (e_cap y) = true ->
  knz (rezombie st p y true) <= knz st /\ kzw (rezombie st p y true) < kzw st.
Proof.
  intros st p y Hy Hp Z T; unfold knz, kzw.
  assert (Rn := wsum_remove nz_w p (kctes st) y Hy Hp).
  assert (Rz := wsum_remove (zw_w (kwm st)) p (kctes st) y Hy Hp).
  assert (Zy : zw_w (kwm st) y = S (kwm st (c_obj (e_cap y))) + 1)
    by (unfold zw_w; rewrite Z, T; reflexivity).
  change (wsum nz_w (kctes (rezombie st p y true)))
    with (0 + wsum nz_w (remove_slot p (kctes st))).
  change (wsum (zw_w (kwm (rezombie st p y true))) (kctes (rezombie st p y true)))
    with (S (kwm st (c_obj (e_cap y))) + 0 + wsum (zw_w (kwm st)) (remove_slot p (kctes st))).
  lia.
Qed.

(** Lowering the count of the zombie [x]'s CNode by one: [kzw] decreases,
    [knz] stays. *)
Lemma set_left_zw : forall st x r,
  In x (kctes st) -> is_zombie (e_cap x) = true -> kwm st (c_obj (e_cap x)) = S r ->
  kzw (set_left st (c_obj (e_cap x)) r) < kzw st /\ knz (set_left st (c_obj (e_cap x)) r) = knz st.
Proof.
  intros st x r Hx Z W; unfold kzw, knz; simpl; split; auto.
  apply (wsum_pointwise_lt _ _ _ x); auto.
  - intros e _; unfold zw_w, upd.
    destruct (is_zombie (e_cap e)); auto.
    destruct (c_obj (e_cap e) =? c_obj (e_cap x)) eqn:O; [|lia].
    apply Nat.eqb_eq in O; rewrite O, W; lia.
  - unfold zw_w, upd; rewrite Z, Nat.eqb_refl, W; lia.
Qed.

(** Removals and reclamation never raise either part of the measure. *)
Lemma kdel_le : forall st p, knz (kdel st p) <= knz st /\ kzw (kdel st p) <= kzw st.
Proof.
  intros st p; unfold knz, kzw.
  destruct (kdel_sums nz_w st p) as [A _].
  destruct (kdel_sums (zw_w (kwm st)) st p) as [B K].
  assert (F1 := wsum_filter nz_w (fun e => negb (slot_eqb (e_slot e) p)) (kctes st)).
  assert (F2 := wsum_filter (zw_w (kwm st)) (fun e => negb (slot_eqb (e_slot e) p)) (kctes st)).
  unfold remove_slot in A, B; rewrite K; split; lia.
Qed.

(** One unit of work on the deletion of the zombie [x] at [s] decreases the
    measure. *)
Lemma kunit_in_progress : forall fuel st s x st',
  lookup (kctes st) s = Some x -> is_zombie (e_cap x) = true ->
  kunit_in fuel st s x = Some st' -> kdecr st' st.
Proof.
  intros fuel; induction fuel as [|f IH]; intros st s x st' L Z E; simpl in E;
    destruct (lookup_some _ _ _ L) as [Hx Hs];
    (destruct (has_child (kobjs st) (c_obj (e_cap x))); [discriminate|]);
    (destruct (kwm st (c_obj (e_cap x))) as [|r] eqn:W;
      [inversion E; subst st'; right;
       assert (Rz := wsum_remove (zw_w (kwm st)) s (kctes st) x Hx Hs);
       assert (Zx : 1 <= zw_w (kwm st) x) by (unfold zw_w; rewrite Z; lia);
       destruct (kdel_sums nz_w st s) as [A _];
       destruct (kdel_sums (zw_w (kwm st)) st s) as [B K];
       assert (F := wsum_filter nz_w (fun e => negb (slot_eqb (e_slot e) s)) (kctes st));
       unfold remove_slot in A, B, Rz; unfold knz, kzw; rewrite K; split; lia|]);
    destruct (set_left_zw st x r Hx Z W) as [Lz Ln];
    (destruct (slot_eqb (c_obj (e_cap x), r) s); [inversion E; subst; right; lia|]);
    (destruct (lookup (kctes st) (c_obj (e_cap x), r)) as [y|] eqn:Ly;
      [|inversion E; subst; right; lia]);
    destruct (lookup_some _ _ _ Ly) as [Hy Hys];
    (destruct (is_zombie (e_cap y)) eqn:Zy;
      [destruct (is_top (e_cap y)) eqn:Ty;
        [inversion E; subst st'; right; apply rezombie_zw; auto
        |try discriminate; exact (IH _ _ _ _ Ly Zy E)]|]);
    (destruct (can_zombify st (c_obj (e_cap x), r) y) as [n|];
      inversion E; subst st'; clear E;
      [left; apply zombify_nz; auto
      |right; destruct (kdel_le (set_left st (c_obj (e_cap x)) r) (c_obj (e_cap x), r)); lia]).
Qed.

(** One unit of work on an occupied slot decreases the measure. *)
Theorem kunit_progress : forall st s x st',
  lookup (kctes st) s = Some x -> kunit st s = Some st' -> kdecr st' st.
Proof.
  intros st s x st' L E; unfold kunit in E; rewrite L in E.
  destruct (lookup_some _ _ _ L) as [Hx Hs].
  destruct (is_zombie (e_cap x)) eqn:Z; [eapply kunit_in_progress; eauto|].
  destruct (can_zombify st s x) as [n|]; inversion E; subst st'; left;
    [apply zombify_nz with (y := x)|apply kdel_nz with (y := x)]; auto.
Qed.

(** A slot named by an entry is found by [lookup]. *)
Lemma lookup_in : forall l d, In d l -> exists y, lookup l (e_slot d) = Some y.
Proof.
  intros l d Hd; destruct (lookup l (e_slot d)) as [y|] eqn:L; [eauto|exfalso].
  unfold lookup in L; apply (find_none _ _ L) in Hd.
  assert (slot_eqb (e_slot d) (e_slot d) = true) by (apply slot_eqb_true; auto); congruence.
Qed.

(** A successful [KDeleteStep] of an occupied slot makes progress. *)
Theorem kdelete_step_progress : forall st t s x st',
  kstep st (KDeleteStep t s) = Some st' -> lookup (kctes st) s = Some x -> kdecr st' st.
Proof.
  intros st t s x st' E L; simpl in E.
  destruct (usable st t s); [|discriminate].
  apply (kunit_progress st s x); auto.
Qed.

(** A successful [KRevokeStep] of a capability with a descendant makes
    progress (one unit of work on its first descendant). *)
Theorem krevoke_step_progress : forall st t s x d st',
  kstep st (KRevokeStep t s) = Some st' -> lookup (kctes st) s = Some x ->
  first_desc st (e_node x) = Some d -> kdecr st' st.
Proof.
  intros st t s x d st' E L D; simpl in E.
  destruct (usable st t s); [|discriminate].
  rewrite L, D in E. destruct (is_zombie (e_cap x)); [discriminate|].
  unfold first_desc in D; apply find_some in D; destruct D as [Hd _].
  destruct (lookup_in _ _ Hd) as [y Ly].
  apply (kunit_progress st (e_slot d) y); auto.
Qed.

(** ** Termination: the order is well-founded *)
Theorem kdecr_wf : well_founded kdecr.
Proof.
  intros st.
  remember (knz st) as n eqn:Hn; revert st Hn.
  induction n as [n IHn] using lt_wf_ind; intros st Hn.
  remember (kzw st) as m eqn:Hm; revert st Hn Hm.
  induction m as [m IHm] using lt_wf_ind; intros st Hn Hm.
  constructor; intros st' [H|[H1 H2]].
  - apply (IHn (knz st')); auto; lia.
  - destruct (Nat.lt_ge_cases (knz st') n) as [Lt|Ge].
    + apply (IHn (knz st')); auto.
    + apply (IHm (kzw st')); auto; lia.
Qed.

(** ** DeletionInProgress names a zombie *)

Lemma zombie_error_some : forall st s e,
  zombie_error st s = Some e ->
  e = KDeletionInProgress /\ exists x, lookup (kctes st) s = Some x /\ is_zombie (e_cap x) = true.
Proof.
  intros st s e H; unfold zombie_error in H.
  destruct (lookup (kctes st) s) as [x|]; [|discriminate].
  destruct (is_zombie (e_cap x)) eqn:Z; inversion H; eauto.
Qed.

(** [kretype_error] never names DeletionInProgress. *)
Lemma kretype_error_not_dip : forall ds st t x u ty size,
  kretype_error st t x u ty size ds <> KDeletionInProgress.
Proof.
  induction ds as [|d ds IH]; simpl; intros st t x u ty size; [discriminate|].
  destruct (kcreate st t x u ty size d); [apply IH|].
  unfold kcreate_error.
  destruct (negb (usable st t d)); [discriminate|].
  destruct (negb (_ <=? o_size u)); [discriminate|].
  destruct (negb (kempty st d)); discriminate.
Qed.

(** The slots an operation names. *)
Definition op_slots (o : kop) : list slot :=
  match o with
  | KCopy _ src dst | KMint _ src dst _ _ | KMove _ src dst | KMutate _ src dst _ => [src; dst]
  | KRotate _ src piv dst => [src; piv; dst]
  | KDelete _ s | KRevoke _ s | KDeleteStep _ s | KRevokeStep _ s => [s]
  | KRetype _ ut _ _ dsts => ut :: dsts
  | KSend _ ep src _ rep dst | KReply _ ep src _ rep dst => [ep; src; rep; dst]
  | KBind _ tcb cn => [tcb; cn]
  | KMap _ vs fr _ => [vs; fr]
  | KUnmap _ vs _ => [vs]
  end.

(** The code DeletionInProgress is named only for an operation one of whose
    slots holds a zombie. *)
Theorem kerror_deletion_in_progress : forall st o,
  kerror_of st o = KDeletionInProgress ->
  exists s x, In s (op_slots o) /\ lookup (kctes st) s = Some x /\ is_zombie (e_cap x) = true.
Proof.
  intros st o H.
  destruct o; simpl in H;
    unfold or_unnamed, first_error, lookup_error, empty_error, zombie_error, source_error,
      dest_error in H;
    crush H;
    try (exfalso; eapply kretype_error_not_dip; eassumption);
    match goal with L : lookup _ ?s = Some ?x, Z : is_zombie (e_cap ?x) = true |- _ =>
      exists s, x; simpl; auto 6 end.
Qed.

(** ... and [kstep] refuses it (a zombie source cannot be derived, moved or
    mutated; a rotate, revoke or one-unit revoke of a zombie is refused; a
    zombie is no untyped to retype from). *)
Theorem kerror_deletion_in_progress_refused : forall st o,
  kerror_of st o = KDeletionInProgress -> kstep st o = None.
Proof.
  intros st o H.
  destruct o; simpl in H;
    unfold or_unnamed, first_error, lookup_error, empty_error, zombie_error, source_error,
      dest_error in H;
    crush H;
    try (exfalso; eapply kretype_error_not_dip; eassumption);
    match goal with Z : is_zombie (e_cap ?x) = true |- _ =>
      assert (T := Z); unfold is_zombie in T; apply orb_true_iff in T end;
    destruct T as [T|T]; apply otype_eqb_true in T;
    simpl; unfold derive_into, relocate, is_type, derive, kmutate;
    repeat (match goal with
    | E : ?a = ?b |- context[?a] => progress rewrite E
    | |- context[if ?b then _ else _] => let E := fresh "D" in destruct b eqn:E
    | |- context[match ?x with _ => _ end] => let E := fresh "D" in destruct x eqn:E
    end; try congruence; try reflexivity; try (rewrite ?orb_true_r in *; simpl in *; congruence)).
Qed.

(** ** A preempted deletion, computed

    The root server (thread 1, root CNode 0 with 4 slots, one untyped of
    4 KiB in slot (0, 2)) retypes a 2-slot CNode (object 3) into (0, 3) and
    copies its TCB capability into (3, 1). The first [KDeleteStep] of (0, 3)
    leaves a zombie there with both slots of CNode 3 to go; the CNode's
    slots are no longer usable, and a copy of the zombie or a revoke of it
    is refused with DeletionInProgress. Three more steps empty (3, 1),
    pass over the empty (3, 0), and destroy CNode 3 with the zombie. *)
Definition dz_boot : kstate :=
  krun (kinit 0 4 [(4096, 4096, 0)]) [KRetype 1 (0, 2) CNodeObj 128 [(0, 3)]; KCopy 1 (0, 1) (3, 1)].

Definition dz_type (st : kstate) (s : slot) : option otype :=
  option_map (fun e => c_type (e_cap e)) (lookup (kctes st) s).

Example preempted_deletion_example :
  let z1 := krun dz_boot [KDeleteStep 1 (0, 3)] in
  let z2 := krun z1 [KDeleteStep 1 (0, 3)] in
  let z4 := krun z2 [KDeleteStep 1 (0, 3); KDeleteStep 1 (0, 3)] in
  dz_type dz_boot (0, 3) = Some CNodeObj /\ dz_type dz_boot (3, 1) = Some TCBObj
  /\ dz_type z1 (0, 3) = Some ZombieObj /\ kwm z1 3 = 2 /\ dz_type z1 (3, 1) = Some TCBObj
  /\ usable z1 1 (3, 0) = false
  /\ kstep_code z1 (KCopy 1 (0, 3) (0, 0)) = KErr KDeletionInProgress
  /\ kstep_code z1 (KRevoke 1 (0, 3)) = KErr KDeletionInProgress
  /\ kstep_code z1 (KMove 1 (0, 1) (3, 0)) = KErr KFailedLookup
  /\ dz_type z2 (3, 1) = None /\ kwm z2 3 = 1 /\ dz_type z2 (0, 1) = Some TCBObj
  /\ dz_type z4 (0, 3) = None /\ find_obj (kobjs z4) 3 = None
  /\ find_obj (kobjs z4) 2 <> None.
Proof. vm_compute; repeat split; discriminate. Qed.

(** A deletion started inside another: CNode 4 (2 slots) is retyped into
    slot (3, 1) of CNode 3. The second unit on (0, 3) meets the last
    capability to CNode 4 and turns it into an inner zombie in place, CNode
    3's count staying at 2; the next three units go to CNode 4's deletion (its
    two slots, then its end), and three more end CNode 3's. *)
Example nested_deletion_example :
  let st := krun (kinit 0 4 [(4096, 4096, 0)])
                 [KRetype 1 (0, 2) CNodeObj 128 [(0, 3)]; KRetype 1 (0, 2) CNodeObj 128 [(3, 1)]] in
  let z2 := krun st [KDeleteStep 1 (0, 3); KDeleteStep 1 (0, 3)] in
  let z5 := krun z2 [KDeleteStep 1 (0, 3); KDeleteStep 1 (0, 3); KDeleteStep 1 (0, 3)] in
  let z8 := krun z5 [KDeleteStep 1 (0, 3); KDeleteStep 1 (0, 3); KDeleteStep 1 (0, 3)] in
  dz_type st (3, 1) = Some CNodeObj
  /\ dz_type z2 (0, 3) = Some ZombieObj /\ dz_type z2 (3, 1) = Some ZombieInnerObj
  /\ kwm z2 3 = 2 /\ kwm z2 4 = 2
  /\ dz_type z5 (0, 3) = Some ZombieObj /\ dz_type z5 (3, 1) = None
  /\ find_obj (kobjs z5) 4 = None /\ kwm z5 3 = 2
  /\ dz_type z8 (0, 3) = None /\ find_obj (kobjs z8) 3 = None.
Proof. vm_compute; repeat split. Qed.
