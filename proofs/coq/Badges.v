(** * Theorem 5: badges are stable along derivation

    Also the worked example of adding an invariant (see README.md):
    (1) define it, (2) prove it at boot, (3) prove each operation keeps it,
    (4) lift it to traces, (5) state the theorem. *)

From Coq Require Import List Arith Bool Lia Relations.
Import ListNotations.
From Tileos Require Import Model Invariants Theorems.

(** (1) A capability whose ancestor names the same object with a non-zero
    badge carries that badge. *)
Definition badge_ok (l : list cte) : Prop :=
  forall x y, In x l -> In y l -> In (e_node y) (e_anc x) ->
    c_obj (e_cap x) = c_obj (e_cap y) -> c_badge (e_cap y) <> 0 ->
    c_badge (e_cap x) = c_badge (e_cap y).

(** (2) Boot. *)
Lemma badge_init : forall own mem n, badge_ok (ctes (init own mem n)).
Proof.
  intros own mem n x y Hx _ Hin.
  destruct (init_ctes_spec _ _ _ _ Hx) as [Ha _]; rewrite Ha in Hin; contradiction.
Qed.

(** (3) Structural lemmas, then each operation. *)
Lemma badge_insert : forall l nn no p dst c,
  cdt_ok l nn no -> badge_ok l -> In p l ->
  ((c_obj c = c_obj (e_cap p) /\ (c_badge (e_cap p) <> 0 -> c_badge c = c_badge (e_cap p)))
   \/ no <= c_obj c) ->
  badge_ok (mkCte dst c nn (e_node p :: e_anc p) :: l).
Proof.
  intros l nn no p dst c Hc Hb Hp Hcond.
  assert (Hnew : forall y, In y l -> ~ In nn (e_anc y)).
  { intros y Hy Hin; destruct (ci_fresh _ _ _ Hc y Hy) as [H1 H2].
    specialize (H2 _ Hin); lia. }
  intros x y [<-|Hx] [<-|Hy] Hin Hobj Hbad; simpl in *.
  - reflexivity.
  - destruct Hcond as [[Ho Hbp]|Hf].
    + destruct Hin as [Heq|Hin].
      * assert (y = p).
        { apply (NoDup_map_inj e_node l); auto; apply (ci_nodes _ _ _ Hc). }
        subst y; auto.
      * assert (Hpy : c_badge (e_cap p) = c_badge (e_cap y)) by (apply Hb; auto; congruence).
        rewrite <- Hpy in *; auto.
    + specialize (ci_capobj _ _ _ Hc y Hy); lia.
  - exfalso; apply (Hnew x Hx Hin).
  - apply Hb; auto.
Qed.

Lemma badge_proj : forall l l',
  badge_ok l ->
  (forall e', In e' l' -> exists e, In e l /\ e_node e = e_node e' /\
                                  e_anc e = e_anc e' /\ e_cap e = e_cap e') ->
  badge_ok l'.
Proof.
  intros l l' Hb Hw x' y' Hx' Hy' Hin.
  destruct (Hw x' Hx') as [x [Hx [Ex1 [Ex2 Ex3]]]].
  destruct (Hw y' Hy') as [y [Hy [Ey1 [Ey2 Ey3]]]].
  rewrite <- Ex3, <- Ey3; apply Hb; auto; congruence.
Qed.

Lemma badge_filter : forall l p, badge_ok l -> badge_ok (filter p l).
Proof.
  intros l p Hb; apply (badge_proj l); auto.
  intros e' He'; apply filter_In in He'; exists e'; intuition.
Qed.

Lemma create_one_shape : forall st a x u ty size d st',
  create_one st a x u ty size d = Some st' ->
  ctes st' = mkCte d (mkCap (next_obj st) ty (c_rights (e_cap x)) 0) (next_node st)
                   (e_node x :: e_anc x) :: ctes st.
Proof.
  unfold create_one; intros st a x u ty size d st' H.
  destruct (_ && _ && _); try discriminate.
  inversion H; reflexivity.
Qed.

Lemma badge_loop : forall ds st a x u ty size st',
  Inv st -> badge_ok (ctes st) -> In x (ctes st) -> In u (objs st) ->
  o_type u = Untyped ->
  retype_loop st a x u ty size ds = Some st' -> badge_ok (ctes st').
Proof.
  induction ds as [|d ds IH]; simpl; intros st a x u ty size st' Hi Hb Hx Hu Hty Hr.
  - inversion Hr; subst; auto.
  - destruct (create_one st a x u ty size d) as [st1|] eqn:E; try discriminate.
    destruct (create_one_spec _ _ _ _ _ _ _ _ Hi Hx Hu Hty E)
      as [Hi1 [Hx1 [Hu1 _]]].
    apply (IH st1 a x u ty size); auto.
    rewrite (create_one_shape _ _ _ _ _ _ _ _ E).
    destruct Hi as [Hc _].
    apply (badge_insert _ _ (next_obj st)); simpl; auto.
Qed.

Theorem badge_step : forall st o st',
  Inv st -> badge_ok (ctes st) -> step st o = Some st' -> badge_ok (ctes st').
