(** * Theorem 4: authority confinement *)

From Coq Require Import List Arith Bool Lia Relations.
Import ListNotations.
From Tileos Require Import Model Invariants.

(** ** Authority of domains *)

(** The domain owning the CNode of the entry's slot. *)
Definition edom (st : state) (e : cte) : nat := owner st (fst (e_slot e)).

(** Domain [d] holds capability [c] (in a slot of one of its CNodes). *)
Definition held (st : state) (d : nat) (c : cap) : Prop :=
  exists e, In e (ctes st) /\ edom st e = d /\ e_cap e = c.

(** Domain [d] holds some capability to object [o]. *)
Definition holds_obj (st : state) (d o : nat) : Prop :=
  exists c, held st d c /\ c_obj c = o.

(** [shares st d1 d2]: domains [d1] and [d2] both hold a capability to the
    same endpoint, and some domain holds a capability to that endpoint with
    the grant right: the endpoint can carry capabilities between them.
    (It is deliberately symmetric: a domain able to send to another can
    create a fresh endpoint and hand over a grant capability to it, so
    capabilities can then flow back.) *)
Definition shares (st : state) (d1 d2 : nat) : Prop :=
  exists c1 c2 c3 d3,
    held st d1 c1 /\ held st d2 c2 /\ held st d3 c3 /\
    c_obj c2 = c_obj c1 /\ c_obj c3 = c_obj c1 /\
    c_type c1 = EndpointObj /\ c_type c2 = EndpointObj /\
    c_type c3 = EndpointObj /\ r_grant (c_rights c3) = true.

(** [cn_link st d1 d2]: [d1] holds a capability to a CNode of [d2], and can
    therefore place capabilities into [d2]'s CSpace. *)
Definition cn_link (st : state) (d1 d2 : nat) : Prop :=
  exists c, held st d1 c /\ c_type c = CNodeObj /\ owner st (c_obj c) = d2.

(** [linked st d1 d2]: capabilities can be carried between [d1] and [d2]
    (in either direction, see above). *)
Definition linked (st : state) (d1 d2 : nat) : Prop :=
  shares st d1 d2 \/ cn_link st d1 d2 \/ cn_link st d2 d1.

(** [cap_path st S o]: some domain of the set [S] has a capability path to
    object [o]: a chain of domains, starting in [S], each linked to the
    next (sharing a grant-capable endpoint, or one holding a CNode
    capability to a CNode of the other), whose last domain holds a
    capability to [o] (the chain may be empty: a member of [S] holds one). *)
Definition cap_path (st : state) (S : nat -> Prop) (o : nat) : Prop :=
  exists d0 d, S d0 /\ clos_refl_trans nat (linked st) d0 d /\ holds_obj st d o.

Lemma shares_sym : forall st d1 d2, shares st d1 d2 -> shares st d2 d1.
Proof.
  intros st d1 d2 [c1 [c2 [c3 [d3 [H1 [H2 [H3 [E2 [E3 [T1 [T2 [T3 G]]]]]]]]]]]].
  exists c2, c1, c3, d3; repeat split; auto; congruence.
Qed.

Lemma linked_sym : forall st d1 d2, linked st d1 d2 -> linked st d2 d1.
Proof.
  unfold linked; intros st d1 d2 [H|[H|H]]; auto using shares_sym.
Qed.

(** ** How authority can change in one step *)

Definition derived_from (st : state) (e' : cte) : Prop :=
  exists e, In e (ctes st) /\
    c_obj (e_cap e) = c_obj (e_cap e') /\ c_type (e_cap e) = c_type (e_cap e') /\
    rsub (c_rights (e_cap e')) (c_rights (e_cap e)) /\
    (edom st e = edom st e' \/ linked st (edom st e) (edom st e')).

(** Every capability after the step is either derived from one held before
    by the same domain or by a domain linked to it, or names a fresh object
    (and is not a CNode capability); fresh objects are held by one domain. *)
Record auth_step (st st' : state) : Prop := {
  as_owner : owner st' = owner st;
  as_next : next_obj st <= next_obj st';
  as_caps : forall e', In e' (ctes st') ->
              derived_from st e' \/
              (next_obj st <= c_obj (e_cap e') /\ c_type (e_cap e') <> CNodeObj);
  as_fresh : forall e1 e2, In e1 (ctes st') -> In e2 (ctes st') ->
              c_obj (e_cap e1) = c_obj (e_cap e2) -> next_obj st <= c_obj (e_cap e1) ->
              edom st e1 = edom st e2
}.

Lemma subset_auth : forall st st',
  Inv st -> owner st' = owner st -> next_obj st' = next_obj st ->
  (forall e', In e' (ctes st') ->
     exists e, In e (ctes st) /\ edom st e = edom st e' /\ e_cap e = e_cap e') ->
  auth_step st st'.
Proof.
  intros st st' [Hc _] Ho Hn Hw; constructor; auto.
  - lia.
  - intros e' He'; left; destruct (Hw e' He') as [e [He [Hd Hcap]]].
    exists e; rewrite Hcap; repeat split; auto using rsub_refl.
  - intros e1 e2 He1 _ _ Hge; exfalso.
    destruct (Hw e1 He1) as [e [He [_ Hcap]]].
    specialize (ci_capobj _ _ _ Hc e He); rewrite Hcap; lia.
Qed.

Lemma insert_auth : forall st p dst c,
  Inv st -> In p (ctes st) ->
  c_obj c = c_obj (e_cap p) -> c_type c = c_type (e_cap p) ->
  rsub (c_rights c) (c_rights (e_cap p)) ->
  (edom st p = owner st (fst dst) \/ linked st (edom st p) (owner st (fst dst))) ->
  auth_step st (insert_derived st p dst c).
Proof.
  intros st p dst c [Hc _] Hp Ho Ht Hr Hd; constructor; simpl; auto.
  - intros e' [<-|He']; left.
    + exists p; simpl; split; [auto|split; [auto|split; [auto|split; [auto|]]]].
      unfold edom at 2; simpl; auto.
    + exists e'; repeat split; auto using rsub_refl.
  - intros e1 e2 [<-|He1] _ _ Hge; simpl in *; exfalso.
    + specialize (ci_capobj _ _ _ Hc p Hp); lia.
    + specialize (ci_capobj _ _ _ Hc e1 He1); lia.
Qed.

Ltac norm := unfold owned, dom_of, edom in *;
  repeat match goal with H : (_ =? _) = true |- _ => apply Nat.eqb_eq in H end.

Lemma step_auth : forall st o st',
  Inv st -> step st o = Some st' -> auth_step st st'.
Proof.
  intros st o st' Hi Hs; assert (Hi' := Hi); destruct Hi' as [Hc Ho].
  destruct o; simpl in Hs.
  - (* Copy *)
    destruct (owned st actor src && owned st actor dst && is_empty (ctes st) dst) eqn:E;
      try discriminate; bool_hyps.
    destruct (lookup (ctes st) src) as [x|] eqn:L; try discriminate.
    inversion Hs; subst st'; destruct (lookup_some _ _ _ L) as [Hx Hxs].
    apply insert_auth; auto using rsub_refl.
    left; norm; rewrite Hxs; congruence.
  - (* Mint *)
    destruct (owned st actor src && owned st actor dst && is_empty (ctes st) dst) eqn:E;
      try discriminate; bool_hyps.
    destruct (lookup (ctes st) src) as [x|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hx Hxs].
    destruct (rsubb r (c_rights (e_cap x))) eqn:R; try discriminate.
    apply rsubb_sound in R.
    destruct (badge =? 0); [|destruct (c_badge (e_cap x) =? 0)]; try discriminate;
      inversion Hs; subst st'; apply insert_auth; simpl; auto;
      left; norm; rewrite Hxs; congruence.
  - (* Move *)
    destruct (owned st actor src && owned st actor dst && is_empty (ctes st) dst) eqn:E;
      try discriminate; bool_hyps.
    destruct (lookup (ctes st) src) as [x|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hx Hxs].
    inversion Hs; subst st'; apply subset_auth; auto.
    intros e' [<-|He']; simpl.
    + exists x; repeat split; auto.
      norm; simpl; rewrite Hxs; congruence.
    + exists e'; repeat split; auto.
      unfold remove_slot in He'; apply filter_In in He'; tauto.
  - (* Delete *)
    destruct (owned st actor s) eqn:E; try discriminate.
    destruct (lookup (ctes st) s) as [x|] eqn:L; try discriminate.
    inversion Hs; subst st'; apply subset_auth; auto.
    intros e' He'; exists e'; repeat split; auto.
    unfold remove_slot in He'; apply filter_In in He'; tauto.
  - (* Revoke *)
    destruct (owned st actor s) eqn:E; try discriminate.
    destruct (lookup (ctes st) s) as [x|] eqn:L; try discriminate.
    inversion Hs; subst st'; apply subset_auth; auto.
    intros e' He'; exists e'; repeat split; auto.
    apply filter_In in He'; tauto.
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
    destruct (retype_loop_spec _ _ _ _ _ _ _ _ Hr Hx Hu H Hs) as [_ [Hown [Hnext Hnew]]].
    simpl in Hown, Hnext, Hnew.
    constructor; auto.
    + intros e' He'; destruct (Hnew e' He') as [Hold|[Hge [_ Hty]]].
      * left; exists e'; repeat split; auto using rsub_refl.
      * right; split; auto; rewrite Hty; intros Heq; rewrite Heq in *.
        discriminate.
    + intros e1 e2 He1 He2 Heq Hge.
      destruct (Hnew e1 He1) as [Hold1|[_ [Hd1 _]]].
      { exfalso; specialize (ci_capobj _ _ _ Hc e1 Hold1); lia. }
      destruct (Hnew e2 He2) as [Hold2|[_ [Hd2 _]]].
      { exfalso; specialize (ci_capobj _ _ _ Hc e2 Hold2); lia. }
      unfold edom, dom_of in *; simpl in *; congruence.
  - (* Grant *)
    destruct (owned st actor ep && owned st actor src && (dom_of st dst =? dom_of st rep)
              && is_empty (ctes st) dst) eqn:E; try discriminate; bool_hyps.
    destruct (lookup (ctes st) ep) as [xe|] eqn:Le; try discriminate.
    destruct (lookup (ctes st) rep) as [xr|] eqn:Lr; try discriminate.
    destruct (lookup (ctes st) src) as [z|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hz Hzs].
    destruct (lookup_some _ _ _ Le) as [Hxe Hxes].
    destruct (lookup_some _ _ _ Lr) as [Hxr Hxrs].
    destruct (otype_eqb (c_type (e_cap xe)) EndpointObj && otype_eqb (c_type (e_cap xr)) EndpointObj
              && (c_obj (e_cap xe) =? c_obj (e_cap xr))
              && r_grant (c_rights (e_cap xe)) && r_write (c_rights (e_cap xe))
              && r_read (c_rights (e_cap xr))) eqn:G; try discriminate; bool_hyps.
    inversion Hs; subst st'; apply insert_auth; auto using rsub_refl.
    right; left.
    assert (Hde : edom st xe = edom st z) by (norm; rewrite Hxes, Hzs; congruence).
    assert (Hdr : edom st xr = owner st (fst dst)) by (norm; rewrite Hxrs; congruence).
    exists (e_cap xe), (e_cap xr), (e_cap xe), (edom st z).
    repeat split; try congruence; [exists xe; auto|exists xr; auto|exists xe; auto].
  - (* Push *)
    destruct (owned st actor cn && owned st actor src && is_empty (ctes st) dst) eqn:E;
      try discriminate; bool_hyps.
    destruct (lookup (ctes st) cn) as [xc|] eqn:Lc; try discriminate.
    destruct (lookup (ctes st) src) as [z|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hz Hzs].
    destruct (lookup_some _ _ _ Lc) as [Hxc Hxcs].
    destruct (otype_eqb (c_type (e_cap xc)) CNodeObj && r_write (c_rights (e_cap xc))
              && (c_obj (e_cap xc) =? fst dst)) eqn:G; try discriminate; bool_hyps.
    inversion Hs; subst st'; apply insert_auth; auto using rsub_refl.
    right; right; left.
    exists (e_cap xc); split; [|split; [auto|congruence]].
    exists xc; split; [auto|split; [|auto]].
    norm; rewrite Hxcs, Hzs; congruence.
Qed.

(** ** The confinement invariant *)

Definition closed (st : state) (C : nat -> Prop) : Prop :=
  forall d1 d2, C d1 -> linked st d1 d2 -> C d2.

Definition no_hold (st : state) (C : nat -> Prop) (o : nat) : Prop :=
  forall d, C d -> ~ holds_obj st d o.

Lemma closed_back : forall st C d x,
  closed st C -> C d -> (x = d \/ linked st x d) -> C x.
Proof.
  intros st C d x Hcl Hd [->|Hs]; auto.
  apply (Hcl d x Hd (linked_sym _ _ _ Hs)).
Qed.

Lemma auth_preserves : forall st st' C o,
  Inv st -> auth_step st st' -> closed st C -> no_hold st C o -> o < next_obj st ->
  closed st' C /\ no_hold st' C o /\ o < next_obj st'.
Proof.
  intros st st' C o [Hc _] Ha Hcl Hnh Ho.
  assert (Hed : forall e, edom st' e = edom st e).
  { intros e; unfold edom; rewrite (as_owner _ _ Ha); auto. }
  (* each capability after the step has a witness before it, whose holder
     is in [C] exactly when the new holder is, or names a fresh object
     and is not a CNode capability *)
  assert (Hwit : forall e', In e' (ctes st') ->
            (exists w, In w (ctes st) /\ c_obj (e_cap w) = c_obj (e_cap e') /\
              c_type (e_cap w) = c_type (e_cap e') /\
              rsub (c_rights (e_cap e')) (c_rights (e_cap w)) /\
              (C (edom st e') <-> C (edom st w))) \/
            (next_obj st <= c_obj (e_cap e') /\ c_type (e_cap e') <> CNodeObj)).
  { intros e' He'.
    destruct (as_caps _ _ Ha e' He') as [[w [Hw [W1 [W2 [W3 W4]]]]]|Hfr]; [left|right; auto].
    exists w; split; [auto|split; [auto|split; [auto|split; [auto|split]]]].
    - intros HC; apply (closed_back st C (edom st e')); auto.
    - intros HC; destruct W4 as [W4|W4].
      + rewrite <- W4; auto.
      + apply (Hcl (edom st w)); auto. }
  split; [|split].
  - intros d1 d2 HC1 [Hsh|[Hcn|Hcn]].
    + (* a shared grant-capable endpoint *)
      destruct Hsh as [c1 [c2 [c3 [d3 [H1 [H2 [H3 [E2 [E3 [T1 [T2 [T3 G]]]]]]]]]]]].
      destruct H1 as [e1 [He1 [Hd1 <-]]].
      destruct H2 as [e2 [He2 [Hd2 <-]]].
      destruct H3 as [e3 [He3 [Hd3 <-]]].
      rewrite Hed in Hd1, Hd2, Hd3; subst d1 d2 d3.
      destruct (le_lt_dec (next_obj st) (c_obj (e_cap e1))) as [Hge|Hlt].
      * rewrite <- (as_fresh _ _ Ha e1 e2 He1 He2 (eq_sym E2) Hge); auto.
      * destruct (Hwit e1 He1) as [[w1 [Hw1 [O1 [Ty1 [R1 C1]]]]]|[Hf _]]; [|lia].
        destruct (Hwit e2 He2) as [[w2 [Hw2 [O2 [Ty2 [R2 C2]]]]]|[Hf _]]; [|lia].
        destruct (Hwit e3 He3) as [[w3 [Hw3 [O3 [Ty3 [R3 C3]]]]]|[Hf _]]; [|lia].
        apply C2; apply (Hcl (edom st w1)); [apply C1; auto|].
        left.
        exists (e_cap w1), (e_cap w2), (e_cap w3), (edom st w3); repeat split.
        -- exists w1; auto.
        -- exists w2; auto.
        -- exists w3; auto.
        -- congruence.
        -- congruence.
        -- congruence.
        -- congruence.
        -- congruence.
        -- destruct R3 as [_ [_ [R3 _]]]; auto.
    + (* d1 holds a CNode capability to a CNode of d2 *)
      destruct Hcn as [c [[e [He [Hd <-]]] [Ht Hown]]].
      rewrite Hed in Hd; subst d1.
      destruct (Hwit e He) as [[w [Hw [O1 [Ty1 [_ C1]]]]]|[_ Hf]]; [|contradiction].
      apply (Hcl (edom st w)); [apply C1; auto|].
      right; left; exists (e_cap w); split; [exists w; auto|].
      rewrite (as_owner _ _ Ha) in Hown; split; congruence.
    + (* d2 holds a CNode capability to a CNode of d1 *)
      destruct Hcn as [c [[e [He [Hd <-]]] [Ht Hown]]].
      rewrite Hed in Hd; subst d2.
      destruct (Hwit e He) as [[w [Hw [O1 [Ty1 [_ C1]]]]]|[_ Hf]]; [|contradiction].
      apply C1; apply (Hcl d1); auto.
      right; right; exists (e_cap w); split; [exists w; auto|].
      rewrite (as_owner _ _ Ha) in Hown; split; congruence.
  - intros d HC [c [[e [He [Hd <-]]] Hoe]].
    rewrite Hed in Hd; subst d.
    destruct (Hwit e He) as [[w [Hw [O1 [_ [_ C1]]]]]|[Hf _]]; [|lia].
    apply (Hnh (edom st w)); [apply C1; auto|].
    exists (e_cap w); split; [exists w; auto|congruence].
  - pose proof (as_next _ _ Ha); lia.
Qed.

Lemma run_confined : forall ops st C o,
  Inv st -> closed st C -> no_hold st C o -> o < next_obj st ->
  no_hold (run st ops) C o.
Proof.
  induction ops as [|op ops IH]; simpl; intros st C o Hi Hcl Hnh Ho; auto.
  unfold step_or_stay; destruct (step st op) as [st'|] eqn:E; auto.
  destruct (auth_preserves st st' C o Hi (step_auth _ _ _ Hi E) Hcl Hnh Ho)
    as [Hcl' [Hnh' Ho']].
  apply IH; auto; eapply step_inv; eauto.
Qed.

(** ** Theorem 4: authority confinement

    Let [st] be any state satisfying the invariant (in particular any state
    reachable from boot), [S] any set of domains and [o] any object that
    has already been created ([o < next_obj st]; every live object
    qualifies, see [confinement_live]).  If no domain of [S] has a
    capability path to [o] in [st], then after ANY sequence of operations,
    performed by ANY domains (members of [S] or not, including failing
    operations), no domain of [S] holds a capability to [o].

    Assumptions, precisely: the set of domains considered is all domains
    (every CNode has an owner, [owner]); domains interact only through the
    operations of the model (copy, mint, move, delete, revoke, retype in
    their own CNodes, grant over an endpoint, push through a CNode
    capability).  The path is computed over all domains, so domains outside
    [S] are not assumed inactive.  The [actor] named in an operation is not
    trusted either: the theorem covers every operation whatever its actor. *)
Theorem confinement_inv : forall st S o ops,
  Inv st -> o < next_obj st -> ~ cap_path st S o ->
  forall d, S d -> ~ holds_obj (run st ops) d o.
Proof.
  intros st S o ops Hi Ho Hnp d Hd.
  set (C := fun d => exists d0, S d0 /\ clos_refl_trans nat (linked st) d0 d).
  assert (Hcl : closed st C).
  { intros d1 d2 [d0 [H0 H1]] H12; exists d0; split; auto.
    eapply rt_trans; eauto; apply rt_step; auto. }
  assert (Hnh : no_hold st C o).
  { intros d' [d0 [H0 H1]] Hh; apply Hnp; exists d0, d'; auto. }
  apply (run_confined ops st C o Hi Hcl Hnh Ho d).
  exists d; split; auto; apply rt_refl.
Qed.

Theorem confinement_live : forall st S ob ops,
  Inv st -> In ob (objs st) -> ~ cap_path st S (o_id ob) ->
  forall d, S d -> ~ holds_obj (run st ops) d (o_id ob).
Proof.
  intros st S ob ops Hi Hob Hnp; apply confinement_inv; auto.
  destruct Hi as [_ Ho]; apply (proj1 (oi_fresh _ _ _ Ho ob Hob)).
Qed.

(** Theorem 4, from boot: in any state [st] reachable from the boot state,
    if a set of domains has no capability path to an existing object, no
    further sequence of operations gives any of them a capability to it. *)
Theorem confinement : forall own mem n pre ops S o,
  let st := run (init own mem n) pre in
  o < next_obj st -> ~ cap_path st S o ->
  forall d, S d -> ~ holds_obj (run st ops) d o.
Proof.
  intros own mem n pre ops S o st; apply confinement_inv; apply reachable_inv.
Qed.
