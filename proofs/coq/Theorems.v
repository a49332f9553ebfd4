(** * Main theorems 1-3: rights, revoke, object overlap *)

From Coq Require Import List Arith Bool Lia Relations.
Import ListNotations.
From Tileos Require Import Model Invariants.

(** ** Theorem 1: rights never grow along derivation *)

(** In any state satisfying the invariant, a capability's rights are a
    subset of the rights of each of its (transitive) CDT ancestors. *)
Lemma desc_in_anc : forall st x y,
  cdt_ok (ctes st) (next_node st) (next_obj st) ->
  cdt_desc st x y -> In x (ctes st) /\ In y (ctes st) /\ In (e_node y) (e_anc x).
Proof.
  intros st x y Hc H; induction H as [x y Hp | x z y Hxz IH1 Hzy IH2].
  - destruct Hp as [Hx [Hy [pre [post [Ha _]]]]].
    repeat split; auto; rewrite Ha; apply in_or_app; simpl; auto.
  - destruct IH1 as [Hx [Hz Hin1]], IH2 as [_ [Hy Hin2]].
    repeat split; auto.
    apply (ci_closed _ _ _ Hc x z Hx Hz Hin1); auto.
Qed.

Theorem rights_descend_inv : forall st x y,
  Inv st -> cdt_desc st x y -> rsub (c_rights (e_cap x)) (c_rights (e_cap y)).
Proof.
  intros st x y [Hc _] H.
  destruct (desc_in_anc st x y Hc H) as [Hx [Hy Hin]].
  apply (ci_rights _ _ _ Hc); auto.
Qed.

(** Theorem 1, as asked: after any sequence of operations from the boot
    state, every capability's rights are a subset of its CDT parent's. *)
Theorem rights_never_grow : forall own mem n ops x y,
  let st := run (init own mem n) ops in
  cdt_parent st x y -> rsub (c_rights (e_cap x)) (c_rights (e_cap y)).
Proof.
  intros own mem n ops x y st H.
  apply (rights_descend_inv st); [apply reachable_inv|].
  apply Relation_Operators.t_step; auto.
Qed.

(** The same along any chain of derivation (transitive descendants). *)
Theorem rights_never_grow_desc : forall own mem n ops x y,
  let st := run (init own mem n) ops in
  cdt_desc st x y -> rsub (c_rights (e_cap x)) (c_rights (e_cap y)).
Proof.
  intros own mem n ops x y st H.
  apply (rights_descend_inv st); auto; apply reachable_inv.
Qed.

(** ** Theorem 2: revoke completeness *)

Lemma not_desc_of_spec : forall n e,
  not_desc_of n e = true -> ~ In n (e_anc e).
Proof.
  unfold not_desc_of; intros n e H Hin.
  apply negb_true_iff in H.
  assert (existsb (Nat.eqb n) (e_anc e) = true).
  { apply existsb_exists; exists n; split; auto; apply Nat.eqb_refl. }
  congruence.
Qed.