Proof.
  intros st o st' Hi Hb Hs; assert (Hi' := Hi); destruct Hi' as [Hc Ho].
  destruct o; simpl in Hs.
  - (* Copy *)
    destruct (owned st actor src && owned st actor dst && is_empty (ctes st) dst) eqn:E;
      try discriminate.
    destruct (lookup (ctes st) src) as [x|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hx _].
    inversion Hs; subst; simpl; apply (badge_insert _ _ (next_obj st)); auto.
  - (* Mint *)
    destruct (owned st actor src && owned st actor dst && is_empty (ctes st) dst) eqn:E;
      try discriminate.
    destruct (lookup (ctes st) src) as [x|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hx _].
    destruct (rsubb r (c_rights (e_cap x))); try discriminate.
    destruct (badge =? 0) eqn:B.
    + inversion Hs; subst; simpl; apply (badge_insert _ _ (next_obj st)); auto.
    + destruct (c_badge (e_cap x) =? 0) eqn:B'; try discriminate.
      apply Nat.eqb_eq in B'.
      inversion Hs; subst; simpl; apply (badge_insert _ _ (next_obj st)); auto.
      left; simpl; split; auto; intros H; contradiction.
  - (* Move *)
    destruct (owned st actor src && owned st actor dst && is_empty (ctes st) dst) eqn:E;
      try discriminate.
    destruct (lookup (ctes st) src) as [x|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hx _].
    inversion Hs; subst; simpl; apply (badge_proj (ctes st)); auto.
    intros e' [<-|He']; [exists x; simpl; auto|].
    exists e'; repeat split; auto.
    unfold remove_slot in He'; apply filter_In in He'; tauto.
  - (* Delete *)
    destruct (owned st actor s); try discriminate.
    destruct (lookup (ctes st) s); try discriminate.
    inversion Hs; subst; simpl; apply badge_filter; auto.
  - (* Revoke *)
    destruct (owned st actor s); try discriminate.
    destruct (lookup (ctes st) s); try discriminate.
    inversion Hs; subst; simpl; apply badge_filter; auto.
  - (* Retype *)
    destruct (owned st actor ut) eqn:E; try discriminate.
    destruct (lookup (ctes st) ut) as [x|] eqn:L; try discriminate.
    destruct (otype_eqb (c_type (e_cap x)) Untyped) eqn:T; try discriminate.
    destruct (find_obj (objs st) (c_obj (e_cap x))) as [u|] eqn:F; try discriminate.
    destruct (otype_eqb (o_type u) Untyped && negb (has_child (objs st) (o_id u))
              && negb (otype_eqb ty CNodeObj)) eqn:C; try discriminate; bool_hyps.
    destruct (lookup_some _ _ _ L) as [Hx _].
    destruct (find_obj_some _ _ _ F) as [Hu _].
    assert (Hr : Inv (reset_wm st (o_id u))).
    { apply reset_wm_inv; auto. apply has_child_false; auto. }
    apply (badge_loop _ _ _ _ _ _ _ _ Hr Hb Hx Hu H Hs).
  - (* Grant *)
    destruct (owned st actor ep && owned st actor src && (dom_of st dst =? dom_of st rep)
              && is_empty (ctes st) dst); try discriminate.
    destruct (lookup (ctes st) ep); try discriminate.
    destruct (lookup (ctes st) rep); try discriminate.
    destruct (lookup (ctes st) src) as [z|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hz _].
    match type of Hs with context [if ?b then _ else _] =>
      destruct b; try discriminate end.
    inversion Hs; subst; simpl; apply (badge_insert _ _ (next_obj st)); auto.
  - (* Push *)
    destruct (owned st actor cn && owned st actor src && is_empty (ctes st) dst);
      try discriminate.
    destruct (lookup (ctes st) cn); try discriminate.
    destruct (lookup (ctes st) src) as [z|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hz _].
    match type of Hs with context [if ?b then _ else _] =>
      destruct b; try discriminate end.
    inversion Hs; subst; simpl; apply (badge_insert _ _ (next_obj st)); auto.
Qed.

(** (4) Traces. *)
Lemma badge_run : forall ops st,
  Inv st -> badge_ok (ctes st) -> badge_ok (ctes (run st ops)).
Proof.
  induction ops as [|o ops IH]; simpl; intros st Hi Hb; auto.
  apply IH; [apply step_or_stay_inv; auto|].
  unfold step_or_stay; destruct (step st o) eqn:E; auto.
  eapply badge_step; eauto.
Qed.

(** (5) Theorem 5: after any sequence of operations from boot, a
    capability that is a CDT descendant of a badged capability to the same
    object carries the same badge (badges cannot be changed by re-minting). *)
Theorem badges_stable : forall own mem n ops x y,
  let st := run (init own mem n) ops in
  cdt_desc st x y -> c_obj (e_cap x) = c_obj (e_cap y) -> c_badge (e_cap y) <> 0 ->
  c_badge (e_cap x) = c_badge (e_cap y).
Proof.
  intros own mem n ops x y st Hd Ho Hb.
  assert (Hi : Inv st) by apply reachable_inv.
  destruct (desc_in_anc st x y (proj1 Hi) Hd) as [Hx [Hy Hin]].
  apply (badge_run ops (init own mem n) (init_inv _ _ _) (badge_init _ _ _)); auto.
Qed.
