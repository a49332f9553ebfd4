(** * Theorem 3 on the kernel model: retyped objects never overlap

    [kinit] gives the root server's CNode (object 0) and TCB (object 1)
    the physical base 0: the model records no memory for them, so they
    overlap each other and any untyped at 0. The theorem is therefore
    about every other object (ids from 2: the boot untypeds and everything
    retyped), under the hypothesis that the untyped regions given to
    [kinit] are pairwise disjoint ([boot_disjoint]). The invariant is
    [Invariants.obj_ok] of [Model.v] over those objects ([KObj]); its
    preservation reuses [create_obj_ok], [reset_wm_ok] and the ancestry
    lemmas of [Invariants.v]. *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model Invariants Kernel Authority KernelInvariants.

(** The objects other than the root server's boot CNode and TCB. *)
Definition ksub (os : list obj) : list obj := filter (fun o => 2 <=? o_id o) os.

(** The object invariant of a kernel-model state. *)
Definition KObj (st : kstate) : Prop :=
  obj_ok (ksub (kobjs st)) (kwm st) (knext_obj st) /\
  (forall o, In o (kobjs st) -> o_id o < 2 -> o_type o <> Untyped) /\
  2 <= knext_obj st.

Lemma ksub_in : forall os o, In o (ksub os) <-> In o os /\ 2 <= o_id o.
Proof.
  intros os o; unfold ksub; rewrite filter_In, Nat.leb_le; tauto.
Qed.

Lemma ksub_cons : forall o os, 2 <= o_id o -> ksub (o :: os) = o :: ksub os.
Proof.
  intros o os H; unfold ksub; cbn [filter].
  replace (2 <=? o_id o) with true by (symmetry; apply Nat.leb_le; auto); auto.
Qed.

Lemma ksub_filter : forall p os, ksub (filter p os) = filter p (ksub os).
Proof.
  intros p os; unfold ksub; induction os as [|o os IH]; cbn [filter]; auto.
  destruct (p o) eqn:P; destruct (2 <=? o_id o) eqn:L; cbn [filter]; rewrite ?P, ?L;
    cbn [filter]; rewrite ?P, ?IH; auto.
Qed.

(** Keeping every object with a live child keeps the invariant. *)
Lemma obj_ok_filter : forall os w no p,
  obj_ok os w no -> (forall c, In c os -> has_child os (o_id c) = true -> p c = true) ->
  obj_ok (filter p os) w no.
Proof.
  intros os w no p H Hk; destruct H as [H1 H2 H3 H4 H5].
  assert (Hsub : forall o, In o (filter p os) -> In o os).
  { intros o Ho; apply filter_In in Ho; tauto. }
  constructor.
  - apply NoDup_map_filter; auto.
  - intros o Ho; apply H2; auto.
  - intros a c Ha Hc Hp; apply H3; auto.
  - intros a c Ha Hc Hp; apply H4; auto.
  - intros a b Ha Hb Hne.
    destruct (H5 a b (Hsub _ Ha) (Hsub _ Hb) Hne) as [Hd|[Hab|Hba]]; [left; auto| |];
      right; [left|right]; apply (obj_anc_shrink os); auto;
      intros c Hc Hch; apply filter_In; split; auto.
Qed.

Lemma obj_ok_ext : forall os w w' no,
  (forall i, w i = w' i) -> obj_ok os w no -> obj_ok os w' no.
Proof.
  intros os w w' no E H; destruct H as [H1 H2 H3 H4 H5]; constructor; auto.
  intros a c Ha Hc Hp; rewrite <- E; auto.
Qed.

(** Raising a watermark keeps the invariant. *)
Lemma obj_ok_raise : forall os w no u v,
  obj_ok os w no -> w u <= v -> obj_ok os (upd w u v) no.
Proof.
  intros os w no u v H Hle; destruct H as [H1 H2 H3 H4 H5]; constructor; auto.
  intros a c Ha Hc Hp; unfold upd; specialize (H4 a c Ha Hc Hp).
  destruct (o_id a =? u) eqn:E; [apply Nat.eqb_eq in E; subst|]; lia.
Qed.

Lemma roundup_ge : forall w a, w <= roundup w a.
Proof.
  intros w a; unfold roundup; destruct (a =? 0) eqn:A; auto.
  apply Nat.eqb_neq in A.
  pose proof (Nat.div_mod_eq (w + a - 1) a) as D.
  pose proof (Nat.mod_upper_bound (w + a - 1) a A) as M.
  rewrite (Nat.mul_comm ((w + a - 1) / a) a); lia.
Qed.

(** ** Preservation *)

Lemma collect_kobj : forall st, KObj st -> KObj (collect st).
Proof.
  intros st; unfold collect; generalize (2 * S (length (kobjs st))).
  intros n; revert st; induction n as [|n IH]; simpl; auto.
  intros st [H [Hb Hn]]; apply IH; unfold KObj, collect_pass; simpl.
  split; [|split; auto].
  - rewrite ksub_filter; apply obj_ok_filter; auto.
    intros c Hc Hch; apply orb_true_iff; left; apply orb_true_iff; right.
    unfold has_child in *; apply existsb_exists in Hch; destruct Hch as [b [Hb' E]].
    apply existsb_exists; exists b; split; auto; apply ksub_in in Hb'; tauto.
  - intros o Ho; apply filter_In in Ho; apply Hb; tauto.
Qed.

Lemma kcreate_kobj : forall st t x u ty size d st',
  KObj st -> In u (kobjs st) -> o_type u = Untyped ->
  kcreate st t x u ty size d = Some st' -> KObj st' /\ In u (kobjs st').
Proof.
  unfold kcreate; intros st t x u ty size d st' [H [Hb Hn]] Hu Ht E.
  set (off := roundup (kwm st (o_id u)) size) in *.
  destruct (usable st t d && kempty st d && (off + size <=? o_size u)
            && unused st (knext_obj st)) eqn:C; try discriminate.
  inversion E; subst st'; clear E.
  repeat rewrite andb_true_iff in C; destruct C as [[[_ _] Fit] _].
  apply Nat.leb_le in Fit.
  assert (Hu2 : 2 <= o_id u).
  { destruct (le_lt_dec 2 (o_id u)) as [L|L]; auto; exfalso; apply (Hb u Hu L Ht). }
  assert (Hus : In u (ksub (kobjs st))) by (apply ksub_in; auto).
  set (w1 := upd (kwm st) (o_id u) off).
  assert (H1 : obj_ok (ksub (kobjs st)) w1 (knext_obj st))
    by (apply obj_ok_raise; auto; apply roundup_ge).
  assert (W1 : w1 (o_id u) = off) by (unfold w1, upd; rewrite Nat.eqb_refl; auto).
  pose proof (create_obj_ok _ _ _ u ty size H1 Hus Ht) as C.
  rewrite W1 in C; specialize (C Fit).
  split; [|simpl; auto].
  unfold KObj; cbn [kobjs kwm knext_obj]; split; [|split; [|lia]].
  - rewrite ksub_cons by (simpl; auto).
    apply (obj_ok_ext _ (upd w1 (o_id u) (off + size))); [|exact C].
    intros i; unfold w1, upd; destruct (i =? o_id u); auto.
  - intros o [<-|Ho] Lt; simpl in *; [lia|apply Hb; auto].
Qed.

Lemma kretype_kobj : forall ds st t x u ty size st',
  KObj st -> In u (kobjs st) -> o_type u = Untyped ->
  kretype_loop st t x u ty size ds = Some st' -> KObj st'.
Proof.
  induction ds as [|d ds IH]; simpl; intros st t x u ty size st' H Hu Ht E.
  - inversion E; subst; auto.
  - destruct (kcreate st t x u ty size d) as [s1|] eqn:C; try discriminate.
    destruct (kcreate_kobj _ _ _ _ _ _ _ _ H Hu Ht C) as [H1 Hu1].
    apply (IH s1 t x u ty size st'); auto.
Qed.

(** A deletion count set on an object with no child object keeps the
    invariant ([kwm] is read for a parent's children only). *)
Lemma set_left_kobj : forall st o n,
  KObj st -> has_child (kobjs st) o = false -> KObj (set_left st o n).
Proof.
  intros st o n [H [Hb Hn]] Hc; unfold KObj; simpl; split; auto.
  destruct H as [Hids Hfr Hpar Hwm Hov]; constructor; auto.
  intros a c Ha Hc' P; unfold upd.
  destruct (o_id a =? o) eqn:E; [|apply Hwm; auto].
  exfalso; apply Nat.eqb_eq in E; subst o.
  assert (has_child (kobjs st) (o_id a) = true); [|congruence].
  apply existsb_exists; exists c; split; [apply ksub_in in Hc'; tauto|].
  unfold is_child_of; rewrite P; apply Nat.eqb_refl.
Qed.

Lemma kdel_kobj : forall st s, KObj st -> KObj (kdel st s).
Proof. intros st s H; unfold kdel; apply collect_kobj; exact H. Qed.

Lemma kbind_root_kobj : forall st tid cn, KObj st -> KObj (kbind_root st tid cn).
Proof.
  intros st tid cn H; unfold kbind_root.
  assert (H0 := collect_kobj (set_kctes st (remove_slot (tcb_root_slot tid) (kctes st))) H).
  destruct (lookup _ cn) as [y|]; [destruct (otype_eqb _ _)|]; exact H0.
Qed.

Lemma zombify_kobj : forall st s x inner n,
  KObj st -> has_child (kobjs st) (c_obj (e_cap x)) = false -> KObj (zombify st s x inner n).
Proof. intros st s x inner n H C; unfold zombify; apply set_left_kobj; auto. Qed.

Lemma kunit_in_kobj : forall fuel st s x st',
  KObj st -> kunit_in fuel st s x = Some st' -> KObj st'.
Proof.
  intros fuel; induction fuel as [|f IH]; intros st s x st' Hi H; simpl in H;
    (destruct (has_child (kobjs st) (c_obj (e_cap x))) eqn:Ch; [discriminate|]);
    (destruct (kwm st (c_obj (e_cap x))) as [|r]; [inversion H; subst; apply kdel_kobj; auto|]);
    (assert (H1 : KObj (set_left st (c_obj (e_cap x)) r)) by (apply set_left_kobj; auto));
    (destruct (slot_eqb (c_obj (e_cap x), r) s); [inversion H; subst; exact H1|]);
    (destruct (lookup (kctes st) (c_obj (e_cap x), r)) as [y|] eqn:Ly; [|inversion H; subst; exact H1]);
    (destruct (is_zombie (e_cap y));
      [destruct (is_top (e_cap y));
        [inversion H; subst; exact Hi|try discriminate; exact (IH _ _ _ _ Hi H)]|]);
    (destruct (can_zombify st (c_obj (e_cap x), r) y) as [n|] eqn:C; inversion H; subst;
      [apply zombify_kobj; auto; apply (can_zombify_some _ _ _ _ C)|apply kdel_kobj; exact H1]).
Qed.

(** One unit of deletion work ([Kernel.kunit]) keeps the object invariant. *)
Lemma kunit_kobj : forall st s st', KObj st -> kunit st s = Some st' -> KObj st'.
Proof.
  intros st s st' H E; unfold kunit in E.
  destruct (lookup (kctes st) s) as [x|] eqn:L; [|inversion E; subst; auto].
  destruct (is_zombie (e_cap x)); [eapply kunit_in_kobj; eauto|].
  destruct (can_zombify st s x) as [n|] eqn:C; inversion E; subst;
    [apply zombify_kobj; auto; apply (can_zombify_some _ _ _ _ C)|apply kdel_kobj; auto].
Qed.

Theorem kstep_kobj : forall st o st', KObj st -> kstep st o = Some st' -> KObj st'.
Proof.
  intros st o st' H E; destruct o; simpl in E.
  - unfold derive_into in E.
    destruct (usable st t src && usable st t dst && kempty st dst); try discriminate.
    destruct (lookup (kctes st) src); try discriminate.
    destruct (derive _ _ _); inversion E; subst; auto.
  - unfold derive_into in E.
    destruct (usable st t src && usable st t dst && kempty st dst); try discriminate.
    destruct (lookup (kctes st) src); try discriminate.
    destruct (derive _ _ _); inversion E; subst; auto.
  - unfold relocate in E.
    destruct (usable st t src && usable st t dst && kempty st dst); try discriminate.
    destruct (lookup (kctes st) src) as [x|]; try discriminate.
    destruct (is_zombie (e_cap x)); inversion E; subst; auto.
  - unfold relocate in E.
    destruct (usable st t src && usable st t dst && kempty st dst); try discriminate.
    destruct (lookup (kctes st) src); try discriminate.
    destruct (kmutate _ _); inversion E; subst; auto.
  - destruct (usable st t src && usable st t pivot && usable st t dst && negb (slot_eqb src pivot)
              && (slot_eqb dst src || kempty st dst)); try discriminate.
    destruct (lookup (kctes st) src) as [xs|], (lookup (kctes st) pivot) as [xp|]; try discriminate.
    destruct (is_zombie (e_cap xs) || is_zombie (e_cap xp)); inversion E; subst; auto.
  - destruct (usable st t s); try discriminate.
    destruct (lookup (kctes st) s); inversion E; subst; auto.
    apply collect_kobj; auto.
  - destruct (usable st t s); try discriminate.
    destruct (lookup (kctes st) s) as [x|]; [|inversion E; subst; auto].
    destruct (is_zombie (e_cap x)); inversion E; subst; auto.
    apply collect_kobj; auto.
  - destruct (usable st t ut); try discriminate.
    destruct (is_type st ut Untyped) as [x|]; try discriminate.
    destruct (find_obj (kobjs st) (c_obj (e_cap x))) as [u|] eqn:F; try discriminate.
    destruct (otype_eqb (o_type u) Untyped) eqn:T; try discriminate.
    destruct (retype_ok ty size (length dsts)); try discriminate.
    apply otype_eqb_true in T; destruct (find_obj_some _ _ _ F) as [Hu _].
    eapply kretype_kobj; [| | |exact E]; simpl; auto.
    destruct H as [H [Hb Hn]]; unfold KObj; simpl; split; auto.
    destruct (has_child (kobjs st) (o_id u)) eqn:Hc; auto.
    apply reset_wm_ok; auto.
    intros c Hc'; apply ksub_in in Hc'; apply (has_child_false _ _ Hc); tauto.
  - destruct (transfer_shape _ _ _ _ _ _ _ _ _ _ _ E) as [->|[z [c [_ [_ ->]]]]]; auto.
  - destruct (transfer_shape _ _ _ _ _ _ _ _ _ _ _ E) as [->|[z [c [_ [_ ->]]]]]; auto.
  - destruct (usable st t tcb && usable st t cn); try discriminate.
    destruct (is_type st tcb TCBObj), (is_type st cn CNodeObj); inversion E; subst; auto.
    apply kbind_root_kobj; auto.
  - destruct (usable st t vs && usable st t fr); try discriminate.
    destruct (is_type st vs PageTableObj), (is_type st fr FrameObj); try discriminate.
    match type of E with (if ?b then _ else _) = _ => destruct b end; inversion E; subst; auto.
  - destruct (usable st t vs); try discriminate.
    destruct (is_type st vs PageTableObj); inversion E; subst; auto.
  - destruct (usable st t s); try discriminate.
    apply (kunit_kobj st s); auto.
  - destruct (usable st t s); try discriminate.
    destruct (lookup (kctes st) s) as [x|]; [|inversion E; subst; auto].
    destruct (is_zombie (e_cap x)); try discriminate.
    destruct (first_desc st (e_node x)) as [d|]; [apply (kunit_kobj st (e_slot d)); auto|].
    inversion E; subst; auto.
Qed.

Lemma krun_kobj : forall ops st, KObj st -> KObj (krun st ops).
Proof. apply krun_pres, kstep_kobj. Qed.

(** ** Boot *)

(** The untyped regions given to [kinit] are pairwise disjoint. *)
Definition boot_disjoint (us : list (nat * nat * nat)) : Prop :=
  forall a b, In a (fst (boot_uts 2 us)) -> In b (fst (boot_uts 2 us)) ->
              o_id a <> o_id b -> disjoint a b.

Lemma boot_uts_objs : forall us i,
  NoDup (map o_id (fst (boot_uts i us))) /\
  forall o, In o (fst (boot_uts i us)) ->
    i <= o_id o < i + length us /\ o_parent o = None /\ o_type o = Untyped.
Proof.
  induction us as [|[[b sz] l] us IH]; simpl; intros i.
  - split; [constructor|intros o []].
  - destruct (IH (S i)) as [N F].
    destruct (boot_uts (S i) us) as [os es]; simpl in *; split.
    + constructor; auto; intros Hm; apply in_map_iff in Hm.
      destruct Hm as [o [E Ho]]; specialize (F o Ho); lia.
    + intros o [<-|Ho]; simpl; [repeat split; lia|].
      destruct (F o Ho) as [A B]; repeat split; try lia; tauto.
Qed.

Theorem kinit_kobj : forall root_lbl slots us, boot_disjoint us -> KObj (kinit root_lbl slots us).
Proof.
  intros root_lbl slots us Hd; unfold boot_disjoint in Hd; unfold kinit.
  destruct (boot_uts_objs us 2) as [N F].
  destruct (boot_uts 2 us) as [os es] eqn:B; simpl in *.
  assert (Hs : ksub (mkObj 0 CNodeObj 0 (slots * slot_bytes) None :: mkObj 1 TCBObj 0 1 None :: os)
               = os).
  { change (ksub os = os).
    assert (All : forall o, In o os -> 2 <= o_id o) by (intros o Ho; destruct (F o Ho); lia).
    clear -All; induction os as [|o os IH]; auto.
    rewrite ksub_cons by (apply All; simpl; auto); f_equal; apply IH.
    intros x Hx; apply All; simpl; auto. }
  unfold KObj; cbn [kobjs kwm knext_obj]; rewrite Hs; split; [|split; [|lia]].
  - constructor; [exact N| | | |].
    + intros o Ho; destruct (F o Ho) as [A [P _]]; split; [lia|]; intros p Hp; congruence.
    + intros a c _ Hc Hp; destruct (F c Hc) as [_ [P _]]; congruence.
    + intros a c _ Hc Hp; destruct (F c Hc) as [_ [P _]]; congruence.
    + intros a b Ha Hb Hne; left; apply Hd; auto.
  - intros o [<-|[<-|Ho]] Lt; simpl; try discriminate.
    destruct (F o Ho); lia.
Qed.

(** ** Theorem 3 *)

(** After any sequence of operations from a boot state whose untyped
    regions are disjoint, two distinct live objects other than the root
    server's boot CNode and TCB have disjoint physical ranges, or one is
    an untyped ancestor (along the retype parent chain) of the other and
    contains its range. *)
Theorem kno_overlap : forall root_lbl slots us ops a b,
  boot_disjoint us ->
  let st := krun (kinit root_lbl slots us) ops in
  In a (kobjs st) -> In b (kobjs st) -> 2 <= o_id a -> 2 <= o_id b -> o_id a <> o_id b ->
  disjoint a b \/
  (o_type a = Untyped /\ obj_anc (kobjs st) a b /\ inside b a) \/
  (o_type b = Untyped /\ obj_anc (kobjs st) b a /\ inside a b).
Proof.
  intros root_lbl slots us ops a b Hd st Ha Hb Ha2 Hb2 Hne.
  destruct (krun_kobj ops _ (kinit_kobj root_lbl slots us Hd)) as [Ho _].
  fold st in Ho.
  assert (Hinc : incl (ksub (kobjs st)) (kobjs st)) by (intros o Hx; apply ksub_in in Hx; tauto).
  assert (Has : In a (ksub (kobjs st))) by (apply ksub_in; auto).
  assert (Hbs : In b (ksub (kobjs st))) by (apply ksub_in; auto).
  destruct (oi_overlap _ _ _ Ho a b Has Hbs Hne) as [D|[Hab|Hba]]; auto.
  - destruct (obj_anc_inside _ _ _ (oi_parent _ _ _ Ho) Hab).
    right; left; split; [auto|split; [apply (obj_anc_mono _ _ _ _ Hinc Hab)|auto]].
  - destruct (obj_anc_inside _ _ _ (oi_parent _ _ _ Ho) Hba).
    right; right; split; [auto|split; [apply (obj_anc_mono _ _ _ _ Hinc Hba)|auto]].
Qed.

(** The hypothesis is met by boot states with several untyped regions,
    e.g. two adjacent 4 KiB regions. *)
Example boot_disjoint_two : boot_disjoint [(0, 4096, 1); (4096, 4096, 2)].
Proof.
  unfold boot_disjoint; simpl.
  intros a b [<-|[<-|[]]] [<-|[<-|[]]]; simpl; intros Hne; unfold disjoint; simpl;
    try lia; contradiction.
Qed.