Theorem revoke_complete_inv : forall st a s st',
  Inv st -> step st (Revoke a s) = Some st' ->
  (exists y, In y (ctes st') /\ e_slot y = s) /\
  forall y, In y (ctes st') -> e_slot y = s -> forall x, ~ cdt_desc st' x y.
Proof.
  intros st a s st' Hi Hs.
  assert (Hi' : Inv st') by (eapply step_inv; eauto).
  simpl in Hs.
  destruct (owned st a s) eqn:E; try discriminate.
  destruct (lookup (ctes st) s) as [x0|] eqn:L; try discriminate.
  inversion Hs; subst st'; clear Hs.
  destruct (lookup_some _ _ _ L) as [Hx0 Hs0].
  destruct Hi as [Hc Ho].
  assert (Hkeep : In x0 (filter (not_desc_of (e_node x0)) (ctes st))).
  { apply filter_In; split; auto.
    unfold not_desc_of; apply negb_true_iff.
    destruct (existsb (Nat.eqb (e_node x0)) (e_anc x0)) eqn:Ex; auto.
    apply existsb_exists in Ex; destruct Ex as [m [Hm Hmeq]].
    apply Nat.eqb_eq in Hmeq; subst m.
    destruct (ci_fresh _ _ _ Hc x0 Hx0) as [_ Hlt].
    specialize (Hlt _ Hm); lia. }
  split.
  - exists x0; split; auto.
  - intros y Hy Hys x Hd.
    destruct Hi' as [Hc' _].
    destruct (desc_in_anc _ x y Hc' Hd) as [Hx [_ Hin]].
    simpl in Hx, Hy.
    apply filter_In in Hx; destruct Hx as [_ Hx].
    apply filter_In in Hy; destruct Hy as [Hy _].
    assert (y = x0).
    { apply (NoDup_map_inj e_slot (ctes st)); auto.
      - apply (ci_slots _ _ _ Hc).
      - congruence. }
    subst y; apply (not_desc_of_spec _ _ Hx); auto.
Qed.

(** Theorem 2, as asked: in any reachable state, after a successful
    revoke of slot [s], the capability in [s] remains and no capability
    in the system is a (transitive) CDT descendant of it. *)
Theorem revoke_complete : forall own mem n ops a s st',
  step (run (init own mem n) ops) (Revoke a s) = Some st' ->
  (exists y, In y (ctes st') /\ e_slot y = s) /\
  forall y, In y (ctes st') -> e_slot y = s -> forall x, ~ cdt_desc st' x y.
Proof.
  intros; eapply revoke_complete_inv; eauto; apply reachable_inv.
Qed.

(** The frame condition of revoke: a successful [Revoke a s] removes
    exactly the capabilities that record the revoked capability's node
    among their ancestors (its CDT subtree, see [revoke_complete]); every
    other capability stays, unchanged, in its slot, and nothing is added. *)
Theorem revoke_frame : forall st a s st' x,
  step st (Revoke a s) = Some st' -> lookup (ctes st) s = Some x ->
  forall e, In e (ctes st') <-> In e (ctes st) /\ ~ In (e_node x) (e_anc e).
Proof.
  intros st a s st' x Hs L e; simpl in Hs.
  destruct (owned st a s); try discriminate; rewrite L in Hs.
  inversion Hs; subst st'; simpl; rewrite filter_In; split.
  - intros [He Hn]; split; auto; apply not_desc_of_spec; auto.
  - intros [He Hn]; split; auto.
    unfold not_desc_of; apply negb_true_iff.
    destruct (existsb (Nat.eqb (e_node x)) (e_anc e)) eqn:Ex; auto.
    apply existsb_exists in Ex; destruct Ex as [m [Hm Hmeq]].
    apply Nat.eqb_eq in Hmeq; subst m; contradiction.
Qed.

(** ** Theorem 3: retype never creates overlapping objects *)

Theorem no_overlap_inv : forall st a b,
  Inv st -> In a (objs st) -> In b (objs st) -> o_id a <> o_id b ->
  disjoint a b \/
  (o_type a = Untyped /\ obj_anc (objs st) a b /\ inside b a) \/
  (o_type b = Untyped /\ obj_anc (objs st) b a /\ inside a b).
Proof.
  intros st a b [_ Ho] Ha Hb Hne.
  destruct (oi_overlap _ _ _ Ho a b Ha Hb Hne) as [Hd|[Hab|Hba]]; auto.
  - destruct (obj_anc_inside _ _ _ (oi_parent _ _ _ Ho) Hab); auto.
  - destruct (obj_anc_inside _ _ _ (oi_parent _ _ _ Ho) Hba); auto.
Qed.

(** Theorem 3, as asked: after any sequence of operations from the boot
    state, two distinct live objects have disjoint physical ranges, or
    one is an untyped ancestor (through the retype parent chain) of the
    other and contains its range. *)
Theorem no_overlap : forall own mem n ops a b,
  let st := run (init own mem n) ops in
  In a (objs st) -> In b (objs st) -> o_id a <> o_id b ->
  disjoint a b \/
  (o_type a = Untyped /\ obj_anc (objs st) a b /\ inside b a) \/
  (o_type b = Untyped /\ obj_anc (objs st) b a /\ inside a b).
Proof.
  intros; apply no_overlap_inv; auto; apply reachable_inv.
Qed.

