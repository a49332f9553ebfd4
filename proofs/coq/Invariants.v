(** * State invariants and their preservation by every operation *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model.

(** ** Geometry of objects *)

(** [inside c a]: the range of [c] lies within the range of [a]. *)
Definition inside (c a : obj) : Prop :=
  o_base a <= o_base c /\ o_base c + o_size c <= o_base a + o_size a.

Definition disjoint (a b : obj) : Prop :=
  o_base a + o_size a <= o_base b \/ o_base b + o_size b <= o_base a.

(** [obj_anc os a b]: [a] is a (transitive) untyped ancestor of [b]
    through live objects: [b]'s parent chain reaches [a]. *)
Inductive obj_anc (os : list obj) : obj -> obj -> Prop :=
| oa_parent : forall a b,
    In a os -> In b os -> o_parent b = Some (o_id a) -> obj_anc os a b
| oa_trans : forall a c b,
    obj_anc os a c -> In b os -> o_parent b = Some (o_id c) -> obj_anc os a b.

(** ** The CDT *)

Definition live_node (st : state) (n : nat) : Prop :=
  exists z, In z (ctes st) /\ e_node z = n.

(** [cdt_parent st x y]: [y] is the CDT parent of [x]: the nearest
    ancestor of [x] that is still present in the system. *)
Definition cdt_parent (st : state) (x y : cte) : Prop :=
  In x (ctes st) /\ In y (ctes st) /\
  exists pre post, e_anc x = pre ++ e_node y :: post /\
                   forall n, In n pre -> ~ live_node st n.

(** [cdt_desc st x y]: [x] is a (transitive) CDT descendant of [y]. *)
Definition cdt_desc (st : state) : cte -> cte -> Prop :=
  Relation_Operators.clos_trans cte (cdt_parent st).

(** ** Invariants *)

Record cdt_ok (l : list cte) (nn no : nat) : Prop := {
  ci_slots : NoDup (map e_slot l);
  ci_nodes : NoDup (map e_node l);
  ci_fresh : forall x, In x l ->
               e_node x < nn /\ forall a, In a (e_anc x) -> a < e_node x;
  ci_closed : forall x y, In x l -> In y l ->
               In (e_node y) (e_anc x) -> incl (e_anc y) (e_anc x);
  ci_rights : forall x y, In x l -> In y l -> In (e_node y) (e_anc x) ->
               rsub (c_rights (e_cap x)) (c_rights (e_cap y));
  ci_capobj : forall x, In x l -> c_obj (e_cap x) < no
}.

Record obj_ok (os : list obj) (w : nat -> nat) (no : nat) : Prop := {
  oi_ids : NoDup (map o_id os);
  oi_fresh : forall o, In o os ->
               o_id o < no /\ forall p, o_parent o = Some p -> p < no;
  oi_parent : forall a c, In a os -> In c os -> o_parent c = Some (o_id a) ->
               o_type a = Untyped /\ inside c a;
  oi_wm : forall a c, In a os -> In c os -> o_parent c = Some (o_id a) ->
               o_base c + o_size c <= o_base a + w (o_id a);
  oi_overlap : forall a b, In a os -> In b os -> o_id a <> o_id b ->
               disjoint a b \/ obj_anc os a b \/ obj_anc os b a
}.

Definition Inv (st : state) : Prop :=
  cdt_ok (ctes st) (next_node st) (next_obj st) /\
  obj_ok (objs st) (wm st) (next_obj st).

(** ** Generic list lemmas *)

Lemma NoDup_map_inj : forall {A B} (f : A -> B) l x y,
  NoDup (map f l) -> In x l -> In y l -> f x = f y -> x = y.
Proof.
  intros A B f l; induction l as [|a l IH]; simpl; intros x y Hnd Hx Hy Heq.
  - contradiction.
  - inversion Hnd as [|? ? Hnin Hnd']; subst.
    destruct Hx as [<-|Hx], Hy as [<-|Hy]; auto.
    + exfalso; apply Hnin; rewrite Heq; apply in_map; auto.
    + exfalso; apply Hnin; rewrite <- Heq; apply in_map; auto.
Qed.

Lemma NoDup_map_filter : forall {A B} (f : A -> B) p l,
  NoDup (map f l) -> NoDup (map f (filter p l)).
Proof.
  intros A B f p l; induction l as [|a l IH]; simpl; intros Hnd; auto.
  inversion Hnd as [|? ? Hnin Hnd']; subst.
  destruct (p a); simpl; auto.
  constructor; auto.
  intros Hin; apply Hnin.
  apply in_map_iff in Hin; destruct Hin as [y [Hy Hin]].
  apply filter_In in Hin; destruct Hin as [Hin _].
  rewrite <- Hy; apply in_map; auto.
Qed.

Lemma lookup_some : forall l s x,
  lookup l s = Some x -> In x l /\ e_slot x = s.
Proof.
  unfold lookup; intros l s x H.
  apply find_some in H; destruct H as [Hin Hs].
  apply slot_eqb_true in Hs; auto.
Qed.

Lemma is_empty_spec : forall l s,
  is_empty l s = true -> forall e, In e l -> e_slot e <> s.
Proof.
  unfold is_empty; intros l s H e Hin Heq.
  destruct (lookup l s) eqn:E; try discriminate.
  unfold lookup in E.
  apply (find_none _ _ E) in Hin.
  rewrite Heq in Hin.
  assert (slot_eqb s s = true) by (apply slot_eqb_true; auto).
  congruence.
Qed.

Lemma find_obj_some : forall os i u,
  find_obj os i = Some u -> In u os /\ o_id u = i.
Proof.
  unfold find_obj; intros os i u H.
  apply find_some in H; destruct H as [Hin Hs].
  apply Nat.eqb_eq in Hs; auto.
Qed.

Lemma has_child_false : forall os p,
  has_child os p = false -> forall c, In c os -> o_parent c <> Some p.
Proof.
  unfold has_child; intros os p H c Hin Hp.
  assert (existsb (is_child_of p) os = true).
  { apply existsb_exists; exists c; split; auto.
    unfold is_child_of; rewrite Hp; apply Nat.eqb_refl. }
  congruence.
Qed.

Lemma has_child_true : forall os c b,
  In b os -> o_parent b = Some (o_id c) -> has_child os (o_id c) = true.
Proof.
  unfold has_child; intros os c b Hb Hp.
  apply existsb_exists; exists b; split; auto.
  unfold is_child_of; rewrite Hp; apply Nat.eqb_refl.
Qed.

(** ** Lemmas on object ancestry *)

Lemma obj_anc_in : forall os a b, obj_anc os a b -> In a os /\ In b os.
Proof. intros os a b H; induction H; intuition. Qed.

Lemma obj_anc_mono : forall os os' a b,
  incl os os' -> obj_anc os a b -> obj_anc os' a b.
Proof.
  intros os os' a b Hi H; induction H.
  - apply oa_parent; auto.
  - eapply oa_trans; eauto.
Qed.

Lemma obj_anc_inside : forall os a b,
  (forall a c, In a os -> In c os -> o_parent c = Some (o_id a) ->
     o_type a = Untyped /\ inside c a) ->
  obj_anc os a b -> inside b a /\ o_type a = Untyped.
Proof.
  intros os a b Hp H; induction H as [a b Ha Hb Hab | a c b Hac IH Hb Hcb].
  - destruct (Hp a b Ha Hb Hab); auto.
  - destruct IH as [[IH1 IH2] Ht].
    destruct (obj_anc_in _ _ _ Hac) as [_ Hc].
    destruct (Hp c b Hc Hb Hcb) as [_ [H1 H2]].
    split; auto; unfold inside; lia.
Qed.

Lemma obj_anc_child : forall os u a,
  obj_anc os u a ->
  exists c, In c os /\ o_parent c = Some (o_id u) /\ (c = a \/ obj_anc os c a).
Proof.
  intros os u a H; induction H as [u b Hu Hb Hub | u c' b Huc IH Hb Hcb].
  - exists b; auto.
  - destruct IH as [c [Hc [Hcu Hor]]].
    exists c; repeat split; auto; right.
    destruct Hor as [<-|Hor].
    + apply oa_parent; auto.
    + eapply oa_trans; eauto.
Qed.

(** Reclamation keeps every object that has a live child, so ancestry
    between surviving objects is preserved. *)
Lemma obj_anc_shrink : forall os os' a b,
  (forall c, In c os -> has_child os (o_id c) = true -> In c os') ->
  obj_anc os a b -> In a os' -> In b os' -> obj_anc os' a b.
Proof.
  intros os os' a b Hkeep H; induction H as [a b Ha Hb Hab | a c b Hac IH Hb Hcb];
    intros Ha' Hb'.
  - apply oa_parent; auto.
  - assert (Hc' : In c os').
    { apply Hkeep.
      - apply (obj_anc_in _ _ _ Hac).
      - eapply has_child_true; eauto. }
    eapply oa_trans; eauto.
Qed.

(** ** Preservation: objects *)

Lemma gc_pass_ok : forall l os w no,
  obj_ok os w no -> obj_ok (gc_pass l os) w no.
Proof.
  intros l os w no H; destruct H as [H1 H2 H3 H4 H5]; unfold gc_pass.
  assert (Hsub : forall o, In o (filter (fun o => has_cap l (o_id o) || has_child os (o_id o)) os) -> In o os).
  { intros o Ho; apply filter_In in Ho; tauto. }
  constructor.
  - apply NoDup_map_filter; auto.
  - intros o Ho; apply H2; auto.
  - intros a c Ha Hc Hp; apply H3; auto.
  - intros a c Ha Hc Hp; apply H4; auto.
  - intros a b Ha Hb Hne.
    destruct (H5 a b (Hsub _ Ha) (Hsub _ Hb) Hne) as [Hd|[Hab|Hba]]; [left; auto| |];
      right; [left|right]; apply (obj_anc_shrink os); auto;
      intros c Hc Hch; apply filter_In; split; auto; rewrite Hch, orb_true_r; auto.
Qed.

Lemma gc_iter_ok : forall n l os w no,
  obj_ok os w no -> obj_ok (gc_iter n l os) w no.
Proof.
  induction n; simpl; intros; auto.
  apply IHn, gc_pass_ok; auto.
Qed.

Lemma reset_wm_ok : forall os w no u,
  obj_ok os w no -> (forall c, In c os -> o_parent c <> Some u) ->
  obj_ok os (upd w u 0) no.
Proof.
  intros os w no u H Hnc; destruct H as [H1 H2 H3 H4 H5]; constructor; auto.
  intros a c Ha Hc Hp; unfold upd.
  destruct (o_id a =? u) eqn:E.
  - apply Nat.eqb_eq in E; subst; exfalso; apply (Hnc c Hc Hp).
  - apply H4; auto.
Qed.

Lemma disjoint_sym : forall a b, disjoint a b -> disjoint b a.
Proof. unfold disjoint; intros; lia. Qed.

Lemma create_obj_ok : forall os w n u ty size,
  obj_ok os w n -> In u os -> o_type u = Untyped ->
  w (o_id u) + size <= o_size u ->
  obj_ok (mkObj n ty (o_base u + w (o_id u)) size (Some (o_id u)) :: os)
         (upd w (o_id u) (w (o_id u) + size)) (S n).
Proof.
  intros os w n u ty size H Hu Hty Hfit.
  set (no := mkObj n ty (o_base u + w (o_id u)) size (Some (o_id u))).
  destruct H as [H1 H2 H3 H4 H5].
  assert (Hun : o_id u < n) by (apply (proj1 (H2 u Hu))).
  assert (Hin : inside no u) by (unfold inside, no; simpl; lia).
  assert (Hnot : forall a, In a os -> o_id a <> n).
  { intros a Ha; specialize (H2 a Ha); lia. }
  assert (Hpar : forall c, In c os -> o_parent c <> Some n).
  { intros c Hc Hp; destruct (H2 c Hc) as [_ Hp']; specialize (Hp' n Hp); lia. }
  assert (Hu_eq : forall a, In a os -> o_id a = o_id u -> a = u).
  { intros a Ha Heq; apply (NoDup_map_inj o_id os); auto. }
  (* every old object is disjoint from, or related by ancestry to, [no] *)
  assert (Hkey : forall a, In a os ->
            disjoint a no \/ obj_anc (no :: os) a no \/ obj_anc (no :: os) no a).
  { intros a Ha.
    destruct (Nat.eq_dec (o_id a) (o_id u)) as [Heq|Hneq].
    - rewrite (Hu_eq a Ha Heq).
      right; left; apply oa_parent; simpl; auto.
    - destruct (H5 a u Ha Hu Hneq) as [Hd|[Hau|Hua]].
      + left; unfold disjoint, inside in *; simpl in *; lia.
      + right; left; eapply oa_trans.
        * eapply obj_anc_mono; [|exact Hau]; intros z Hz; simpl; auto.
        * simpl; auto.
        * reflexivity.
      + left.
        destruct (obj_anc_child _ _ _ Hua) as [c [Hc [Hcu Hor]]].
        assert (Hac : inside a c).
        { destruct Hor as [<-|Hca].
          - unfold inside; lia.
          - apply (obj_anc_inside os c a H3 Hca). }
        specialize (H4 u c Hu Hc Hcu).
        unfold disjoint, inside in *; simpl; lia. }
  constructor.
  - simpl; constructor; auto.
    intros Hm; apply in_map_iff in Hm; destruct Hm as [a [Ha1 Ha2]].
    apply (Hnot a Ha2 Ha1).
  - intros o [<-|Ho]; simpl.
    + split; [lia|]; intros p Hp; inversion Hp; lia.
    + destruct (H2 o Ho) as [Ha Hb]; split; [lia|]; intros p Hp; specialize (Hb p Hp); lia.
  - intros a c [<-|Ha] [<-|Hc] Hp; simpl in *.
    + inversion Hp; lia.
    + exfalso; apply (Hpar c Hc Hp).
    + inversion Hp as [Heq]; symmetry in Heq.
      rewrite (Hu_eq a Ha Heq); auto.
    + apply H3; auto.
  - intros a c [<-|Ha] [<-|Hc] Hp; simpl in *.
    + inversion Hp; lia.
    + exfalso; apply (Hpar c Hc Hp).
    + inversion Hp as [Heq]; symmetry in Heq.
      rewrite (Hu_eq a Ha Heq); unfold upd; rewrite Nat.eqb_refl; lia.
    + unfold upd; specialize (H4 a c Ha Hc Hp).
      destruct (o_id a =? o_id u) eqn:Eq; [apply Nat.eqb_eq in Eq; rewrite Eq in *|]; lia.
  - intros a b [<-|Ha] [<-|Hb] Hne.
    + contradiction.
    + destruct (Hkey b Hb) as [Hd|[Hab|Hba]].
      * left; apply disjoint_sym; auto.
      * right; right; auto.
      * right; left; auto.
    + apply Hkey; auto.
    + destruct (H5 a b Ha Hb Hne) as [Hd|[Hab|Hba]]; [left; auto| |];
        right; [left|right]; eapply obj_anc_mono; eauto; intros z Hz; simpl; auto.
Qed.

(** ** Preservation: CDT *)

Lemma insert_ok : forall l nn no x dst c,
  cdt_ok l nn no -> In x l -> is_empty l dst = true ->
  rsub (c_rights c) (c_rights (e_cap x)) -> c_obj c < no ->
  cdt_ok (mkCte dst c nn (e_node x :: e_anc x) :: l) (S nn) no.
Proof.
  intros l nn no x dst c H Hx He Hr Hc.
  destruct H as [H1 H2 H3 H4 H5 H6].
  assert (Hxf := H3 x Hx).
  assert (Hnew : forall y, In y l -> ~ In nn (e_anc y)).
  { intros y Hy Hin; destruct (H3 y Hy) as [Hy1 Hy2]; specialize (Hy2 _ Hin); lia. }
  assert (Hnx : ~ In nn (e_node x :: e_anc x)).
  { destruct Hxf as [Hxn Hxa]; intros [Heq|Hin]; [lia|]. specialize (Hxa _ Hin); lia. }
  constructor; simpl.
  - constructor; auto.
    intros Hm; apply in_map_iff in Hm; destruct Hm as [e [He1 He2]].
    apply (is_empty_spec l dst He e He2 He1).
  - constructor; auto.
    intros Hm; apply in_map_iff in Hm; destruct Hm as [e [He1 He2]].
    destruct (H3 e He2); lia.
  - intros y [<-|Hy]; simpl.
    + split; [lia|]. destruct Hxf as [Hxn Hxa].
      intros a [<-|Ha]; [lia|]. specialize (Hxa a Ha); lia.
    + destruct (H3 y Hy); split; auto.
  - intros y w [<-|Hy] [<-|Hw] Hin; simpl in *.
    + apply incl_refl.
    + destruct Hin as [Heq|Hin].
      * rewrite (NoDup_map_inj e_node l w x H2 Hw Hx (eq_sym Heq)).
        apply incl_tl, incl_refl.
      * apply incl_tl; apply H4; auto.
    + exfalso; apply (Hnew y Hy Hin).
    + apply H4; auto.
  - intros y w [<-|Hy] [<-|Hw] Hin; simpl in *.
    + apply rsub_refl.
    + destruct Hin as [Heq|Hin].
      * rewrite (NoDup_map_inj e_node l w x H2 Hw Hx (eq_sym Heq)); auto.
      * eapply rsub_trans; [exact Hr|]; apply H5; auto.
    + exfalso; apply (Hnew y Hy Hin).
    + apply H5; auto.
  - intros y [<-|Hy]; simpl; auto.
Qed.

(** A new slot list in which every entry is a copy (same CDT node,
    ancestors and capability) of an old entry keeps the invariant. *)
Lemma proj_ok : forall l l' nn no,
  cdt_ok l nn no -> NoDup (map e_slot l') -> NoDup (map e_node l') ->
  (forall e', In e' l' -> exists e, In e l /\ e_node e = e_node e' /\
                                  e_anc e = e_anc e' /\ e_cap e = e_cap e') ->
  cdt_ok l' nn no.
Proof.
  intros l l' nn no H Hs Hn Hw; destruct H as [H1 H2 H3 H4 H5 H6].
  constructor; auto.
  - intros x' Hx'; destruct (Hw x' Hx') as [x [Hx [<- [<- _]]]]; auto.
  - intros x' y' Hx' Hy' Hin.
    destruct (Hw x' Hx') as [x [Hx [Ex1 [Ex2 Ex3]]]].
    destruct (Hw y' Hy') as [y [Hy [Ey1 [Ey2 Ey3]]]].
    rewrite <- Ex2, <- Ey2; rewrite <- Ex2, <- Ey1 in Hin; auto.
  - intros x' y' Hx' Hy' Hin.
    destruct (Hw x' Hx') as [x [Hx [Ex1 [Ex2 Ex3]]]].
    destruct (Hw y' Hy') as [y [Hy [Ey1 [Ey2 Ey3]]]].
    rewrite <- Ex3, <- Ey3; rewrite <- Ex2, <- Ey1 in Hin; auto.
  - intros x' Hx'; destruct (Hw x' Hx') as [x [Hx [_ [_ <-]]]]; auto.
Qed.

Lemma filter_ok : forall l p nn no,
  cdt_ok l nn no -> cdt_ok (filter p l) nn no.
Proof.
  intros l p nn no H; eapply proj_ok; eauto.
  - apply NoDup_map_filter, (ci_slots _ _ _ H).
  - apply NoDup_map_filter, (ci_nodes _ _ _ H).
  - intros e' He'; apply filter_In in He'; exists e'; intuition.
Qed.

Lemma move_ok : forall l nn no src dst x,
  cdt_ok l nn no -> lookup l src = Some x -> is_empty l dst = true ->
  cdt_ok (mkCte dst (e_cap x) (e_node x) (e_anc x) :: remove_slot src l) nn no.
Proof.
  intros l nn no src dst x H Hl He.
  destruct (lookup_some _ _ _ Hl) as [Hx Hxs].
  assert (Hsub : forall e, In e (remove_slot src l) -> In e l /\ e_slot e <> src).
  { intros e Hin; unfold remove_slot in Hin; apply filter_In in Hin.
    destruct Hin as [Hin Hs]; split; auto; intros Heq.
    rewrite Heq in Hs; assert (slot_eqb src src = true) by (apply slot_eqb_true; auto).
    rewrite H0 in Hs; discriminate. }
  eapply proj_ok; eauto; simpl.
  - constructor.
    + intros Hm; apply in_map_iff in Hm; destruct Hm as [e [He1 He2]].
      apply (is_empty_spec l dst He e (proj1 (Hsub e He2)) He1).
    + apply NoDup_map_filter, (ci_slots _ _ _ H).
  - constructor.
    + intros Hm; apply in_map_iff in Hm; destruct Hm as [e [He1 He2]].
      destruct (Hsub e He2) as [He3 He4].
      apply He4; rewrite <- Hxs; f_equal.
      apply (NoDup_map_inj e_node l); auto; apply (ci_nodes _ _ _ H).
    + apply NoDup_map_filter, (ci_nodes _ _ _ H).
  - intros e' [<-|He'].
    + exists x; simpl; auto.
    + exists e'; split; auto; apply (Hsub e' He').
Qed.

Lemma cdt_ok_no_mono : forall l nn no no',
  cdt_ok l nn no -> no <= no' -> cdt_ok l nn no'.
Proof.
  intros l nn no no' H Hle; destruct H; constructor; auto.
  intros x Hx; specialize (ci_capobj0 x Hx); lia.
Qed.

Lemma set_ctes_inv : forall st l,
  Inv st -> cdt_ok l (next_node st) (next_obj st) -> Inv (set_ctes st l).
Proof.
  intros st l [Hc Ho] Hl; unfold set_ctes; split; simpl; auto.
  apply gc_iter_ok, gc_pass_ok; auto.
Qed.

Lemma insert_derived_inv : forall st x dst c,
  Inv st -> In x (ctes st) -> is_empty (ctes st) dst = true ->
  rsub (c_rights c) (c_rights (e_cap x)) -> c_obj c < next_obj st ->
  Inv (insert_derived st x dst c).
Proof.
  intros st x dst c [Hc Ho] Hx He Hr Hobj; split; simpl; auto.
  apply insert_ok; auto.
Qed.

(** ** Retype *)

(** Facts about one retype step, including what confinement needs:
    every new capability names a fresh object and sits in a slot of the
    acting domain. *)
Lemma create_one_spec : forall st a x u ty size d st',
  Inv st -> In x (ctes st) -> In u (objs st) -> o_type u = Untyped ->
  create_one st a x u ty size d = Some st' ->
  Inv st' /\ In x (ctes st') /\ In u (objs st') /\ owner st' = owner st /\
  next_obj st <= next_obj st' /\
  forall e, In e (ctes st') ->
    In e (ctes st) \/
    (next_obj st <= c_obj (e_cap e) /\ dom_of st (e_slot e) = a /\ c_type (e_cap e) = ty).
Proof.
  intros st a x u ty size d st' [Hc Ho] Hx Hu Hty Hcr.
  unfold create_one in Hcr.
  destruct (dom_of st d =? a) eqn:E1; try discriminate.
  destruct (is_empty (ctes st) d) eqn:E2; try discriminate.
  destruct (wm st (o_id u) + size <=? o_size u) eqn:E3; try discriminate.
  simpl in Hcr; inversion Hcr; subst st'; clear Hcr.
  apply Nat.eqb_eq in E1; apply Nat.leb_le in E3.
  unfold insert_derived; simpl.
  refine (conj (conj _ _) (conj _ (conj _ (conj eq_refl (conj _ _))))); simpl.
  - apply insert_ok; simpl; auto.
    + eapply cdt_ok_no_mono; eauto.
    + apply rsub_refl.
  - apply create_obj_ok; auto.
  - auto.
  - auto.
  - lia.
  - intros e [<-|He]; auto; right; simpl; auto.
Qed.

Lemma retype_loop_spec : forall ds st a x u ty size st',
  Inv st -> In x (ctes st) -> In u (objs st) -> o_type u = Untyped ->
  retype_loop st a x u ty size ds = Some st' ->
  Inv st' /\ owner st' = owner st /\ next_obj st <= next_obj st' /\
  forall e, In e (ctes st') ->
    In e (ctes st) \/
    (next_obj st <= c_obj (e_cap e) /\ dom_of st (e_slot e) = a /\ c_type (e_cap e) = ty).
Proof.
  induction ds as [|d ds IH]; simpl; intros st a x u ty size st' Hi Hx Hu Hty Hr.
  - inversion Hr; subst; refine (conj Hi (conj eq_refl (conj (le_n _) _))); auto.
  - destruct (create_one st a x u ty size d) as [st1|] eqn:E; try discriminate.
    destruct (create_one_spec _ _ _ _ _ _ _ _ Hi Hx Hu Hty E)
      as [Hi1 [Hx1 [Hu1 [Ho1 [Hn1 He1]]]]].
    destruct (IH _ _ _ _ _ _ _ Hi1 Hx1 Hu1 Hty Hr) as [Hi2 [Ho2 [Hn2 He2]]].
    refine (conj Hi2 (conj _ (conj _ _))).
    + congruence.
    + lia.
    + intros e He; destruct (He2 e He) as [He3|[He3 [He4 He7]]].
      * destruct (He1 e He3) as [He5|[He5 He6]]; auto.
      * right; split; [lia|split; auto]. unfold dom_of in *; congruence.
Qed.

Lemma reset_wm_inv : forall st u,
  Inv st -> (forall c, In c (objs st) -> o_parent c <> Some u) -> Inv (reset_wm st u).
Proof.
  intros st u [Hc Ho] Hnc; split; simpl; auto.
  apply reset_wm_ok; auto.
Qed.

(** ** Every operation preserves the invariant *)

Ltac bool_hyps :=
  repeat match goal with
  | H : (_ && _) = true |- _ => apply andb_true_iff in H; destruct H
  | H : (_ =? _) = true |- _ => apply Nat.eqb_eq in H
  | H : otype_eqb _ _ = true |- _ => apply otype_eqb_true in H
  | H : negb _ = true |- _ => apply negb_true_iff in H
  end.

Theorem step_inv : forall st o st', Inv st -> step st o = Some st' -> Inv st'.
Proof.
  intros st o st' Hi Hs; assert (Hi' := Hi); destruct Hi' as [Hc Ho].
  destruct o; simpl in Hs.
  - (* Copy *)
    destruct (owned st actor src && owned st actor dst && is_empty (ctes st) dst) eqn:E;
      try discriminate; bool_hyps.
    destruct (lookup (ctes st) src) as [x|] eqn:L; try discriminate.
    inversion Hs; subst; destruct (lookup_some _ _ _ L) as [Hx _].
    apply insert_derived_inv; auto using rsub_refl.
    apply (ci_capobj _ _ _ Hc); auto.
  - (* Mint *)
    destruct (owned st actor src && owned st actor dst && is_empty (ctes st) dst) eqn:E;
      try discriminate; bool_hyps.
    destruct (lookup (ctes st) src) as [x|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hx _].
    destruct (rsubb r (c_rights (e_cap x))) eqn:R; try discriminate.
    apply rsubb_sound in R.
    destruct (badge =? 0); [|destruct (c_badge (e_cap x) =? 0)]; try discriminate;
      inversion Hs; subst; apply insert_derived_inv; simpl; auto;
      apply (ci_capobj _ _ _ Hc); auto.
  - (* Move *)
    destruct (owned st actor src && owned st actor dst && is_empty (ctes st) dst) eqn:E;
      try discriminate; bool_hyps.
    destruct (lookup (ctes st) src) as [x|] eqn:L; try discriminate.
    inversion Hs; subst; apply set_ctes_inv; auto.
    apply move_ok; auto.
  - (* Delete *)
    destruct (owned st actor s) eqn:E; try discriminate.
    destruct (lookup (ctes st) s) as [x|] eqn:L; try discriminate.
    inversion Hs; subst; apply set_ctes_inv; auto.
    apply filter_ok; auto.
  - (* Revoke *)
    destruct (owned st actor s) eqn:E; try discriminate.
    destruct (lookup (ctes st) s) as [x|] eqn:L; try discriminate.
    inversion Hs; subst; apply set_ctes_inv; auto.
    apply filter_ok; auto.
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
    eapply retype_loop_spec in Hs; simpl; eauto; tauto.
  - (* Grant *)
    destruct (owned st actor ep && owned st actor src && (dom_of st dst =? dom_of st rep)
              && is_empty (ctes st) dst) eqn:E; try discriminate; bool_hyps.
    destruct (lookup (ctes st) ep) as [xe|]; try discriminate.
    destruct (lookup (ctes st) rep) as [xr|]; try discriminate.
    destruct (lookup (ctes st) src) as [z|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hz _].
    match type of Hs with context [if ?b then _ else _] =>
      destruct b; try discriminate end.
    inversion Hs; subst; apply insert_derived_inv; auto using rsub_refl.
    apply (ci_capobj _ _ _ Hc); auto.
  - (* Push *)
    destruct (owned st actor cn && owned st actor src && is_empty (ctes st) dst) eqn:E;
      try discriminate; bool_hyps.
    destruct (lookup (ctes st) cn) as [xc|]; try discriminate.
    destruct (lookup (ctes st) src) as [z|] eqn:L; try discriminate.
    destruct (lookup_some _ _ _ L) as [Hz _].
    match type of Hs with context [if ?b then _ else _] =>
      destruct b; try discriminate end.
    inversion Hs; subst; apply insert_derived_inv; auto using rsub_refl.
    apply (ci_capobj _ _ _ Hc); auto.
Qed.

Theorem step_or_stay_inv : forall st o, Inv st -> Inv (step_or_stay st o).
Proof.
  unfold step_or_stay; intros st o Hi.
  destruct (step st o) eqn:E; auto; eapply step_inv; eauto.
Qed.

Theorem run_inv : forall ops st, Inv st -> Inv (run st ops).
Proof.
  induction ops; simpl; intros; auto.
  apply IHops, step_or_stay_inv; auto.
Qed.

Lemma in_boot_cnodes : forall mem n o,
  In o (map (boot_cnode mem) (seq 1 n)) -> exists j, o = boot_cnode mem j /\ 1 <= j <= n.
Proof.
  intros mem n o H; apply in_map_iff in H; destruct H as [j [<- Hj]].
  apply in_seq in Hj; exists j; split; auto; lia.
Qed.

Lemma in_boot_caps : forall n e,
  In e (map boot_cnode_cap (seq 1 n)) -> exists j, e = boot_cnode_cap j /\ 1 <= j <= n.
Proof.
  intros n e H; apply in_map_iff in H; destruct H as [j [<- Hj]].
  apply in_seq in Hj; exists j; split; auto; lia.
Qed.

Lemma NoDup_map_injective : forall {A B} (f : A -> B) l,
  (forall x y, f x = f y -> x = y) -> NoDup l -> NoDup (map f l).
Proof.
  intros A B f l Hf; induction l as [|a l IH]; simpl; intros Hnd; constructor.
  - inversion Hnd; subst; intros Hm; apply in_map_iff in Hm.
    destruct Hm as [y [Hy Hin]]; apply Hf in Hy; subst; contradiction.
  - inversion Hnd; auto.
Qed.

Lemma init_ctes_spec : forall own mem n e,
  In e (ctes (init own mem n)) ->
  e_anc e = [] /\ e_node e < S n /\ c_obj (e_cap e) < S n.
Proof.
  simpl; intros own mem n e [<-|He]; simpl; [repeat split; lia|].
  destruct (in_boot_caps _ _ He) as [j [-> Hj]]; simpl; repeat split; lia.
Qed.

Lemma init_objs_spec : forall own mem n o,
  In o (objs (init own mem n)) ->
  o_parent o = None /\ o_id o < S n /\
  (o = mkObj 0 Untyped 0 mem None \/ (o = boot_cnode mem (o_id o) /\ 1 <= o_id o)).
Proof.
  simpl; intros own mem n o [<-|Ho]; simpl.
  - split; [auto|split; [lia|left; auto]].
  - destruct (in_boot_cnodes _ _ _ Ho) as [j [-> Hj]]; simpl.
    split; [auto|split; [lia|right; split; [auto|lia]]].
Qed.

Theorem init_inv : forall own mem n, Inv (init own mem n).
Proof.
  intros own mem n; split.
  - constructor.
    + simpl; constructor.
      * intros Hm; apply in_map_iff in Hm; destruct Hm as [e [He1 He2]].
        destruct (in_boot_caps _ _ He2) as [j [-> Hj]]; simpl in He1.
        inversion He1; lia.
      * rewrite map_map; apply NoDup_map_injective; [|apply seq_NoDup].
        intros a b H; inversion H; auto.
    + simpl; constructor.
      * intros Hm; apply in_map_iff in Hm; destruct Hm as [e [He1 He2]].
        destruct (in_boot_caps _ _ He2) as [j [-> Hj]]; simpl in He1; lia.
      * rewrite map_map; apply NoDup_map_injective; [|apply seq_NoDup].
        intros a b H; simpl in H; auto.
    + intros x Hx; destruct (init_ctes_spec _ _ _ _ Hx) as [-> [H1 _]].
      split; [auto|intros a []].
    + intros x y Hx _; destruct (init_ctes_spec _ _ _ _ Hx) as [-> _]; intros [].
    + intros x y Hx _; destruct (init_ctes_spec _ _ _ _ Hx) as [-> _]; intros [].
    + intros x Hx; apply (init_ctes_spec _ _ _ _ Hx).
  - constructor.
    + simpl; constructor.
      * intros Hm; apply in_map_iff in Hm; destruct Hm as [o [Ho1 Ho2]].
        destruct (in_boot_cnodes _ _ _ Ho2) as [j [-> Hj]]; simpl in Ho1; lia.
      * rewrite map_map; apply NoDup_map_injective; [|apply seq_NoDup].
        intros a b H; simpl in H; auto.
    + intros o Ho; destruct (init_objs_spec _ _ _ _ Ho) as [Hp [Hid _]].
      split; auto; intros p Hp'; congruence.
    + intros a c _ Hc; destruct (init_objs_spec _ _ _ _ Hc) as [Hp _]; congruence.
    + intros a c _ Hc; destruct (init_objs_spec _ _ _ _ Hc) as [Hp _]; congruence.
    + intros a b Ha Hb Hne; left.
      destruct (init_objs_spec _ _ _ _ Ha) as [_ [_ [Ea|[Ea Ha1]]]];
      destruct (init_objs_spec _ _ _ _ Hb) as [_ [_ [Eb|[Eb Hb1]]]].
      * subst a b; contradiction.
      * subst a; rewrite Eb; unfold disjoint, boot_cnode; simpl; lia.
      * subst b; rewrite Ea; unfold disjoint, boot_cnode; simpl in *; lia.
      * rewrite Ea, Eb; unfold disjoint, boot_cnode; simpl; lia.
Qed.

Theorem reachable_inv : forall own mem n ops, Inv (run (init own mem n) ops).
Proof. intros; apply run_inv, init_inv. Qed.
